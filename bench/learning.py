"""Does the agent learn? Trains a short run and compares its evaluation return with a random policy.

  python -m bench.learning --configs dmc vsg debug --task dmc_cartpole_balance --steps 20000

Runs the training loop of train.py (dreamerv2_vsg/loop.py, in this process) with the given configs
and flags (a fresh logdir under bench/out/ unless --logdir is given), then plays `--random_eps`
episodes with uniform random actions on the same task and settings. Prints the last evaluation
returns of the run and the random returns; the last line is a JSON object with both.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

import numpy as np

import envs
from common import config as configlib


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
  parser.add_argument('--random_eps', type=int, default=10)
  parser.add_argument('--last_evals', type=int, default=3, help='eval rows averaged at the end')
  args, rest = parser.parse_known_args(argv)
  config = configlib.parse_or_exit(rest, prog='python -m bench.learning')
  if '--logdir' not in rest:
    stamp = time.strftime('%Y%m%dT%H%M%S')
    rest += ['--logdir', str(ROOT / 'bench' / 'out' / f'{config.task}-{config.method}-{stamp}')]
    config = configlib.parse_or_exit(rest, prog='python -m bench.learning')
  from dreamerv2_vsg.loop import Loop
  start = time.perf_counter()
  config.save(pathlib.Path(config.logdir) / 'config.yaml')
  with Loop(config) as loop:   # the loop of train.py, in this process
    loop.run()
  seconds = time.perf_counter() - start
  rows = [json.loads(line) for line in
          (pathlib.Path(config.logdir) / 'metrics.jsonl').read_text().splitlines()]
  evals = [(r['step'], r['eval_return']) for r in rows if r.get('eval_return') is not None]
  last = [y for _, y in evals[-args.last_evals:]]
  rand = envs.random_returns(config.task, config, args.random_eps, seed=config.seed)
  result = {
      'task': config.task, 'method': config.method, 'steps': config.steps, 'train_seconds':
      round(seconds), 'eval_curve': evals, 'final_eval_return': round(statistics.mean(last), 1),
      'random_return_mean': round(statistics.mean(rand), 1),
      'random_return_std': round(float(np.std(rand)), 1), 'random_episodes': len(rand),
  }
  print(f"{config.method} on {config.task} after {config.steps} env steps ({seconds:.0f} s): "
        f"eval return {result['final_eval_return']} (mean of the last {len(last)} evaluations); "
        f"random policy {result['random_return_mean']} ± {result['random_return_std']} over "
        f"{len(rand)} episodes")
  print(json.dumps(result))


if __name__ == '__main__':
  main(sys.argv[1:])
