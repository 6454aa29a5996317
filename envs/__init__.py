"""Environments for train.py: envs.make(task, config) and envs.make_batch(task, config, count).

Tasks, by prefix (SUITES):
  dmc_<domain>_<task>  any DeepMind Control Suite task from 64x64 pixels (dmc.py), e.g.
                       dmc_walker_walk
  shapeherd[_sparse][_distract<n>][_size<s>]...   the paper's ShapeHerd and its variants
                       (shapeherd_tasks.GRAMMAR), e.g. shapeherd, shapeherd_sparse_distract2_size1.4
  gym_<id>             any registered gymnasium env (gym_tasks.py), e.g. gym_ShapeHerd-v0,
                       gym_PointReach-v0 (point.py: image plus vector observations)

The rules an env module follows, to be one of SUITES:
  GRAMMAR                        how its task names are written (for error messages and --help)
  parse_task(task) -> spec       a picklable spec of the task; a bad name raises a one-line
                                 ValueError (it runs in the caller's process, so keep the module
                                 light to import)
  build(spec, settings, seed)    the fully wrapped env (runs in a worker process), where settings
                                 are the config values of SETTINGS, plain Python values
A new environment is such a module plus its entry in SUITES.

Every env has the numpy API of upstream DreamerV2 (see wrappers.py): obs_space, act_space,
reset() -> obs, step({'action': array}) -> obs, close(), and for videos render(size) -> a larger
picture of the scene and frame_rate() -> agent steps per simulated second (a Worker runs them with
invoke('render', size)). Actions are in [-1, 1] for continuous
spaces; a discrete env takes one-hot vectors, its space is a wrappers.OneHot and is_discrete(space)
is True. Obs keys named log_<name> are per-episode quantities that training logs (the last value of
an episode; FromGymnasium(env, log_keys=...) takes them from a gymnasium env's info).

make() runs each env in a worker process (parallel.Worker): MuJoCo rendering crashes in a process
that has imported TensorFlow, so this package never imports TF, and neither do its workers.
Your own gymnasium env: wrap(FromGymnasium(env), repeat, time_limit) gives the same stack.
"""

import functools
import importlib

import gymnasium

from envs.parallel import Batch, Worker, WorkerError
from envs.wrappers import FromGymnasium, OneHot, is_discrete, wrap

__all__ = ['make', 'make_batch', 'constructor', 'suite', 'is_discrete', 'OneHot', 'FromGymnasium',
           'wrap', 'Worker', 'Batch', 'WorkerError', 'SUITES']

SETTINGS = ('render_size', 'dmc_camera', 'action_repeat', 'time_limit', 'seed')
SEED_STRIDE, EVAL_OFFSET = 1000, 500  # seed = config.seed * 1000 + index (+ 500 in eval mode)
SUITES = {'dmc': 'envs.dmc', 'shapeherd': 'envs.shapeherd_tasks',   # task prefix -> env module
          'gym': 'envs.gym_tasks'}

# gymnasium.make('ShapeHerd-v0', **options) once envs is imported (entry points load lazily).
for _id, _entry in (('ShapeHerd-v0', 'envs.shapeherd:ShapeHerd'),
                    ('PointReach-v0', 'envs.point:PointReach')):
  if _id not in gymnasium.registry:
    gymnasium.register(id=_id, entry_point=_entry)


def suite(task):
  """The env module whose tasks start like `task`, or a one-line ValueError listing the grammars."""
  prefix = str(task).split('_', 1)[0]
  if prefix not in SUITES:
    grammars = ', '.join(importlib.import_module(name).GRAMMAR for name in SUITES.values())
    raise ValueError(f'unknown task {task!r}; valid tasks: {grammars}')
  return importlib.import_module(SUITES[prefix])


def constructor(task, config, mode='train', index=0):
  """A picklable function of no arguments that builds the fully wrapped env.

  It validates the task, mode and settings here, in the caller's process, so a bad name fails at
  once with a one-line ValueError instead of a traceback from a worker.
  """
  if mode not in ('train', 'eval'):
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
  module = suite(task)
  spec = module.parse_task(task)  # a bad name fails here, in the caller's process
  settings = {key: config[key] for key in SETTINGS}  # plain values: a Config need not be pickled
  settings['render_size'] = tuple(int(x) for x in settings['render_size'])
  if settings['action_repeat'] < 1:
    raise ValueError(f'action_repeat must be >= 1, got {settings["action_repeat"]}')
  seed = settings['seed'] * SEED_STRIDE + index + (EVAL_OFFSET if mode == 'eval' else 0)
  return functools.partial(module.build, spec, settings, seed)


def make(task, config, mode='train', index=0, parallel=True):
  """The env that train.py uses: in a worker process (a parallel.Worker) unless parallel=False.

  parallel=False builds the env in this process: fine for tests of TF-free code, but a DMC env
  then segfaults on its first render if TensorFlow has been imported.
  """
  ctor = constructor(task, config, mode, index)
  return Worker(ctor, f'{task}:{mode}:{index}', config.get('env_timeout')) if parallel else ctor()


def make_batch(task, config, count, mode='train'):
  """A parallel.Batch of `count` envs (index 0..count-1), each in its own worker, stepped
  concurrently by batch.step(actions); the workers start together, so startup overlaps too."""
  if int(count) < 1:
    raise ValueError(f'make_batch needs count >= 1, got {count}')
  ctors = [constructor(task, config, mode, index) for index in range(count)]
  return Batch([Worker(ctor, f'{task}:{mode}:{index}', config.get('env_timeout'))
                for index, ctor in enumerate(ctors)])


def random_returns(task, config, episodes, seed=0):
  """Returns of `episodes` episodes of uniform random actions in one eval env of `task` (the
  baseline a learning run is judged against)."""
  batch = make_batch(task, config, 1, mode='eval')
  try:
    space = batch.act_space['action']
    space.seed(seed)
    returns = []
    for _ in range(episodes):
      obs, total = batch.reset()[0], 0.0
      while not obs['is_last']:
        obs = batch.step([{'action': space.sample()}])[0]
        total += float(obs['reward'])
      returns.append(total)
    return returns
  finally:
    batch.close()
