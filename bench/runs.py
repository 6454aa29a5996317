"""Summarizes finished runs: evaluation returns at given env steps, the final return, the gate and
the actor's entropy over training, and a random policy's return on each task.

  python -m bench.runs results/cpu [--at 10000 25000 50000] [--random_eps 10]

Reads ROOT/<task>/<method>/<seed>/metrics.jsonl (and config.yaml for the random policy's settings).
The return "at" a step is the evaluation logged at the greatest step not above it (none before the
run's last evaluation reaches that step); the final return
is the mean of the last `--last` evaluations. The random policy plays `--random_eps` episodes of
uniform random actions with the run's env settings (0 skips it). Prints a Markdown table per part;
the last line is a JSON object with every figure.
"""

import argparse
import json
import pathlib
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

import numpy as np

from common import config as configlib


def rows(path):
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def series(logged, key):
  return [(row['step'], row[key]) for row in logged if row.get(key) is not None]


def at_step(points, step):
  before = [value for x, value in points if x <= step]
  return before[-1] if before else None


def phases(points, threshold):
  """Env-step ranges where the values stay below `threshold` (e.g. a saturated actor)."""
  ranges, start = [], None
  for x, value in points:
    if value < threshold and start is None:
      start = x
    elif value >= threshold and start is not None:
      ranges.append((start, x))
      start = None
  if start is not None:
    ranges.append((start, points[-1][0]))
  return ranges


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('root', type=pathlib.Path)
  parser.add_argument('--at', type=int, nargs='+', default=[10000, 25000, 50000])
  parser.add_argument('--last', type=int, default=3)
  parser.add_argument('--random_eps', type=int, default=10)
  parser.add_argument('--entropy_floor', type=float, default=-1.0,
                      help='actor_ent below this counts as a saturated actor')
  args = parser.parse_args(argv)
  runs, tasks = [], {}
  for path in sorted(args.root.glob('*/*/*/metrics.jsonl')):
    task, method, seed = path.parts[-4:-1]
    logged = rows(path)
    evals = series(logged, 'eval_return')
    run = {'task': task, 'method': method, 'seed': seed, 'evals': evals,
           'at': {step: at_step(evals, step) if evals and evals[-1][0] >= step else None
                  for step in args.at},
           'final': statistics.mean(v for _, v in evals[-args.last:]) if evals else None,
           'gate_open_rate': series(logged, 'gate_open_rate'),
           'saturated': phases(series(logged, 'actor_ent'), args.entropy_floor)}
    runs.append(run)
    tasks.setdefault(task, path.parent / 'config.yaml')
  print('| task | method | seed | ' + ' | '.join(f'{s // 1000}K' for s in args.at)
        + f' | final (last {args.last}) |')
  print('|---|---|---|' + '---|' * (len(args.at) + 1))
  for run in runs:
    cells = [f"{run['at'][s]:.1f}" if run['at'][s] is not None else '—' for s in args.at]
    final = f"{run['final']:.1f}" if run['final'] is not None else '—'
    print(f"| {run['task']} | {run['method']} | {run['seed']} | " + ' | '.join(cells)
          + f' | {final} |')
  for run in runs:
    if run['gate_open_rate']:
      rates = run['gate_open_rate']
      print(f"{run['task']} {run['method']} {run['seed']}: gate_open_rate {rates[0][1]:.3f} "
            f"at {rates[0][0]}, "
            f"{at_step(rates, 10000):.3f} at 10K, {rates[-1][1]:.3f} at {rates[-1][0]} "
            f"(min {min(v for _, v in rates):.3f}, max {max(v for _, v in rates):.3f})")
  for run in runs:
    print(f"{run['task']} {run['method']} {run['seed']}: actor_ent below {args.entropy_floor} "
          f"over env steps {run['saturated'] or 'never'}")
  randoms = {}
  if args.random_eps:
    for task, config_path in tasks.items():
      import envs   # only the env settings of the saved config: it may predate renamed keys
      saved = configlib.Config.load(config_path)
      config = configlib.Config(configlib.load_configs()['defaults']).update(
          {key: saved[key] for key in ('task',) + envs.SETTINGS})
      returns = envs.random_returns(config.task, config, args.random_eps, seed=0)
      randoms[task] = {'mean': float(np.mean(returns)), 'std': float(np.std(returns)),
                       'episodes': len(returns)}
      print(f"{task}: random policy {randoms[task]['mean']:.1f} ± {randoms[task]['std']:.1f} over "
            f"{len(returns)} episodes")
  print(json.dumps({'runs': runs, 'random': randoms}))


if __name__ == '__main__':
  main(sys.argv[1:])
