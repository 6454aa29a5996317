"""What the long-run options of issue 27 cost: start-up seconds and per-step overhead.

  python -m bench.run_options --configs dmc vsg cpu [--steps 20] [--repeats 3]

Start-up (in this process, after TensorFlow is imported): the device line (`device.describe()`),
the config.yaml start line (commit from git, versions, device), and a wandb output that fails (no
wandb installed, or offline): the one warning's cost. Per step: the median full training step with
`--deterministic True` against without (bench/train_step.py in fresh processes, alternated
`--repeats` times, so both see the same machine load), and what `checkpoint_keep` > 1 adds to a save
(one rename and a directory listing) and `wall_seconds` to a metrics row. Prints a line per figure
and a last JSON line.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

from common import config as configlib  # sets oneDNN before TensorFlow loads
from bench.watch import median_time


def step_median(configs, steps, deterministic):
  cmd = [sys.executable, '-m', 'bench.train_step', '--configs', *configs,
         '--steps', str(steps), '--policy_steps', '0', '--no_peak',
         '--deterministic', str(deterministic)]
  done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--configs', nargs='+', default=['dmc', 'vsg', 'cpu'])
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=3, help='0: the start-up figures only')
  args = parser.parse_args()
  configlib.parse(['--configs', *args.configs])   # a bad name fails here, in one line

  from common import quiet
  tf = quiet.import_tensorflow()
  del tf
  import train
  from common import device, logger as loggerlib
  start = time.perf_counter()
  info = device.describe()   # the first call lists the devices (later calls are cached by TF)
  result = {'describe_s': time.perf_counter() - start}
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    path = tmp / 'config.yaml'
    path.write_text('steps: 1\n')
    result['start_line_s'] = median_time(lambda: train.record_start(path, info), 5)
    start = time.perf_counter()
    log = loggerlib.Logger(tmp / 'wandb_run', wandb_project='bench-offline', outputs=('jsonl',))
    result['wandb_failed_start_s'] = time.perf_counter() - start
    log.scalar('x', 1.0)
    result['metrics_row_s'] = median_time(lambda: (log.scalar('x', 1.0), log.write()), repeats=50)
    log.close()
    # checkpoint_keep > 1: what a save adds beyond checkpoint.npz itself (a rename, a listing).
    (tmp / 'checkpoint.npz').write_bytes(b'0' * 2**20)

    def keep_one():
      (tmp / 'checkpoint.npz').replace(tmp / 'checkpoint-1.npz')
      sorted(tmp.glob('checkpoint-*.npz'))
      (tmp / 'checkpoint-1.npz').replace(tmp / 'checkpoint.npz')
    result['keep_rename_s'] = median_time(keep_one, repeats=50)
  for key, text in (('describe_s', 'device line (device.describe)'),
                    ('start_line_s', 'config.yaml start line (git commit, versions, device)'),
                    ('wandb_failed_start_s', 'a failing wandb output (one warning)'),
                    ('metrics_row_s', 'one metrics row with wall_seconds'),
                    ('keep_rename_s', 'checkpoint_keep > 1 per save (rename + listing)')):
    print(f'start-up / per call: {text}: {result[key] * 1e3:.1f} ms', flush=True)

  if not args.repeats:
    print(json.dumps({k: round(v, 5) for k, v in result.items()}))
    return
  plain, determ = [], []
  for _ in range(args.repeats):
    plain.append(step_median(args.configs, args.steps, False))
    determ.append(step_median(args.configs, args.steps, True))
  result.update(
      machine=plain[0]['machine'],
      step_s=statistics.median(r['median_s'] for r in plain),
      deterministic_step_s=statistics.median(r['median_s'] for r in determ),
      first_call_s=statistics.median(r['first_call_s'] for r in plain),
      deterministic_first_call_s=statistics.median(r['first_call_s'] for r in determ))
  result['deterministic_ratio'] = result['deterministic_step_s'] / result['step_s']
  print(f"per step ({' '.join(args.configs)}, {result['machine']}): full training step "
        f"{result['step_s']:.3f} s, with --deterministic True "
        f"{result['deterministic_step_s']:.3f} s "
        f"({result['deterministic_ratio']:.2f}x); first call {result['first_call_s']:.1f} s vs "
        f"{result['deterministic_first_call_s']:.1f} s (medians of {args.repeats} alternated "
        f"processes)", flush=True)
  print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == '__main__':
  main()
