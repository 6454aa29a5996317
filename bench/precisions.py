"""Times every method at every precision: world-model step and full step, one process per cell.

  python bench/precisions.py --sizes debug upstream_dmc [--methods vsg svsg] [--precisions 32 bf16]

Runs bench/train_step.py (`--configs dmc METHOD SIZE --precision P --part world_model|agent`) for
each combination and prints a table of median seconds per step (first-call seconds in brackets); a
cell that fails or runs past `--timeout` says so instead of a time. The last line is a JSON list
of every cell. float16 on a CPU is for checking that the path works: TensorFlow's CPU kernels for
float16 convolutions are slow, so at sizes other than debug float16 takes `--slow_steps` timed
steps and no warm-up step.
"""

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = ['dreamerv1', 'dreamerv2', 'vsg', 'vsg_gaussian', 'svsg']


def run_cell(method, size, precision, part, steps, warmup, timeout):
  cmd = [sys.executable, str(ROOT / 'bench' / 'train_step.py'), '--configs', 'dmc', method, size,
         '--precision', precision, '--part', part, '--steps', str(steps), '--warmup', str(warmup),
         '--policy_steps', '0', '--no_peak']
  cell = {'method': method, 'size': size, 'precision': precision, 'part': part}
  try:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
  except subprocess.TimeoutExpired:
    return {**cell, 'error': f'over {timeout} s'}
  lines = done.stdout.strip().splitlines()
  if done.returncode or not lines:
    tail = (done.stderr.strip().splitlines() or ['no output'])[-1]
    return {**cell, 'error': f'exit {done.returncode}: {tail[:200]}'}
  result = json.loads(lines[-1])
  return {**cell, 'median_s': result['median_s'], 'first_call_s': result['first_call_s'],
          'traces': result['traces']}


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', nargs='+', default=['debug', 'upstream_dmc'])
  parser.add_argument('--methods', nargs='+', default=METHODS)
  parser.add_argument('--precisions', nargs='+', default=['32', '16', 'bf16'])
  parser.add_argument('--parts', nargs='+', default=['world_model', 'agent'])
  parser.add_argument('--steps', type=int, default=5, help='timed steps per cell')
  parser.add_argument('--slow_steps', type=int, default=1,
                      help='timed steps for float16 at sizes other than debug (slow on a CPU)')
  parser.add_argument('--timeout', type=int, default=1800, help='seconds per cell')
  args = parser.parse_args(argv)
  cells = []
  for size in args.sizes:
    for method in args.methods:
      for precision in args.precisions:
        slow = precision == '16' and size != 'debug'
        steps, warmup = (args.slow_steps, 0) if slow else (args.steps, 1)
        for part in args.parts:
          cell = run_cell(method, size, precision, part, steps, warmup, args.timeout)
          cells.append(cell)
          shown = cell.get('error') or f"{cell['median_s']:.3f} s ({cell['first_call_s']:.1f} s)"
          print(f'{size:>12} {method:>12} {precision:>4} {part:>11}: {shown}', flush=True)
  print(json.dumps(cells))
  return 1 if any('error' in cell for cell in cells) else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
