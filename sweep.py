"""Runs a grid of train.py runs on Ray, resuming and retrying them, never redoing a finished one.

  python sweep.py --logdir ROOT --configs dmc --tasks dmc_walker_walk dmc_cartpole_swingup \\
      --methods dreamerv2 vsg svsg --seeds 0 1 2 [--grid paper_dmc|paper_shapeherd] \\
      [--gpus_per_run 0.25] [--cpus_per_run 3] [--address auto] [--retries 2] [--dry_run] \\
      [-- extra train.py flags]

Each (task, method, seed) is `train.py --configs <configs> <method> --task <task> --seed <seed>
--logdir ROOT/<task>/<method>/<seed> <extra flags>` (the layout plot.py reads), run as a Ray task
with the given resources in a process of its own (environments still render in processes without
TensorFlow); its output goes to ROOT/<task>/<method>/<seed>/train.log. A run whose logdir holds
done.json with the step budget reached is skipped; any other is started, and resumes where its
logdir stands. A run that fails (its process killed, its node lost, pre-emption) is retried up to
`--retries` times, each retry resuming from the last checkpoint. Without --address Ray starts on
this machine; with --address it joins a cluster started with `ray start --head` and `ray start
--address=HEAD:6379` (the logdirs and this repository at the same paths on every machine). At the
end: a table of done / skipped / failed runs with the failed runs' last line; exit code 1 if any
failed.
"""

import argparse
import collections
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from common import config as configlib  # noqa: E402
from common import files  # noqa: E402
from common import rundir  # noqa: E402

PAPER_DMC_TASKS = ('cartpole_swingup', 'finger_turn_hard', 'hopper_stand', 'pendulum_swingup',
                   'quadruped_run', 'quadruped_walk', 'reacher_easy', 'walker_walk')
GRIDS = {
    # Figure 4: the 8 tasks every published method has 5 complete seeds on (spec g.2), the paper's
    # methods (DreamerV1, DreamerV2, VSG(C), SVSG) and VSG(G); 500K env steps (the dmc default).
    'paper_dmc': {'configs': ['dmc'], 'tasks': [f'dmc_{t}' for t in PAPER_DMC_TASKS],
                  'methods': ['dreamerv1', 'dreamerv2', 'vsg', 'vsg_gaussian', 'svsg'],
                  'seeds': [0, 1, 2, 3, 4]},
    # Figure 3c: ShapeHerd, 1M env steps (the shapeherd config), the paper's four methods.
    'paper_shapeherd': {'configs': ['shapeherd'], 'tasks': ['shapeherd'],
                        'methods': ['dreamerv2', 'vsg', 'vsg_gaussian', 'svsg'],
                        'seeds': [0, 1, 2, 3, 4]},
}
Run = collections.namedtuple('Run', 'task method seed logdir argv')


class RunFailed(RuntimeError):
  """train.py exited with an error; the message is its last line."""


def parse_args(argv):
  argv = list(argv)
  extra = argv[argv.index('--') + 1:] if '--' in argv else []
  argv = argv[:argv.index('--')] if '--' in argv else argv
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog='train.py flags go '
                                   'after --, e.g. -- --steps 100000 --envs 2')
  parser.add_argument('--logdir', required=True, type=pathlib.Path, help='ROOT of the grid')
  parser.add_argument('--grid', choices=sorted(GRIDS),
                      help="the paper's task, method and seed lists")
  parser.add_argument('--configs', nargs='+',
                      help='named configs before the method (a grid sets them)')
  parser.add_argument('--tasks', nargs='+')
  parser.add_argument('--methods', nargs='+')
  parser.add_argument('--seeds', nargs='+', type=int)
  parser.add_argument('--cpus_per_run', type=float, default=1.0)
  parser.add_argument('--gpus_per_run', type=float, default=0.0)
  parser.add_argument('--address', help="a running Ray cluster ('auto' finds a local one)")
  parser.add_argument('--retries', type=int, default=2, help='retries of a failed run')
  parser.add_argument('--progress_every', type=float, default=30.0, help='seconds between lines')
  parser.add_argument('--dry_run', action='store_true', help='print the commands and the skips')
  args = parser.parse_args(argv)
  grid = GRIDS.get(args.grid, {})
  for key in ('configs', 'tasks', 'methods', 'seeds'):
    if getattr(args, key) is None:
      if key not in grid:
        parser.error(f'--{key} is required without --grid')
      setattr(args, key, grid[key])
  if args.cpus_per_run <= 0 or args.gpus_per_run < 0 or args.retries < 0:
    parser.error('--cpus_per_run must be > 0, --gpus_per_run and --retries >= 0')
  return args, extra


def plan(args, extra):
  """Every run of the grid with its train.py arguments; a bad config, flag or task fails here."""
  import envs
  runs = []
  for task in args.tasks:
    for method in args.methods:
      for seed in args.seeds:
        logdir = args.logdir.expanduser().resolve() / task / method / str(seed)
        argv = ('--configs', *args.configs, method, '--task', task, '--seed', str(seed),
                '--logdir', str(logdir), *extra)
        config = configlib.parse(argv)
        envs.constructor(config.task, config)
        runs.append((Run(task, method, seed, logdir, argv), config.steps))
  return runs


def last_line(path):
  try:
    lines = [l for l in path.read_text(errors='replace').splitlines() if l.strip()]
  except OSError:
    return 'no output'
  errors = [l for l in lines if l.startswith('error:') or 'Error' in l.split(':')[0]]
  return (errors or lines or ['no output'])[-1][:300]


def train(argv, logdir, niceness=0):
  """Runs train.py to the end in a child process that dies with this one; raises RunFailed."""
  import ctypes
  import signal

  def child_setup():
    # A lost Ray worker must not leave train.py holding the logdir.
    ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    try:  # Ray runs its workers at niceness 15; a run gets the sweep's own priority back
      os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError:  # raising priority needs privileges; then the run stays at Ray's niceness
      pass

  logdir.mkdir(parents=True, exist_ok=True)
  log = logdir / 'train.log'
  with log.open('ab') as out:
    code = subprocess.run([sys.executable, str(ROOT / 'train.py'), *argv], cwd=ROOT, stdout=out,
                          stderr=subprocess.STDOUT, preexec_fn=child_setup).returncode
  if code != 0:
    raise RunFailed(f'train.py exited with {code}: {last_line(log)}')
  return rundir.last_step(logdir)


def main(argv=None):
  args, extra = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    runs = plan(args, extra)
  except (configlib.ConfigError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  todo, results = [], {}
  for run, steps in runs:
    done = rundir.finished_at(run.logdir)
    if done is not None and done >= steps:
      results[run] = ('skipped', f'finished at env step {done}')
    else:
      todo.append(run)
  for run, _ in runs:
    if run in results:
      print(f'skip {run.logdir}: {results[run][1]}')
    elif args.dry_run:
      print(f'run  python train.py {" ".join(run.argv)}')
  print(f'{len(todo)} runs to do, {len(runs) - len(todo)} finished (skipped)', flush=True)
  if args.dry_run or not todo:
    return 0
  results.update(execute(args, todo))
  print('\n| task | method | seed | result | detail |\n|---|---|---|---|---|')
  for run, _ in runs:
    status, detail = results[run]
    print(f'| {run.task} | {run.method} | {run.seed} | {status} | {detail} |')
  failed = sum(status == 'failed' for status, _ in results.values())
  print(f'{len(runs)} runs: {sum(s == "done" for s, _ in results.values())} done, '
        f'{sum(s == "skipped" for s, _ in results.values())} skipped, {failed} failed', flush=True)
  return 1 if failed else 0


def execute(args, todo):
  """Runs `todo` as Ray tasks; returns {run: (status, detail)} as they end."""
  import ray
  started = time.monotonic()
  ray.init(address=args.address, include_dashboard=False, log_to_driver=False,
           configure_logging=False)
  print(f'ray: {ray.cluster_resources().get("CPU", 0):g} CPUs, '
        f'{ray.cluster_resources().get("GPU", 0):g} '
        f'GPUs ({time.monotonic() - started:.1f} s to start)', flush=True)
  task = ray.remote(train).options(num_cpus=args.cpus_per_run, num_gpus=args.gpus_per_run,
                                   max_retries=args.retries, retry_exceptions=True)
  niceness = os.getpriority(os.PRIO_PROCESS, 0)
  pending = {task.remote(run.argv, run.logdir, niceness): run for run in todo}
  results, last = {}, time.monotonic()
  try:
    while pending:
      ready, _ = ray.wait(list(pending), num_returns=1, timeout=min(args.progress_every, 5))
      for ref in ready:
        run = pending.pop(ref)
        try:
          results[run] = ('done', f'env step {ray.get(ref)}')
        except Exception as e:  # RunFailed after its retries, or Ray's own task error
          cause = getattr(e, 'cause', None) or e
          results[run] = ('failed', str(cause).splitlines()[-1][:300])
        print(f'{results[run][0]}: {run.logdir} ({results[run][1]})', flush=True)
      if time.monotonic() - last >= args.progress_every or not pending:
        last = time.monotonic()
        running = [run for run in pending.values() if files.is_locked(run.logdir)]
        steps = {run: rundir.last_step(run.logdir) for run in running}
        slowest = min(running, key=steps.get, default=None)
        print(f'[sweep] {len(results)} done or failed / {len(running)} running / '
              f'{len(pending) - len(running)} not running' + (
                  f'; slowest: {slowest.task}/{slowest.method}/{slowest.seed} at env step '
                  f'{steps[slowest]}' if slowest else ''), flush=True)
  finally:
    ray.shutdown()
  return results


if __name__ == '__main__':
  sys.exit(main())
