"""sweep.py on a real local Ray: a grid runs, a rerun skips it, a killed run is retried and resumes;
train.py's completion marker and logdir lock, which the sweep relies on."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

pytest.importorskip('ray')

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Debug runs of a few hundred env steps: 40 agent steps per episode at action repeat 2.
QUICK = ['--time_limit', '80', '--prefill', '160', '--eval_every', '400', '--log_every', '200',
         '--checkpoint_every', '200']
GRID = ['--configs', 'dmc', 'debug', '--tasks', 'dmc_cartpole_balance', '--cpus_per_run', '1']


def sweep(root, *args, timeout=900):
  return subprocess.run([sys.executable, 'sweep.py', '--logdir', str(root), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def rows(logdir):
  return [json.loads(line) for line in (logdir / 'metrics.jsonl').read_text().splitlines()]


def test_grid_runs_every_run_then_a_rerun_skips_them_all(tmp_path):
  result = sweep(tmp_path, *GRID, '--methods', 'dreamerv2', 'vsg', '--seeds', '0', '--', *QUICK,
                 '--steps', '400')
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  logdirs = [tmp_path / 'dmc_cartpole_balance' / method / '0' for method in ('dreamerv2', 'vsg')]
  for logdir in logdirs:
    assert json.loads((logdir / 'done.json').read_text())['step'] >= 400
    assert max(row['step'] for row in rows(logdir)) >= 400
  assert '2 runs: 2 done, 0 skipped, 0 failed' in result.stdout
  before = [(logdir / 'metrics.jsonl').read_bytes() for logdir in logdirs]
  start = time.monotonic()
  again = sweep(tmp_path, *GRID, '--methods', 'dreamerv2', 'vsg', '--seeds', '0', '--', *QUICK,
                '--steps', '400')
  assert again.returncode == 0 and time.monotonic() - start < 60, again.stderr[-2000:]
  assert '0 runs to do, 2 finished (skipped)' in again.stdout
  assert [(logdir / 'metrics.jsonl').read_bytes() for logdir in logdirs] == before
  # train.py itself leaves a finished run alone, too.
  direct = subprocess.run([sys.executable, 'train.py', '--configs', 'dmc', 'dreamerv2', 'debug',
                           '--task', 'dmc_cartpole_balance', '--logdir', str(logdirs[0]), *QUICK,
                           '--steps', '400'], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert direct.returncode == 0 and 'nothing to do' in direct.stdout
  assert (logdirs[0] / 'metrics.jsonl').read_bytes() == before[0]


def test_a_killed_run_is_retried_and_resumes_from_its_checkpoint(tmp_path):
  logdir = tmp_path / 'dmc_cartpole_balance' / 'dreamerv2' / '0'
  process = subprocess.Popen(
      [sys.executable, 'sweep.py', '--logdir', str(tmp_path), *GRID, '--methods', 'dreamerv2',
       '--seeds', '0', '--retries', '1', '--', *QUICK, '--steps', '800'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    deadline = time.monotonic() + 600
    while not ((logdir / 'checkpoint.npz').exists() and (logdir / 'metrics.jsonl').exists()
               and max(row['step'] for row in rows(logdir)) >= 300):
      assert time.monotonic() < deadline and process.poll() is None, 'the run made no progress'
      time.sleep(1)
    killed_at = max(row['step'] for row in rows(logdir))
    pid = int((logdir / '.lock').read_text())          # the train.py holding the logdir
    os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=600)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == 0, output[-3000:]
  assert '1 runs: 1 done, 0 skipped, 0 failed' in output
  log = (logdir / 'train.log').read_text()
  assert log.count('starting at env step') == 2 and 'resumed from' in log
  assert json.loads((logdir / 'done.json').read_text())['step'] >= 800
  steps = [row['step'] for row in rows(logdir)]
  # The retry goes on from the saved episodes: at most the killed episode (80 env steps) repeats.
  assert min(steps[steps.index(killed_at) + 1:]) >= killed_at - 80


def test_a_second_train_py_on_a_logdir_is_refused_at_once(tmp_path):
  args = [sys.executable, 'train.py', '--configs', 'dmc', 'dreamerv2', 'debug', '--task',
          'dmc_cartpole_balance', '--logdir', str(tmp_path), *QUICK, '--steps', '100000']
  first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 120
    config = tmp_path / 'config.yaml'   # written once the lock is held, its start line once started
    while not (config.exists() and b'# started' in config.read_bytes()):
      assert time.monotonic() < deadline and first.poll() is None
      time.sleep(0.2)
    config_before = (tmp_path / 'config.yaml').read_bytes()
    second = subprocess.run(args[:-1] + ['200'], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f'in use by another process (pid {first.pid})' in lines[0]
    assert (tmp_path / 'config.yaml').read_bytes() == config_before
  finally:
    first.kill()
    first.wait()
