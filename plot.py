"""Summarizes runs laid out as LOGDIR/<task>/<method>/<seed>/metrics.jsonl: python plot.py LOGDIR ...

Today it prints the last logged value of --yaxis per task and method (mean and std over seeds); the
paper's figures (Figure 3c, Figure 4) and baseline overlays are the plotting issue.
"""

import argparse
import collections
import json
import pathlib
import statistics
import sys


def read_runs(logdirs, xaxis, yaxis):
  """{(task, method): {seed: (x, y) of the last row that has both keys}}; bad files are reported."""
  runs = collections.defaultdict(dict)
  for logdir in logdirs:
    for path in sorted(pathlib.Path(logdir).glob('*/*/*/metrics.jsonl')):
      seed, method, task = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
      last = None
      for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
          row = json.loads(line)
        except json.JSONDecodeError:
          print(f'warning: {path}:{number} is not JSON; skipped', file=sys.stderr)
          continue
        if xaxis in row and yaxis in row:
          last = (row[xaxis], row[yaxis])
      if last is None:
        print(f'warning: {path} has no rows with {xaxis} and {yaxis}; skipped', file=sys.stderr)
        continue
      runs[(task, method)][f'{logdir}:{seed}'] = last
  return runs


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('logdirs', nargs='+', help='roots holding <task>/<method>/<seed>/metrics.jsonl')
  parser.add_argument('--xaxis', default='step')
  parser.add_argument('--yaxis', default='eval_return')
  args = parser.parse_args(argv)
  runs = read_runs(args.logdirs, args.xaxis, args.yaxis)
  if not runs:
    parser.exit(2, f'error: no runs with {args.xaxis} and {args.yaxis} under {args.logdirs}\n')
  print(f'{"task":<28} {"method":<14} {"seeds":>5} {"last " + args.xaxis:>12} {args.yaxis:>18}')
  for (task, method), seeds in sorted(runs.items()):
    xs, ys = zip(*seeds.values())
    std = statistics.stdev(ys) if len(ys) > 1 else 0.0
    print(f'{task:<28} {method:<14} {len(ys):>5} {min(xs):>12} {statistics.mean(ys):>11.1f} ± {std:.1f}')


if __name__ == '__main__':
  main()
