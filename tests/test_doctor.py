"""doctor.py: the budget arithmetic, and the whole check at debug sizes (--smoke) on this CPU."""

import json
import subprocess
import sys

import pytest

from common import budget
from common import config as configlib
from tests import helpers

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

ROOT = helpers.ROOT


def test_run_seconds_count_updates_evaluations_and_collection_as_the_loop_schedules_them():
  plan = budget.schedule(configlib.parse(['--configs', 'dmc', 'vsg', 'cpu']))
  # dmc cpu: 50K steps, prefill 2500, pretrain 100, train_every 5 agent steps, action repeat 2,
  # eval every 5K, replay capacity 2M
  assert budget.updates(plan) == 100 + (50000 - 2500) / 10
  assert budget.evaluations(plan) == 11          # 5K, ..., 50K and the end of prefill
  seconds = budget.run_seconds(plan, per_env_step=0.01, per_update=1.0, per_eval=20.0)
  assert seconds['collect'] == pytest.approx(500.0) and seconds['update'] == pytest.approx(4850.0)
  assert seconds['total'] == pytest.approx(500.0 + 4850.0 + 220.0)
  # the replay holds min(capacity, agent steps) steps of a 64x64x3 image and the rest
  assert budget.replay_bytes(plan) == pytest.approx(25000 * (64 * 64 * 3 + 64))
  assert budget.disk_bytes(plan, bytes_per_agent_step=1000) == pytest.approx(25e6)


def test_runs_per_device_and_grid_hours():
  assert budget.runs_per_device(16 * 2**30, 3 * 2**30) == 4     # 90% of 16 GiB holds 4 of 3 GiB
  assert budget.runs_per_device(2 * 2**30, 3 * 2**30) == 1      # never fewer than one
  assert budget.runs_per_device(None, None) == 1
  cost = budget.grid(runs=200, hours_per_run=6.0, per_device=4, devices=2)
  assert cost == {'runs': 200, 'device_hours': 300.0, 'wall_hours': 150.0}


def test_smoke_checks_every_part_and_ends_with_its_json(tmp_path):
  done = subprocess.run([sys.executable, 'doctor.py', '--smoke', '--out', str(tmp_path)], cwd=ROOT,
                        capture_output=True, text=True, timeout=900)
  lines = done.stdout.strip().splitlines()
  report = json.loads(lines[-1])
  assert done.returncode == 0 and report['ok'], done.stdout[-3000:] + done.stderr[-2000:]
  assert json.loads((tmp_path / 'doctor.json').read_text()) == report
  assert report['device']['text'].startswith(('CPU only', 'GPU 0'))
  assert (report['render']['backend'] in ('egl', 'osmesa')
          and not report['render']['tensorflow_loaded'])
  cell = next(c for c in report['speed']['cells'] if c['jit'] is False)
  assert cell['median_s'] > 0 and cell['traces'] == 1
  run = report['speed']['run']
  assert run['per_update'] > 0 and run['per_env_step'] > 0 and run['per_eval'] > 0
  assert run['disk_per_agent_step'] > 0
  assert report['budget']['run_hours'] > 0
  assert set(report['budget']['grids']) == {'paper_dmc', 'paper_shapeherd'}
  assert ('sweep.py --logdir runs/ --grid paper_dmc'
          in report['budget']['grids']['paper_dmc']['command'])
  for part in ('device:', 'render:', 'speed:', 'budget:', 'doctor:'):
    assert any(line.startswith(part) for line in lines), part


def test_a_bad_config_name_is_one_line():
  done = subprocess.run([sys.executable, 'doctor.py', '--configs', 'dmc', 'vsgg'], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 2 and "unknown config 'vsgg'" in done.stderr
