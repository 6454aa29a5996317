"""Times every method at every precision: world-model step and full step, one process per cell.

  python -m bench.precisions --sizes debug upstream_dmc [--methods vsg svsg] [--precisions 32 bf16]
  python -m bench.precisions --kernels    # one convolution's three kernels at each precision

Runs bench/train_step.py (`--configs dmc METHOD SIZE --precision P --part world_model|agent`) for
each combination and prints a table of median seconds per step (first-call seconds in brackets); a
cell that fails or runs past `--timeout` says so instead of a time. The last line is a JSON list
of every cell. float16 on a CPU is for checking that the path works: TensorFlow's CPU kernel for
the float16 convolution filter gradient (Conv2DBackpropFilter, Eigen) is far slower than the
float32 one (`--kernels` times it; the figures are in bench/README.md, "Precisions"). At sizes
other than debug, float16 cells therefore run at batch `--slow_batch` (the size's widths and
sequence length unchanged) with `--slow_steps` timed steps and no warm-up step; each cell reports
the batch it ran.
"""

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = ['dreamerv1', 'dreamerv2', 'vsg', 'vsg_gaussian', 'svsg']


def run_cell(method, size, precision, part, steps, warmup, timeout, flags=()):
  cmd = [sys.executable, '-m', 'bench.train_step', '--configs', 'dmc', method, size,
         '--precision', precision, '--part', part, '--steps', str(steps), '--warmup', str(warmup),
         '--policy_steps', '0', '--no_peak', *flags]
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
  return {**cell, 'batch': result['batch'], 'median_s': result['median_s'],
          'first_call_s': result['first_call_s'], 'traces': result['traces']}


def conv_kernels(threads=1, repeats=3):
  """Seconds of a 4x4 stride-2 convolution's forward, input-gradient and filter-gradient kernels
  (16 images, 64x64x32 -> 31x31x64) in float32, bfloat16 and float16: the kernels, not the model."""
  import common  # noqa: F401  (turns oneDNN on before TensorFlow loads)
  import tensorflow as tf
  from common import flops
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  xshape, kshape, strides = [16, 64, 64, 32], [4, 4, 32, 64], [1, 2, 2, 1]
  rows = []
  for dtype in (tf.float32, tf.bfloat16, tf.float16):
    x = tf.cast(tf.random.normal(xshape), dtype)
    k = tf.cast(tf.random.normal(kshape), dtype)
    dy = tf.nn.conv2d(x, k, strides, 'VALID')
    kernels = {
        'forward': tf.function(lambda: tf.nn.conv2d(x, k, strides, 'VALID')),
        'input_grad': tf.function(lambda: tf.compat.v1.nn.conv2d_backprop_input(
            xshape, k, dy, strides, 'VALID')),
        'filter_grad': tf.function(lambda: tf.compat.v1.nn.conv2d_backprop_filter(
            x, kshape, dy, strides, 'VALID')),
    }
    row = {'dtype': dtype.name}
    for name, kernel in kernels.items():
      row[name + '_s'] = round(flops.best_seconds(kernel, repeats), 4)
    rows.append(row)
    print(' '.join(f'{key} {value}' for key, value in row.items()), flush=True)
  return rows


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', nargs='+', default=['debug', 'upstream_dmc'])
  parser.add_argument('--methods', nargs='+', default=METHODS)
  parser.add_argument('--precisions', nargs='+', default=['32', '16', 'bf16'])
  parser.add_argument('--parts', nargs='+', default=['world_model', 'agent'])
  parser.add_argument('--steps', type=int, default=5, help='timed steps per cell')
  parser.add_argument('--slow_steps', type=int, default=1,
                      help='timed steps for float16 at sizes other than debug (slow on a CPU)')
  parser.add_argument('--slow_batch', type=int, default=1,
                      help='batch for float16 at sizes other than debug (0: the size\'s own)')
  parser.add_argument('--timeout', type=int, default=1800, help='seconds per cell')
  parser.add_argument('--kernels', action='store_true',
                      help='time one convolution\'s kernels at each precision instead (one thread)')
  args = parser.parse_args(argv)
  if args.kernels:
    print(json.dumps(conv_kernels()))
    return 0
  cells = []
  for size in args.sizes:
    for method in args.methods:
      for precision in args.precisions:
        slow = precision == '16' and size != 'debug'
        steps, warmup = (args.slow_steps, 0) if slow else (args.steps, 1)
        flags = ['--dataset.batch', str(args.slow_batch)] if slow and args.slow_batch else []
        for part in args.parts:
          cell = run_cell(method, size, precision, part, steps, warmup, args.timeout, flags)
          cells.append(cell)
          shown = cell.get('error') or (f"{cell['median_s']:.3f} s ({cell['first_call_s']:.1f} s)"
                                        f", batch {cell['batch']}")
          print(f'{size:>12} {method:>12} {precision:>4} {part:>11}: {shown}', flush=True)
  print(json.dumps(cells))
  return 1 if any('error' in cell for cell in cells) else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
