"""How long does plot.py take to draw both figures from the published score files (no runs of ours)?

  python -m bench.plot [--scores DIR] [--repeats 3] [--outdir DIR]

Times `plot.main(['--baselines', DIR/*.json, '--outdir', ...])` in-process (after one untimed
warm-up that pays the imports), once for all tasks and once with --paper (Figure 4's 8 dmc tasks
to 500K and the basic ShapeHerd to 1M), and the whole command as a fresh process (imports
included). Prints seconds; the last line is a JSON object.
"""

import argparse
import contextlib
import io
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

import plot


def timed(argv, repeats):
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
      summary = plot.main(argv)
    seconds.append(time.perf_counter() - start)
  return min(seconds), statistics.median(seconds), summary


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--scores', default=str(ROOT.parent / 'shared' / 'scores'))
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--outdir', help='default: a temporary folder')
  args = parser.parse_args(argv)
  files = sorted(str(p) for p in pathlib.Path(args.scores).glob('*.json'))
  if not files:
    parser.exit(2, f'error: no *.json score files in {args.scores}\n')
  with tempfile.TemporaryDirectory() as tmp:
    outdir = pathlib.Path(args.outdir or tmp)
    result = {'score_files': [pathlib.Path(f).name for f in files], 'repeats': args.repeats}
    timed(['--baselines', *files, '--outdir', str(outdir / 'warmup')], 1)
    for name, extra in (('all', []), ('paper', ['--paper'])):
      best, median, summary = timed(['--baselines', *files, '--outdir', str(outdir / name), *extra],
                                    args.repeats)
      result[name] = {'best_s': round(best, 2), 'median_s': round(median, 2),
                      'panels': summary['panels'], 'records': summary['baseline_records']}
      print(f'plot.py --baselines ({len(files)} files){" --paper" if extra else ""}: {best:.2f} s '
            f'best, {median:.2f} s median of {args.repeats}; panels {summary["panels"]}')
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / 'plot.py'), '--baselines', *files, '--outdir',
                    str(outdir / 'process')], check=True, capture_output=True)
    result['process_s'] = round(time.perf_counter() - start, 2)
    print(f'python plot.py --baselines ... as a fresh process (imports included): '
          f'{result["process_s"]:.2f} s')
  print(json.dumps(result))


if __name__ == '__main__':
  main(sys.argv[1:])
