"""DeepMind Control Suite tasks from pixels: dmc_<domain>_<task>, e.g. dmc_walker_walk.

Rendering crashes in a process that has imported TensorFlow (TF's LLVM clashes with Mesa's), so
envs.make() runs DMC in a worker process (envs/parallel.py). This module imports dm_control only
inside DMC(), and finds the task names by reading the suite's source, so the parent can validate
a task name without loading MuJoCo or a GL backend.
"""

import ast
import functools
import importlib.util
import os
import pathlib

import gymnasium
import numpy as np

from envs import wrappers

GRAMMAR = 'dmc_<domain>_<task>'


@functools.lru_cache(maxsize=None)
def suite_tasks():
  """{domain: (task, ...)} of dm_control.suite, from its source: a domain module defines
  `SUITE = containers.TaggedTasks()` and registers each task with an `@SUITE.add(...)` decorator."""
  spec = importlib.util.find_spec('dm_control')
  if spec is None or not spec.submodule_search_locations:
    raise ValueError('dm_control is not installed; pip install -r requirements.txt')
  tasks = {}
  for path in sorted(pathlib.Path(next(iter(spec.submodule_search_locations)),
                                  'suite').glob('*.py')):
    source = path.read_text()
    if 'SUITE' not in source or path.stem.endswith('_test'):
      continue
    names = tuple(
        node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == 'add'
            and isinstance(d.func.value, ast.Name) and d.func.value.id == 'SUITE'
            for d in node.decorator_list))
    if names:
      tasks[path.stem] = names
  if not tasks:  # the source layout changed: ask the suite itself (loads MuJoCo, but no GL context)
    from dm_control import suite
    for domain, task in suite.ALL_TASKS:
      tasks.setdefault(domain, ())
      tasks[domain] += (task,)
  return tasks


def parse_task(task):
  """'dmc_ball_in_cup_catch' -> ('ball_in_cup', 'catch'), or a one-line ValueError.

  Domains contain underscores, so the longest known domain that prefixes the name wins."""
  known = suite_tasks()
  rest = task[len('dmc_'):] if task.startswith('dmc_') else ''
  for domain in sorted(known, key=len, reverse=True):
    if rest.startswith(domain + '_'):
      name = rest[len(domain) + 1:]
      if name not in known[domain]:
        raise ValueError(f'unknown task {task!r}; dmc domain {domain} has tasks: '
                         f'{", ".join(known[domain])}; tasks are named dmc_<domain>_<task>')
      return domain, name
  raise ValueError(f'unknown task {task!r}; known dmc domains: {", ".join(sorted(known))}; '
                   f'tasks are named dmc_<domain>_<task>')


class DMC:
  """One dm_control task from pixels, with the action repeat inside step() so it renders once per
  agent step (a render costs ~100x a physics step on a CPU).

  dm_control's own end of episode (its time limit) is a truncation: is_last without is_terminal.
  is_terminal is set only when dm_control reports discount 0 at a last step.
  """

  def __init__(self, domain, task, repeat=1, size=(64, 64), camera=-1, seed=None, task_kwargs=None):
    os.environ.setdefault('MUJOCO_GL', 'egl')  # headless; must be set before dm_control loads
    from dm_control import suite
    # task_kwargs: extra arguments of the suite's task function, e.g. {'time_limit': seconds}
    self._env = suite.load(domain, task, task_kwargs={'random': seed, **(task_kwargs or {})})
    self._repeat = int(repeat)
    self._size = tuple(size)
    self._camera = (2 if domain == 'quadruped' else 0) if camera == -1 else camera
    spec = self._env.action_spec()
    self.obs_space = wrappers.obs_space(self._size + (3,))
    self.act_space = {'action': gymnasium.spaces.Box(
        spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), spec.shape, np.float32)}

  def reset(self):
    self._env.reset()
    return self._obs(0.0, True, False, False)

  def step(self, action):
    reward = 0.0
    for _ in range(self._repeat):
      time_step = self._env.step(action['action'])
      reward += time_step.reward or 0.0
      if time_step.last():
        break
    last = time_step.last()
    return self._obs(reward, False, last, last and time_step.discount == 0)

  def _obs(self, reward, is_first, is_last, is_terminal):
    image = self._env.physics.render(*self._size, camera_id=self._camera)
    return {'image': image, 'reward': np.float32(reward), 'is_first': bool(is_first),
            'is_last': bool(is_last), 'is_terminal': bool(is_terminal)}

  def render(self, size=(256, 256)):
    """A larger picture of the scene from the same camera, for videos."""
    return self._env.physics.render(*size, camera_id=self._camera)

  def frame_rate(self):
    """Agent steps per simulated second (the task's control timestep times the repeat)."""
    return 1.0 / (self._env.control_timestep() * self._repeat)

  def close(self):
    self._env.close()


def build(spec, settings, seed):
  """The fully wrapped env for a parse_task() spec (module level, so functools.partial of it
  pickles into a worker)."""
  domain, task = spec
  env = DMC(domain, task, settings['action_repeat'], settings['render_size'],
            settings['dmc_camera'], seed)
  return wrappers.wrap(env, repeat=1,
                       time_limit=settings['time_limit'] // settings['action_repeat'])
