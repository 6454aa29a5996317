"""How saturated a trained run's recurrent cell is on its own replayed sequences.

  python -m bench.cell_stats --logdir RUN [--episodes_from DIR] [--episodes 16] [--seed 0]

Loads RUN's final checkpoint (as bench/actor_grads.py does), computes the posterior states of one
seeded batch (`dataset.batch` x `dataset.length`) cut from DIR's newest training episodes, and feeds
each step's cell input x_t and previous state h_{t-1} through the cell again. The last line is JSON:
- `cand_saturated`: the fraction of candidate units h~ with |h~| > tanh(2), where tanh passes 7% of
  the gradient or less;
- `deter_saturated`: the fraction of state units with |h| > 0.95;
- `update_unit_std`: the std over units of the update gate's pre-activation (bias included), mean
  over steps. Near 0, every unit gets the same gate probability whatever its input;
- `update_prob_mean`: the mean update-gate probability (u~ for VSG);
- `layer_norm`: whether the cell has one.

Written for issue 10's question of why VSG's cell (no layer norm, as in the reference's `sgru`)
learns walker later than DreamerV2's LN-GRU at deter 200. RSSM runs only (not SVSG).
"""

import argparse
import json
import math
import pathlib
import sys

from bench import actor_grads  # checkpoint, config and batch loading with one-line errors
from common import rundir


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--logdir', required=True, type=pathlib.Path)
  parser.add_argument('--episodes_from', type=pathlib.Path, help='default: the run itself')
  parser.add_argument('--episodes', type=int, default=16, help='newest stored episodes to cut from')
  parser.add_argument('--seed', type=int, default=0, help='seed of the batch and the posterior')
  args = parser.parse_args(argv)
  config = rundir.load_config(args.logdir)
  if config.dynamics != 'rssm':
    rundir.fail(f'{args.logdir} uses dynamics {config.dynamics!r}; '
                'cell_stats reads RSSM runs only')
  source = args.episodes_from or args.logdir
  agent, data, step = actor_grads.load(args.logdir, config, source, args.episodes, args.seed)
  import tensorflow as tf

  wm = agent.wm
  post = wm.posterior(data)
  prev = {key: value[:, :-1] for key, value in post.items()}
  action = data['action'][:, 1:]      # a_{t-1} is stored with step t; cell_input casts it
  cell = wm.dynamics.cell
  cand, update = cell.candidate(wm.dynamics.cell_input(prev, action), prev['deter'])
  fraction = lambda mask: float(tf.reduce_mean(tf.cast(mask, tf.float32)))
  update = tf.cast(update, tf.float32)
  result = {'logdir': str(args.logdir), 'episodes_from': str(source), 'step': step,
            'layer_norm': bool(config.cell.layer_norm),
            'cand_saturated': fraction(tf.abs(cand) > math.tanh(2.0)),
            'deter_saturated': fraction(tf.abs(post['deter']) > 0.95),
            'update_unit_std': float(tf.reduce_mean(tf.math.reduce_std(update, -1))),
            'update_prob_mean': float(tf.reduce_mean(tf.sigmoid(update)))}
  print(json.dumps(result))


if __name__ == '__main__':
  rundir.main_or_exit(main, sys.argv[1:])
