"""Trains a world-model agent: python train.py --configs dmc vsg --task dmc_walker_walk --logdir DIR

Configs compose left to right (defaults < domain < method < debug < flags); see configs.yaml. The loop
is DreamerV2's: prefill with random actions, pretrain, then one update every `train_every` agent
steps, evaluation every `eval_every` env steps, checkpoints every `checkpoint_every` env steps and at
exit. Running the same command on an existing logdir resumes it. All step counts are env steps.
"""

import collections
import pathlib
import signal
import sys

import numpy as np

from common import config as configlib

CHECKPOINT = 'checkpoint.npz'


class Every:
  """True once each time `step` passes another multiple of `every` (and on the first call)."""

  def __init__(self, every):
    self._every, self._last = every, None

  def __call__(self, step):
    if not self._every:
      return False
    if self._last is None:
      self._last = step
      return True
    if step >= self._last + self._every:
      self._last += self._every * ((step - self._last) // self._every)
      return True
    return False


def main(argv=None):
  config = configlib.parse_or_exit(argv, prog='train.py')
  import envs
  try:
    envs.constructor(config.task, config)  # validates task and settings; starts nothing
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from None
  logdir = pathlib.Path(config.logdir).expanduser()
  logdir.mkdir(parents=True, exist_ok=True)
  config.save(logdir / 'config.yaml')
  # SIGTERM (a cluster's pre-emption) exits through the same path as the end of training.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

  import tensorflow as tf  # loaded only after the flags and the task are known to be good
  from common import checkpoint, tfutils
  from common.driver import Driver
  from common.logger import Logger
  from common.replay import Replay
  from dreamerv2_vsg.agent import Agent, random_actions

  tfutils.setup_gpus(config.gpu_memory_growth)
  tf.random.set_seed(config.seed)
  rng = np.random.default_rng(config.seed)
  repeat = config.action_repeat
  length = config.dataset.length
  train_replay = Replay(logdir / 'train_episodes', **config.replay, seed=config.seed)
  eval_replay = Replay(logdir / 'eval_episodes', capacity=config.replay.capacity // 10,
                       minlen=length, maxlen=length, seed=config.seed + 1)
  step = train_replay.stats['total_steps'] * repeat            # env steps, recovered from replay
  logger = Logger(logdir, step=step)
  print(f'logdir {logdir}; {config.method} on {config.task}; starting at env step {step}; '
        f'precision {tfutils.resolve_precision(config.precision)}, '
        f'jit {tfutils.resolve_jit(config.jit)}', flush=True)

  train_envs = envs.make_batch(config.task, config, config.envs, mode='train')
  eval_envs = envs.make_batch(config.task, config, config.envs, mode='eval')
  obs_space, act_space = train_envs[0].obs_space, train_envs[0].act_space
  discrete = envs.is_discrete(act_space['action'])
  action_dim = int(act_space['action'].shape[0])

  def count_step(transition, worker):
    nonlocal step
    if not transition['is_first']:
      step += repeat
      logger.step = step

  def log_episode(mode):
    def callback(episode, worker):
      logger.scalar(f'{mode}_return', float(episode['reward'].sum()))
      logger.scalar(f'{mode}_length', (len(episode['reward']) - 1) * repeat)
      if mode == 'train':
        write_with_stats('train', train_replay)
    return callback

  def write_with_stats(mode, replay, **kwargs):
    logger.add({f'{mode}_{k}': v for k, v in replay.stats.items()})
    logger.write(**kwargs)

  train_driver = Driver(train_envs, action_dim, on_episode=[log_episode('train')],
                        on_step=[train_replay.add_step, count_step])
  eval_driver = Driver(eval_envs, action_dim, on_episode=[log_episode('eval')],
                       on_step=[eval_replay.add_step])
  random_policy = lambda obs, state: (random_actions(len(obs['image']), action_dim, discrete, rng),
                                      None)

  prefill = max(0, config.prefill // repeat - train_replay.stats['total_steps'])
  if prefill or not train_replay.stats['total_episodes']:
    print(f'prefill: {prefill} agent steps of random actions', flush=True)
    train_driver(random_policy, steps=prefill)
    if not train_replay.stats['total_episodes']:  # the replay samples finished episodes only
      train_driver(random_policy, episodes=1)
    # The episode in progress goes on under the agent's policy: its random start is kept, not lost.
  if not eval_replay.stats['total_episodes']:  # seeds the eval replay for open-loop videos; not logged
    Driver(eval_envs, action_dim, on_step=[eval_replay.add_step])(random_policy, episodes=1)
    eval_replay.drop_ongoing()  # with several envs, the others' episodes stay unfinished

  agent = Agent(config, obs_space, act_space, discrete)
  dataset = iter(train_replay.dataset(config.dataset.batch, length))
  eval_dataset = iter(eval_replay.dataset(config.dataset.batch, length))
  path = logdir / CHECKPOINT
  agent.build()
  if path.exists():
    extra = checkpoint.load(path, agent.checkpoint_variables)
    print(f"resumed from {path} (written at env step {extra.get('step')})", flush=True)
  else:
    print(f'pretrain: {config.pretrain} updates', flush=True)
    for _ in range(config.pretrain):
      agent.train(next(dataset))

  should_train = Every(config.train_every * repeat)
  should_log = Every(config.log_every)
  should_eval = Every(config.eval_every)
  should_save = Every(config.checkpoint_every)
  should_train(step), should_log(step), should_save(step)
  metrics = collections.defaultdict(list)

  def train_step(transition, worker):
    if transition['is_first'] or not should_train(step):
      return
    for _ in range(config.train_steps):
      for key, value in agent.train(next(dataset)).items():
        metrics[key].append(value)
    if should_log(step):
      logger.add({key: np.mean(values) for key, values in metrics.items()})
      metrics.clear()
      logger.video('train_openl', agent.report(next(dataset)))
      logger.write(fps=True)

  train_driver.on_step(train_step)
  train_policy = lambda obs, state: agent.policy(obs, state, mode='train')
  eval_policy = lambda obs, state: agent.policy(obs, state, mode='eval')
  evaluated_at = None

  def evaluate():
    nonlocal evaluated_at
    evaluated_at = step
    eval_driver.reset()
    eval_replay.drop_ongoing()
    eval_driver(eval_policy, episodes=config.eval_eps)
    logger.video('eval_openl', agent.report(next(eval_dataset)))
    write_with_stats('eval', eval_replay)

  try:
    while step < config.steps:
      if should_eval(step):
        evaluate()
      train_driver(train_policy, steps=config.train_every)
      if should_save(step):
        checkpoint.save(path, agent.checkpoint_variables, step=step)
    if evaluated_at != step:  # the final policy too, so a run's curve ends at `steps`
      evaluate()
  finally:
    checkpoint.save(path, agent.checkpoint_variables, step=step)
    logger.write()
    train_envs.close()
    eval_envs.close()
  print(f'done at env step {step}', flush=True)


if __name__ == '__main__':
  main(sys.argv[1:])
