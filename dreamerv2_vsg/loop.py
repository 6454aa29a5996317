"""The training loop of DreamerV2, shared by train.py, the tests and the benchmarks.

  loop = Loop(config)            # replays, logger, envs, agent (restored from a checkpoint if any)
  loop.run()                     # prefill, pretrain, train until config.steps, final evaluation
  loop.close()                   # saves a checkpoint, closes the envs; `with Loop(config) as loop:`

Prefill with random actions, pretrain, then one update every `train_every` agent steps, evaluation
with the policy's mode every `eval_every` env steps, checkpoints every `checkpoint_every` env steps.
Every step count is in env steps (agent steps x action_repeat). The logdir holds the run: rerunning
on it resumes (the step counter from the saved episodes, the networks from the checkpoint).

Envs report per-episode quantities through obs keys named `log_<name>` (a running value; the
episode's last one counts): they reach metrics.jsonl and TensorBoard as `train_<name>` and
`eval_<name>`, and the replay saves them without sampling them.
"""

import collections
import contextlib
import math
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

import envs as envslib
from common import checkpoint
from common import device
from common import files
from common import rundir
from common import tfutils
from common.driver import Driver
from common.logger import Logger
from common.progress import Progress, Timings, duration
from common.replay import Replay
from dreamerv2_vsg.agent import Agent, random_actions


class Diverged(RuntimeError):
  """A loss became NaN or infinite; the weights of that update are not saved."""


class Every:
  """True once each time `step` passes another multiple of `every` counted from `last`, the step it
  last fired at; with `last` None, on the first call too, which then anchors the schedule.
  aligned=True counts the multiples from step 0 instead (fires at every, 2 * every, ... after the
  first call), so an evaluation every 5K lands on 5K, 10K, ... whatever step prefill ended at."""

  def __init__(self, every, last=None, aligned=False):
    self._every, self._last, self._aligned = every, last, aligned

  def __call__(self, step):
    if not self._every:
      return False
    if self._last is None:
      self._last = step
      return True
    if self._aligned:
      if step // self._every > self._last // self._every:
        self._last = step
        return True
      return False
    if step >= self._last + self._every:
      self._last += self._every * ((step - self._last) // self._every)
      return True
    return False


class Loop:
  """One run of the agent on config.task in config.logdir.

  make_envs(mode) -> a list of envs (or an envs.Batch) replaces envs.make_batch, e.g. for an env
  built in this process. `timings` (progress.Timings; `seconds` and `counts` are its counters)
  holds what this process measured; from it come the progress lines, their ETA and done.json's
  timing.
  """

  def __init__(self, config, make_envs=None):
    self.config = config
    self.logdir = pathlib.Path(config.logdir).expanduser()
    self.repeat = config.action_repeat
    self.timings = Timings()
    self.seconds, self.counts = self.timings.seconds, self.timings.counts
    self.progress = Progress(config.steps, config.progress_every)
    make_envs = make_envs or (
        lambda mode: envslib.make_batch(config.task, config, config.envs, mode))
    self.diverged, self._mode = False, 'random'
    tfutils.setup_gpus(config.gpu_memory_growth)
    tf.random.set_seed(config.seed)
    # same seed and settings, same run (docs/running.md: what stays nondeterministic)
    if config.deterministic:
      keras.utils.set_random_seed(config.seed)
      tf.config.experimental.enable_op_determinism()
    # A full-size model on a CPU says once how long its ETA makes it.
    self._size_note = device.full_sized(config) and not tf.config.list_physical_devices('GPU')
    self._rng = np.random.default_rng(config.seed)
    length = config.dataset.length
    files.remove_stale_temporaries(self.logdir, self.logdir / rundir.TRAIN_EPISODES,
                                   self.logdir / rundir.EVAL_EPISODES)
    self.train_replay = Replay(self.logdir / rundir.TRAIN_EPISODES, **config.replay,
                               seed=config.seed)
    self.eval_replay = Replay(self.logdir / rundir.EVAL_EPISODES,
                              capacity=config.replay.capacity // 10,
                              minlen=length, seed=config.seed + 1)
    # lazy: samples on next()
    self._dataset = self.train_replay.dataset(config.dataset.batch, length)
    self._eval_dataset = self.eval_replay.dataset(config.dataset.batch, length)
    # Env steps so far: from the saved episodes, or the last metrics row if later (the steps of an
    # episode a kill cut short were taken, so metrics.jsonl never steps back on a resume).
    logged = rundir.logged(self.logdir)
    self._logged_eval_step = logged['eval_step']
    self.step = max(self.train_replay.stats['total_steps'] * self.repeat, logged['step'])
    self.logger = Logger(self.logdir, step=self.step, wall_offset=logged['wall_seconds'],
                         wandb_project=config.wandb_project, run_config=config.flat)
    self.train_envs = self.eval_envs = None
    try:
      self.train_envs, self.eval_envs = make_envs('train'), make_envs('eval')
      self._build()
    except BaseException:
      self._close_envs()
      raise

  def _build(self):
    config = self.config
    act_space = self.train_envs[0].act_space
    self.discrete = envslib.is_discrete(act_space['action'])
    self.action_dim = int(act_space['action'].shape[0])
    self.agent = Agent(config, self.train_envs[0].obs_space, act_space, self.discrete)
    self.agent.build()
    self.train_driver = Driver(self.train_envs, self.action_dim, on_step=[self._add_train_step],
                               on_episode=[self._log_episode('train')])
    self._eval_episodes = []
    self.eval_driver = Driver(self.eval_envs, self.action_dim,
                              on_step=[self.eval_replay.add_step, lambda *_: self._tick()],
                              on_episode=[
                                  self._log_episode('eval'),
                                  lambda episode, worker: self._eval_episodes.append(episode)])
    self._metrics = collections.defaultdict(list)
    self._should_train = Every(config.train_every * self.repeat)
    self._should_log = Every(config.log_every)
    # Evaluations at the multiples of eval_every (and at the end of prefill and at `steps`), so
    # every run has a return at 10K, 25K, 50K; a resumed run goes on from its last logged
    # evaluation.
    self._should_eval = Every(config.eval_every, last=self._logged_eval_step, aligned=True)
    self._should_save = Every(config.checkpoint_every)
    self.evaluated_at = None
    self._updating = False  # whether collected steps trigger updates (only in collect())
    self._phase = 'start'
    self.resumed = self.checkpoint_path.exists()
    if self.resumed:
      extra = checkpoint.load(self.checkpoint_path, self.agent.checkpoint_variables)
      self.resumed_from = extra.get('step')
    elif self.step:
      print(f'no checkpoint in {self.logdir}: the run stopped before its first one, so the '
            f'networks start anew at env step {self.step} (its saved episodes are kept)',
            flush=True)

  @property
  def checkpoint_path(self):
    return self.logdir / rundir.CHECKPOINT

  # --- Phases

  def prefill(self):
    """Random actions until the replay holds `prefill` env steps and a finished episode; seeds the
    eval replay with one random episode for the open-loop videos."""
    agent_steps = max(0, self.config.prefill // self.repeat
                      - self.train_replay.stats['total_steps'])
    if agent_steps or not self.train_replay.stats['total_episodes']:
      print(f'prefill: {agent_steps} agent steps of random actions', flush=True)
      self._phase = 'prefill'
      self.collect(agent_steps, mode='random', update=False)
      if not self.train_replay.stats['total_episodes']:  # the replay samples finished episodes only
        self.collect(0, mode='random', update=False, episodes=1)
      # The episode in progress goes on under the agent's policy: its random start is kept.
    if not self.eval_replay.stats['total_episodes']:  # not logged
      Driver(self.eval_envs, self.action_dim, on_step=[self.eval_replay.add_step])(
          self._random_policy, episodes=1)
      self.eval_replay.drop_ongoing()  # with several envs, the others' episodes stay unfinished

  def pretrain(self):
    """`pretrain` updates before the first collection of a new run (none when resuming)."""
    if self.resumed:
      return
    print(f'pretrain: {self.config.pretrain} updates', flush=True)
    self._phase = 'pretrain'
    for index in range(self.config.pretrain):
      self._tick(f'update {index}/{self.config.pretrain}')
      self.update()

  def update(self):
    """One training step of world model, actor and critic on a replay batch; returns metrics."""
    start = time.perf_counter()
    with self._divergence():
      metrics = self.agent.train(next(self._dataset))
    # Mixed precision's overflows are skipped gradients (inf norms), never non-finite losses.
    scaled = self.agent.precision.loss_scaling
    bad = [key for key, value in metrics.items() if not math.isfinite(value) and (
        key.endswith('_loss') or key.endswith('_grad_norm') and not scaled)]
    if bad:
      self._diverge(f'{bad[0]} is {metrics[bad[0]]}')
    self.seconds['update'] += time.perf_counter() - start
    if not self.counts['update']:
      self.seconds['first_update'] = self.seconds['update']
    self.counts['update'] += 1
    return metrics

  def collect(self, steps, mode='train', update=True, episodes=0):
    """`steps` agent steps (or `episodes` episodes) of the train envs with the policy in `mode`
    ('train' samples, 'eval' takes the mode, 'random'), with an update every `train_every` agent
    steps unless update=False."""
    policy = self._random_policy if mode == 'random' else self._timed_policy(mode)
    self._updating, self._mode = update, mode
    start, updating = time.perf_counter(), self.seconds['update']
    try:
      self.train_driver(policy, steps=steps, episodes=episodes)
    finally:
      self._updating = False
      # Collection time by mode, without the updates it ran (the ETA's s per env step).
      self.seconds['collect'] += time.perf_counter() - start
      self.seconds[f'collect/{mode}'] += time.perf_counter() - start - (
          self.seconds['update'] - updating)

  def evaluate(self):
    """`eval_eps` episodes with the policy's mode; returns them (dicts of stacked arrays)."""
    self.evaluated_at, phase, self._phase = self.step, self._phase, 'eval'
    start = time.perf_counter()
    self._eval_episodes.clear()
    self.eval_driver.reset()
    self.eval_replay.drop_ongoing()
    self.eval_driver(self._timed_policy('eval'), episodes=self.config.eval_eps)
    self.logger.video('eval_policy', self._eval_episodes[0]['image'])  # what the policy saw
    self.logger.video('eval_openl', self.agent.report(next(self._eval_dataset)))
    self._write_with_stats('eval', self.eval_replay)
    self.seconds['eval'] += time.perf_counter() - start
    self.counts['eval'] += 1
    self._phase = phase
    return list(self._eval_episodes)

  def run(self):
    """The whole run: prefill, pretrain, train and evaluate until config.steps, final evaluation."""
    config = self.config
    print(f'logdir {self.logdir}; {config.method} on {config.task}; starting at env step '
          f'{self.step}; precision {self.agent.precision}, '
          f'jit {tfutils.resolve_jit(config.jit)}', flush=True)
    if self.resumed:
      print(f'resumed from {self.checkpoint_path} (written at env step {self.resumed_from})',
            flush=True)
    self.prefill()
    self.pretrain()
    for every in (self._should_train, self._should_log, self._should_save):
      every(self.step)
    self._phase = 'train'
    while self.step < config.steps:
      if self._should_eval(self.step):
        self.evaluate()
      self.collect(config.train_every)
      if self._should_save(self.step):
        self.save()
    if self.evaluated_at != self.step:  # the final policy too, so a run's curve ends at `steps`
      self.evaluate()
    print(f'done at env step {self.step}', flush=True)

  def save(self):
    """checkpoint.npz at this step; with checkpoint_keep K > 1 the one before is kept as
    checkpoint-<its step>.npz, and only the newest K - 1 of those."""
    keep, previous = self.config.checkpoint_keep, getattr(self, '_saved_step', self.resumed_from
                                                          if self.resumed else None)
    if (keep > 1 and previous is not None and previous != self.step
        and self.checkpoint_path.exists()):
      os.replace(self.checkpoint_path, self.logdir / f'checkpoint-{int(previous)}.npz')
      older = sorted(self.logdir.glob('checkpoint-*.npz'), key=_checkpoint_step)
      for path in older[:max(0, len(older) - (keep - 1))]:
        path.unlink(missing_ok=True)
    checkpoint.save(self.checkpoint_path, self.agent.checkpoint_variables, step=self.step)
    self._saved_step = self.step

  def close(self):
    """Saves a checkpoint (unless training diverged) and the last metrics, and closes the envs."""
    try:
      if not self.diverged:
        self.save()
      self.logger.write()
    finally:
      self._close_envs()

  def _close_envs(self):
    for batch in (self.train_envs, self.eval_envs):
      _close(batch)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  # --- Internals

  def _random_policy(self, obs, state):
    return random_actions(len(obs['image']), self.action_dim, self.discrete, self._rng), None

  @contextlib.contextmanager
  def _divergence(self):
    """TensorFlow refusing a distribution's parameters (NaN or overflowing values from runaway
    weights) is divergence too."""
    try:
      yield
    except tf.errors.InvalidArgumentError as error:
      lines = [line.strip() for line in error.message.splitlines() if line.strip()
               and not line.startswith(('Graph execution error', 'Detected at node'))]
      what = next((line for line in lines if 'Invalid' in line), lines[0] if lines else 'an error')
      self._diverge(f'TensorFlow refused non-finite values ({what[:160]})')

  def _diverge(self, why):
    self.diverged = True
    kept = (f'the last checkpoint ({self.checkpoint_path}) is kept' if self.checkpoint_path.exists()
            else 'no checkpoint was written')
    raise Diverged(f'training diverged at env step {self.step}: {why}; {kept}, the diverged '
                   'weights are not saved; lower the learning rates (--model_opt.lr, ...) '
                   'and rerun')

  def _timed_policy(self, mode):
    def policy(obs, state):
      start = time.perf_counter()
      with self._divergence():
        out = self.agent.policy(obs, state, mode=mode)
      self.seconds['policy'] += time.perf_counter() - start
      return out
    return policy

  def _add_train_step(self, transition, worker):
    self.train_replay.add_step(transition, worker)
    if transition['is_first']:
      return
    self.step += self.repeat
    self.counts['collected'] += self.repeat
    self.counts[f'collected/{self._mode}'] += self.repeat
    self.logger.step = self.step
    if self._updating and self._should_train(self.step):
      self._train_and_log()
    self._tick()

  def eta(self):
    """(seconds to `steps`, whether it is a lower bound): the remaining env steps, their updates
    and their evaluations at the speeds measured so far (progress.Timings)."""
    config = self.config
    remaining = max(0, config.steps - self.step)
    updates = remaining / (config.train_every * self.repeat) * config.train_steps
    evals = remaining / config.eval_every if config.eval_every else 0
    return self.timings.eta(remaining, updates, evals)

  def timing(self):
    return self.timings.timing()

  def _tick(self, detail=''):
    eta, lower = self.eta()
    printed = self.progress(self._phase, self.step, self.counts['update'], eta, lower, detail)
    if printed and self._size_note and not lower and self.counts['update'] > 1:
      self._size_note = False
      print(f'note: at the speed measured so far this full-size run needs {duration(eta)} more '
            f'on this CPU; the `cpu` config (--configs ... cpu) is the model sized for a CPU',
            flush=True)

  def _train_and_log(self):
    for _ in range(self.config.train_steps):
      for key, value in self.update().items():
        self._metrics[key].append(value)
    if self._should_log(self.step):
      self.logger.add({key: np.mean(values) for key, values in self._metrics.items()})
      self._metrics.clear()
      self.logger.summaries(self.agent.summaries(next(self._dataset)))
      self.logger.write(fps=True)

  def _log_episode(self, mode):
    def callback(episode, worker):
      self.logger.scalar(f'{mode}_return', float(episode['reward'].sum()))
      self.logger.scalar(f'{mode}_length', (len(episode['reward']) - 1) * self.repeat)
      for key, values in episode.items():
        if key.startswith('log_'):
          self.logger.scalar(f'{mode}_{key[len("log_"):]}', float(np.asarray(values)[-1]))
      if mode == 'train':
        self._write_with_stats('train', self.train_replay)
    return callback

  def _write_with_stats(self, mode, replay):
    self.logger.add({f'{mode}_{k}': v for k, v in replay.stats.items()})
    self.logger.write()


def _close(batch):
  if batch is None:
    return
  if hasattr(batch, 'close'):
    batch.close()
  else:
    for env in batch:
      env.close()


def _checkpoint_step(path):
  try:
    return int(path.stem.split('-', 1)[1])
  except (IndexError, ValueError):
    return -1
