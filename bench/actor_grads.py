"""How consistent a trained run's actor gradient is across the imagination's random draws.

  python -m bench.actor_grads --logdir RUN [--episodes_from DIR] [--samples 8] [--soft_gates]

Loads RUN's config and final checkpoint, cuts a batch (`dataset.batch` x `dataset.length`, seeded)
from the newest `--episodes` training episodes of DIR (default RUN), and computes the actor's loss
gradient (Eq. 5, dynamics backpropagation through the world model) `--samples` times on the same
posterior start states, with no update. Only the imagination's samples (latents, actions, VSG gates)
differ between the draws. The last line is JSON: `cos_mean` the mean cosine between two draws'
gradients, `snr` the squared norm of the mean gradient over the mean squared deviation from it,
`grad_norm` and `target_mean` (the mean lambda-return target).

`--soft_gates` sets every VSG/SVSG gate to its probability u~ instead of a Bernoulli sample: an
analysis of what the gate noise does to the gradient, not a model anyone trains.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from common import rundir  # config and episode loading with one-line errors
from common.replay import WINDOW_KEYS, stack_windows


def batch_from(episodes, batch, length, rng):
  """`batch` windows of `length` steps at random places in random episodes, replay-like."""
  long_enough = [e for e in episodes if len(e['reward']) >= length]
  if not long_enough:
    rundir.fail(f'no stored episode has {length} steps (dataset.length)')
  windows = []
  for _ in range(batch):
    episode = long_enough[rng.integers(len(long_enough))]
    start = rng.integers(len(episode['reward']) - length + 1)
    windows.append({k: episode[k][start:start + length] for k in WINDOW_KEYS})
  return stack_windows(windows)


def load(logdir, config, source, episodes, seed, soft_gates=False):
  """(agent restored from logdir's final checkpoint, a seeded batch cut from the newest `episodes`
  training episodes of `source`, the checkpoint's env step); `config` is logdir's
  (rundir.load_config), read once by the caller."""
  path = rundir.checkpoint_path(logdir)
  import envs
  batch = envs.make_batch(config.task, config, 1, mode='eval')   # for the spaces only
  obs_space, act_space = batch.obs_space, batch.act_space
  batch.close()
  stored = rundir.stored_episodes(source, episodes, obs_space['image'].shape,
                                  int(act_space['action'].shape[0]), '--episodes_from')
  from common import quiet
  quiet.import_tensorflow(False)
  import tensorflow as tf
  from dreamerv2_vsg.agent import Agent

  if soft_gates:
    config = config.update({'cell.gate': 'soft'})
  tf.random.set_seed(seed)
  agent = Agent(config, obs_space, act_space, envs.is_discrete(act_space['action']))
  agent.build()
  step = rundir.restore(agent.checkpoint_variables, path, config)
  data = batch_from(stored, config.dataset.batch, config.dataset.length,
                    np.random.default_rng(seed))
  return agent, data, step


def consistency(grads):
  """cos_mean, snr and grad_norm of a (samples, params) array of gradients."""
  grads = np.asarray(grads, np.float64)
  unit = grads / np.linalg.norm(grads, axis=1, keepdims=True)
  cos = unit @ unit.T
  pairs = np.triu_indices(len(grads), 1)
  mean = grads.mean(0)
  noise = np.mean(np.sum((grads - mean) ** 2, 1))
  return {'cos_mean': float(cos[pairs].mean()), 'snr': float(np.sum(mean ** 2) / noise),
          'grad_norm': float(np.linalg.norm(grads, axis=1).mean())}


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--logdir', required=True, type=pathlib.Path)
  parser.add_argument('--episodes_from', type=pathlib.Path, help='default: the run itself')
  parser.add_argument('--episodes', type=int, default=16, help='newest stored episodes to cut from')
  parser.add_argument('--samples', type=int, default=8)
  parser.add_argument('--soft_gates', action='store_true', help='gates = u~, no Bernoulli noise')
  parser.add_argument('--seed', type=int, default=0, help='seed of the batch and the draws')
  args = parser.parse_args(argv)
  if args.samples < 2:
    parser.error(f'--samples must be >= 2 to compare draws, got {args.samples}')
  source = args.episodes_from or args.logdir
  config = rundir.load_config(args.logdir)
  agent, data, step = load(args.logdir, config, source, args.episodes, args.seed, args.soft_gates)
  draws = [agent.actor_gradient(data) for _ in range(args.samples)]
  result = {'logdir': str(args.logdir), 'episodes_from': str(source), 'step': step,
            'soft_gates': args.soft_gates, 'samples': args.samples,
            **consistency([grad for grad, _ in draws]),
            'target_mean': float(np.mean([target for _, target in draws]))}
  print(json.dumps(result))


if __name__ == '__main__':
  rundir.main_or_exit(main, sys.argv[1:])
