"""What long runs and new users need (issue 27): the device line, --require_gpu, any gymnasium env
by name with vector observations, checkpoint_keep, wall-clock seconds, the start record in
config.yaml and the optional wandb output, end to end through train.py."""

import json
import os
import subprocess
import sys

import pytest

from tests import helpers

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

ROOT = helpers.ROOT
FAKE_WANDB = {
    'failing': 'def init(**kwargs):\n  raise RuntimeError("wandb: no API key (run wandb login)")\n',
    'recording': ('import json, os\nPATH = os.environ["FAKE_WANDB_LOG"]\n'
                  'def init(**kwargs):\n'
                  '  open(PATH, "a").write(json.dumps({"init": kwargs["project"], '
                  '"id": kwargs["id"]}) + "\\n")\n'
                  'def log(row, step):\n'
                  '  open(PATH, "a").write(json.dumps({"step": step, **row}) + "\\n")\n'
                  'def finish():\n  pass\n')}


def train(logdir, *args, wandb=None, tmp=None, timeout=900):
  env = dict(os.environ)
  if wandb:
    fake = tmp / f'fake_{wandb}'
    fake.mkdir(exist_ok=True)
    (fake / 'wandb.py').write_text(FAKE_WANDB[wandb])
    env['PYTHONPATH'] = f'{fake}{os.pathsep}{env.get("PYTHONPATH", "")}'
    env['FAKE_WANDB_LOG'] = str(tmp / 'wandb.jsonl')
  return subprocess.run([sys.executable, 'train.py', '--logdir', str(logdir), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, env=env)


def rows(logdir):
  return [json.loads(line) for line in (logdir / 'metrics.jsonl').read_text().splitlines()]


def test_require_gpu_refuses_a_cpu_in_one_line_before_writing(tmp_path):
  result = train(tmp_path / 'run', '--configs', 'dmc', 'vsg', 'debug', '--require_gpu', 'True')
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: --require_gpu True: CPU only: ')
  assert not (tmp_path / 'run').exists()


def test_own_env_with_vector_keys_kept_checkpoints_wall_time_and_wandb(tmp_path):
  run = tmp_path / 'run'
  args = ['--configs', 'dmc', 'vsg', 'debug', '--task', 'gym_PointReach-v0', '--mlp_keys',
          'position|velocity', '--time_limit', '100', '--prefill', '200', '--eval_every', '400',
          '--log_every', '200', '--checkpoint_every', '200', '--checkpoint_keep', '2',
          '--wandb_project', 'vsg-test']
  first = train(run, *args, '--steps', '600', wandb='recording', tmp=tmp_path)
  assert first.returncode == 0, first.stderr[-3000:]
  assert first.stdout.splitlines()[0].startswith('device: CPU only: ')     # the first line
  assert 'precision 32 (auto), jit False (False)' in first.stdout.splitlines()[0]
  logged = rows(run)
  assert {'position_loss', 'velocity_loss'} <= set().union(*logged)        # the vectors predicted
  assert all(isinstance(r['wall_seconds'], float) and r['wall_seconds'] >= 0 for r in logged)
  assert [r['wall_seconds'] for r in logged] == sorted(r['wall_seconds'] for r in logged)
  assert sorted(p.name for p in run.glob('checkpoint*.npz')) == ['checkpoint-400.npz',
                                                                  'checkpoint.npz']
  wandb_rows = [json.loads(line) for line in (tmp_path / 'wandb.jsonl').read_text().splitlines()]
  assert wandb_rows[0]['init'] == 'vsg-test'
  assert {r['step'] for r in wandb_rows[1:]} >= {200, 400, 600}
  # Resumed: wall time goes on from the killed run's, one more start line, the same wandb run.
  again = train(run, *args, '--steps', '800', wandb='recording', tmp=tmp_path)
  assert again.returncode == 0, again.stderr[-3000:]
  resumed = rows(run)[len(logged):]
  assert resumed and min(r['wall_seconds'] for r in resumed) >= logged[-1]['wall_seconds']
  header = [line for line in (run / 'config.yaml').read_text().splitlines() if line.startswith('#')]
  assert len(header) == 2 and all('commit ' in line and 'TensorFlow 2.' in line and
                                  'device CPU only' in line for line in header)
  assert sorted(p.name for p in run.glob('checkpoint*.npz')) == ['checkpoint-600.npz',
                                                                  'checkpoint.npz']
  inits = [json.loads(line) for line in (tmp_path / 'wandb.jsonl').read_text().splitlines()
           if 'init' in line]
  assert len(inits) == 2 and inits[0]['id'] == inits[1]['id']


def test_gymnasium_shapeherd_trains_and_a_failing_wandb_is_one_warning(tmp_path):
  result = train(tmp_path / 'run', '--configs', 'dmc', 'vsg', 'debug', '--task', 'gym_ShapeHerd-v0',
                 '--steps', '600', '--prefill', '200', '--wandb_project', 'p', wandb='failing',
                 tmp=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  warnings = [line for line in result.stderr.splitlines() if 'wandb' in line]
  assert len(warnings) == 1 and 'the wandb output is disabled (RuntimeError' in warnings[0]
  assert max(r['step'] for r in rows(tmp_path / 'run')) >= 600
