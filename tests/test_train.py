"""train.py end to end on DeepMind Control: every method, metrics, checkpoints and resuming."""

import json
import math
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from common import rundir
from dreamerv2_vsg import loop
from tests.conftest import METHODS

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Short episodes (40 agent steps) so a run sees many episodes, updates, evaluations and logs.
QUICK = ['--task', 'dmc_cartpole_balance', '--time_limit', '80', '--prefill', '160',
         '--eval_every', '400', '--log_every', '200', '--checkpoint_every', '400']
REQUIRED = {'train_return', 'train_length', 'eval_return', 'eval_length', 'model_loss',
            'image_loss', 'reward_loss', 'kl_loss', 'kl', 'actor_loss', 'critic_loss', 'actor_ent',
            'fps'}
GATED = {'sparsity_loss', 'gate_prob', 'gate_open_rate'}


def train(logdir, *args, timeout=600):
  return subprocess.run([sys.executable, 'train.py', '--logdir', str(logdir), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def rows(logdir):
  return [json.loads(line) for line in (logdir / 'metrics.jsonl').read_text().splitlines()]


@pytest.mark.parametrize('method', METHODS)
def test_debug_run_writes_metrics(method, tmp_path):
  result = train(tmp_path, '--configs', 'dmc', method, 'debug', *QUICK, '--steps', '800')
  assert result.returncode == 0, result.stderr[-3000:]
  logged = rows(tmp_path)
  keys = set().union(*logged)
  expected = REQUIRED | (GATED if method in ('vsg', 'vsg_gaussian', 'svsg') else set())
  assert expected <= keys, sorted(expected - keys)
  for row in logged:
    assert isinstance(row['step'], int)
    for key, value in row.items():
      assert value is None or math.isfinite(value), (key, value)
  assert max(r['step'] for r in logged) >= 800
  assert max(r['step'] for r in logged if 'eval_return' in r) >= 800  # the final policy's eval
  assert (tmp_path / 'config.yaml').exists() and (tmp_path / 'checkpoint.npz').exists()
  episodes = sorted((tmp_path / 'train_episodes').glob('*.npz'))
  # 80 env steps per episode at repeat 2: 40 agent steps, recorded in the file name.
  assert len(episodes) >= 10 and all(p.stem.endswith('-40') for p in episodes)


def test_killed_run_resumes_its_step_count_and_replay(tmp_path):
  args = ['--configs', 'dmc', 'dreamerv2', 'debug', *QUICK]
  process = subprocess.Popen([sys.executable, 'train.py', '--logdir', str(tmp_path), *args,
                              '--steps', '100000'], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 300
    while not (tmp_path / 'checkpoint.npz').exists():   # the first checkpoint, at env step 400
      assert time.time() < deadline and process.poll() is None, 'no checkpoint was written'
      time.sleep(0.5)
    time.sleep(3)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  rows_before = rows(tmp_path)
  killed_step = max(r['step'] for r in rows_before)
  episodes_before = sorted(p.name for p in (tmp_path / 'train_episodes').glob('*.npz'))
  saved_steps = 40 * len(episodes_before) * 2
  start = max(saved_steps, killed_step)
  result = train(tmp_path, *args, '--steps', str(start + 800))  # two evaluation periods
  assert result.returncode == 0, result.stderr[-3000:]
  # The step goes on from the saved episodes, or from the last metrics row where that is later.
  assert f'starting at env step {start}' in result.stdout
  assert 'resumed from' in result.stdout and 'pretrain' not in result.stdout
  after = rows(tmp_path)
  assert after[:len(rows_before)] == rows_before                      # old rows kept as they were
  assert max(r['step'] for r in after) >= start + 800
  assert [r['step'] for r in after] == sorted(r['step'] for r in after)   # never steps back
  # The evaluation schedule goes on from the killed run's (at the multiples of 400 env steps, within
  # one 10-env-step collection) instead of restarting at the resume step; the last evaluation is the
  # final policy's, at `steps`.
  evals = [r['step'] for r in after if 'eval_return' in r]
  resumed = [step for step in evals[:-1] if step >= start]
  assert resumed and all(step % 400 < 10 for step in resumed), evals
  assert len(resumed) == len({step // 400 for step in resumed}), evals   # one per period
  episodes_after = sorted(p.name for p in (tmp_path / 'train_episodes').glob('*.npz'))
  assert set(episodes_before) < set(episodes_after)      # nothing lost, nothing rewritten
  assert not list(tmp_path.glob('*.tmp')) and not list(tmp_path.glob('.*.tmp'))


def test_a_run_written_before_the_dynamics_move_resumes(tmp_path):
  """A VSG run of commit 2a7da61 (before common/dynamics.py) goes on from its checkpoint."""
  run = tmp_path / 'run'
  shutil.copytree(ROOT / 'tests' / 'data' / 'written_before_dynamics_py' / 'vsg', run)
  before = rows(run)
  result = train(run, '--configs', 'dmc', 'vsg', 'debug', *QUICK, '--steps', '800')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'resumed from' in result.stdout and 'pretrain' not in result.stdout, result.stdout
  after = rows(run)
  assert after[:len(before)] == before and max(r['step'] for r in after) >= 800
  assert max(r['step'] for r in after if 'eval_return' in r) >= 800


def test_the_last_step_is_read_from_the_tail_as_from_the_whole_file(tmp_path):
  assert rundir.last_step(tmp_path) == 0
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(json.dumps({'step': step, **{f'loss_{i}': 1.0 for i in range(20)}}) + '\n'
              for step in range(0, 5000, 100)) + '{"step": 9500, "eval_ret')  # cut short by a kill
  assert rundir.logged(tmp_path)['step'] == 4900
  assert rundir.last_step(tmp_path) == 4900
  assert rundir.last_step(tmp_path, tail=500) == 4900      # the tail starts mid-row
  assert rundir.last_step(tmp_path, tail=20) == 4900       # no whole row in the tail: reads it all


def test_a_resumed_run_keeps_its_evaluation_schedule(tmp_path):
  # The killed run evaluated at 2500 (the end of prefill) and 5000 (the multiples of 5000) and
  # logged up to 9000; its last row was cut short by the kill. Resumed at 9000, the next evaluation
  # is at 10000, as if it had not been killed.
  metrics = tmp_path / 'metrics.jsonl'
  logged_steps = lambda: tuple(rundir.logged(tmp_path)[key] for key in ('step', 'eval_step'))
  assert logged_steps() == (0, None)
  metrics.write_text('{"step": 2500, "eval_return": 3.0}\n{"step": 4000, "train_return": 1.0}\n'
                     '{"step": 5000, "eval_return": 9.0}\n{"step": 9000, "model_loss": 2.0}\n'
                     '{"step": 9500, "eval_ret')
  anchor = logged_steps()
  assert anchor == (9000, 5000)
  every = loop.Every(5000, last=anchor[1], aligned=True)
  assert [step for step in range(9000, 26000, 10) if every(step)] == [10000, 15000, 20000, 25000]
  fresh = loop.Every(5000, aligned=True)   # a new run: the first call fires, then the multiples
  assert [step for step in range(2500, 13000, 10) if fresh(step)] == [2500, 5000, 10000]
  # steps that skip past a multiple fire once, just after it
  coarse = loop.Every(5000, aligned=True)
  assert [step for step in range(2497, 16000, 7) if coarse(step)] == [2497, 5003, 10001, 15006]
  unaligned = loop.Every(5000)             # other schedules count from the first call
  assert [step for step in range(2500, 13000, 10) if unaligned(step)] == [2500, 7500, 12500]


def test_unknown_task_is_a_clear_error(tmp_path):
  result = train(tmp_path / 'run', '--configs', 'dmc', 'vsg', 'debug', '--task', 'dmc_walkr_walk')
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "unknown task 'dmc_walkr_walk'" in lines[0] and 'walker' in lines[0]
  assert not (tmp_path / 'run').exists()


def test_shapeherd_debug_run(tmp_path):
  # ShapeHerd through the same factory and loop; 200-step episodes (50 agent steps at repeat 4).
  result = train(tmp_path, '--configs', 'shapeherd', 'vsg', 'debug', '--task',
                 'shapeherd_distract1', '--time_limit', '200', '--prefill', '400', '--eval_every',
                 '800', '--log_every', '400', '--steps', '1200')
  assert result.returncode == 0, result.stderr[-3000:]
  logged = rows(tmp_path)
  assert {'train_return', 'eval_return', 'model_loss', 'discount_loss', 'gate_open_rate',
          'train_scored', 'train_first_score', 'eval_scored', 'eval_first_score'} <= set(
      ).union(*logged)   # the env's per-episode logs (log_* obs keys) reach metrics.jsonl
  assert all(r['train_length'] <= 200 for r in logged if 'train_length' in r)
