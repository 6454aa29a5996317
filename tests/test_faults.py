"""Faults and bad input (issue 14): every refusal is one line, nothing hangs, nothing is lost."""

import functools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import train
from common import config as configlib
from common import files
from envs.parallel import Worker, WorkerError
from tests import helpers

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

ROOT = helpers.ROOT
# Debug runs with 40 agent steps per episode (action repeat 2) and a checkpoint every 200 env steps.
RUN = ['--configs', 'dmc', 'dreamerv2', 'debug', '--task', 'dmc_cartpole_balance', '--time_limit',
       '80', '--prefill', '160', '--eval_every', '400', '--log_every', '200', '--checkpoint_every',
       '200']


def start(logdir, *args, **kwargs):
  return subprocess.Popen([sys.executable, 'train.py', '--logdir', str(logdir), *RUN, *args],
                          cwd=ROOT, text=True, stdout=kwargs.get('stdout', subprocess.PIPE),
                          stderr=subprocess.PIPE)


def finish(process, timeout=600):
  out, err = process.communicate(timeout=timeout)
  return process.returncode, out or '', err


def wait_for(condition, process, timeout=300):
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline and process.poll() is None, 'the run did not get there'
    time.sleep(0.3)


one_line = helpers.one_line


def steps_of(logdir):
  return [json.loads(line)['step'] for line in (logdir / 'metrics.jsonl').read_text().splitlines()]


# --- 1. Resuming with changed settings

def saved_run(logdir, *flags):
  config = configlib.parse([*RUN, '--logdir', str(logdir), *flags])
  logdir.mkdir(parents=True, exist_ok=True)
  config.save(logdir / 'config.yaml')
  return config


@pytest.mark.parametrize('flags, named', [
    (['--rssm.deter', '64'], 'rssm.deter 32 -> 64'),
    (['--task', 'dmc_cartpole_swingup'], 'task dmc_cartpole_balance -> dmc_cartpole_swingup'),
    (['--action_repeat', '4'], 'action_repeat 2 -> 4'),
    (['--seed', '3'], 'seed 0 -> 3'),
])
def test_resuming_with_settings_that_break_the_run_is_refused_before_writing(
    tmp_path, flags, named):
  saved_run(tmp_path)
  before = (tmp_path / 'config.yaml').read_bytes()
  result = subprocess.run([sys.executable, 'train.py', '--logdir', str(tmp_path), *RUN, *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  one_line(result.stderr, named, 'holds a run with other settings')
  assert (tmp_path / 'config.yaml').read_bytes() == before


def test_a_rule_between_keys_is_checked_before_anything_is_written(tmp_path):
  bad = subprocess.run([sys.executable, 'train.py', '--logdir', str(tmp_path), *RUN,
                        '--cell.gate', 'soft'], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert bad.returncode == 2
  one_line(bad.stderr, "--cell.gate soft needs a gated --cell.type (one of ['vsg']), got 'gru'")
  assert not (tmp_path / 'config.yaml').exists()
  fixed = configlib.parse([*RUN, '--logdir', str(tmp_path)])
  assert train.check_resume(tmp_path, fixed) == ''


def test_resuming_with_another_method_names_every_changed_key(tmp_path):
  saved_run(tmp_path)
  config = configlib.parse([*RUN, '--logdir', str(tmp_path), '--configs', 'dmc', 'svsg', 'debug'])
  with pytest.raises(SystemExit) as exit_info:
    train.check_resume(tmp_path, config)
  assert exit_info.value.code == 2


def test_harmless_changes_are_allowed_and_said(tmp_path):
  saved_run(tmp_path)
  config = configlib.parse([*RUN, '--logdir', str(tmp_path), '--steps', '9000',
                            '--eval_every', '800'])
  assert train.check_resume(tmp_path, config) == 'eval_every 400 -> 800, steps 2000 -> 9000'


def test_a_run_saved_before_keys_were_renamed_or_added_resumes(tmp_path):
  """config.yaml of older code: gate_* keys (now sparsity.* and loss_scales.sparsity), the retired
  rssm.std_act and replay.maxlen, rssm.discrete, the cell's keys under rssm (now cell.*, cell.type
  was rssm.cell), svsg without the hidden, act and min_std it took from rssm, and no env_timeout
  (added later)."""
  config = saved_run(tmp_path, '--configs', 'dmc', 'vsg', 'debug')
  old = config.to_dict()
  old['gate_prior'], old['gate_free'] = old['sparsity'].pop('prior'), old['sparsity'].pop('free')
  old['gate_scale'] = old['loss_scales'].pop('sparsity')
  old['rssm']['std_act'], old['replay']['maxlen'] = 'sigmoid2', 50
  old['rssm']['discrete'] = old['rssm'].pop('classes')
  del old['rssm']['latent'], old['env_timeout']
  cell = old.pop('cell')
  old['rssm'].update(cell=cell.pop('type'), **cell)
  old['svsg'] = {'size': old['svsg']['size']}
  files.write_atomic(tmp_path / 'config.yaml', lambda f: f.write(json.dumps(old).encode()))
  upgraded = configlib.Config.load(tmp_path / 'config.yaml').flat
  assert upgraded == {key: value for key, value in config.flat.items() if key != 'env_timeout'}
  assert train.check_resume(tmp_path, config) == f'env_timeout (none) -> {config.env_timeout}'
  # A retired key whose value the code no longer offers is a changed setting, not a silent drop.
  old['rssm']['std_act'] = 'softplus'
  files.write_atomic(tmp_path / 'config.yaml', lambda f: f.write(json.dumps(old).encode()))
  with pytest.raises(SystemExit):
    train.check_resume(tmp_path, config)


def test_an_rssm_run_from_before_svsg_had_its_own_keys_resumes_with_another_rssm_width(tmp_path):
  config = saved_run(tmp_path, '--configs', 'dmc', 'vsg', 'debug', '--rssm.hidden', '48')
  old = config.to_dict()
  cell = old.pop('cell')
  old['rssm'].update(cell=cell.pop('type'), **cell)
  old['svsg'] = {'size': old['svsg']['size']}      # svsg.hidden is borrowed: 48, today's is 32
  files.write_atomic(tmp_path / 'config.yaml', lambda f: f.write(json.dumps(old).encode()))
  assert configlib.Config.load(tmp_path / 'config.yaml').svsg.hidden == 48
  assert 'svsg.hidden 48 -> 32' in train.check_resume(tmp_path, config)
  svsg = saved_run(tmp_path / 'svsg', '--configs', 'dmc', 'svsg', 'debug')
  with pytest.raises(SystemExit):                  # for SVSG the same key breaks the run
    train.check_resume(tmp_path / 'svsg', svsg.update({'svsg.hidden': 48}))


# --- 2. Values that cannot work: refused at parse time, before a logdir or TensorFlow

@pytest.mark.parametrize('flag, value, message', [
    ('train_every', '0', '--train_every 0: must be >= 1'),
    ('jit', 'maybe', '--jit maybe: must be one of true, false, 1, 0, auto'),
    ('precision', '8', '--precision 8: must be one of 32, 16, bf16, auto'),
    ('clip_rewards', 'bogus', '--clip_rewards bogus: must be one of identity, tanh, sign'),
    ('envs', '0', '--envs 0: must be >= 1'),
    ('dataset.batch', '0', '--dataset.batch 0: must be >= 1'),
    ('dataset.length', '0', '--dataset.length 0: must be >= 2'),
    ('render_size', '0,0', '--render_size 0,0: must be a list of values >= 1'),
    ('replay.capacity', '-1', '--replay.capacity -1: must be >= 0'),
    ('steps', '-5', '--steps -5: must be >= 1'),
    ('cell.gate', 'hard', '--cell.gate hard: must be one of sample, soft'),
])
def test_values_that_cannot_work_are_one_line_at_parse_time(flag, value, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    configlib.parse_or_exit([*RUN, f'--{flag}', value])
  assert exit_info.value.code == 2
  assert one_line(capsys.readouterr().err) == f'error: {message}'


def test_a_bad_value_creates_no_logdir_and_loads_no_tensorflow(tmp_path):
  code = ('import sys, train\ntry:\n  train.main(sys.argv[1:])\nexcept SystemExit as e:\n'
          '  print("tensorflow" in sys.modules, e.code)')
  result = subprocess.run([sys.executable, '-c', code, '--logdir', str(tmp_path / 'run'), *RUN,
                           '--train_every', '0'], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
  assert result.stdout.split() == ['False', '2'] and not (tmp_path / 'run').exists()


# --- 3. Logdirs that cannot be used, and corrupt checkpoints

def test_a_logdir_that_is_a_file_or_under_one_is_one_line(tmp_path):
  (tmp_path / 'file').write_text('')
  for logdir in (tmp_path / 'file', tmp_path / 'file' / 'run'):
    result = subprocess.run([sys.executable, 'train.py', '--logdir', str(logdir), *RUN], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    one_line(result.stderr, f'cannot use {logdir} as the logdir', 'choose another --logdir')


def test_a_corrupt_checkpoint_is_one_line_saying_what_to_do(tmp_path):
  saved_run(tmp_path)
  (tmp_path / 'checkpoint.npz').write_bytes(np.random.default_rng(0).bytes(4096))
  code, _, err = finish(start(tmp_path))
  assert code == 2
  line = one_line(err, f'checkpoint {tmp_path}/checkpoint.npz cannot be read', 'move it aside')
  assert 'allow_pickle' not in line


# --- 4. Hung and dead env workers

class SlowEnv:
  """An env whose step takes `delay` seconds (a hung simulator when it is long)."""

  def __init__(self, delay):
    import gymnasium
    self.delay = delay
    self.obs_space = {'image': gymnasium.spaces.Box(0, 255, (8, 8, 3), np.uint8)}
    self.act_space = {'action': gymnasium.spaces.Box(-1, 1, (1,), np.float32)}

  def reset(self):
    return {'image': np.zeros((8, 8, 3), np.uint8)}

  def step(self, action):
    time.sleep(self.delay)
    return self.reset()

  def close(self):
    pass


def make_slow(delay=60):
  return SlowEnv(delay)


def test_a_hung_worker_call_fails_after_its_timeout(tmp_path):
  worker = Worker(make_slow, name='slow', timeout=2)
  try:
    worker.reset()
    began = time.monotonic()
    with pytest.raises(WorkerError, match=r'slow worker did not answer within 2 s \(env_timeout\)'):
      worker.step({'action': np.zeros(1, np.float32)})
    assert time.monotonic() - began < 10
  finally:
    began = time.monotonic()
    worker.close()
    assert time.monotonic() - began < 15 and not worker._process.is_alive()


def test_time_the_whole_run_spent_stopped_is_not_a_hang(monkeypatch):
  """A run paused (SIGSTOP, a suspended machine) for longer than env_timeout goes on after it."""
  import envs.parallel
  worker = Worker(functools.partial(make_slow, 1.5), name='paused', timeout=3)
  clock, jumps = time.monotonic, iter([1000.0])
  offset = [0.0]

  def monotonic():   # the first poll slice appears to last 1000 s, as if the run were stopped
    offset[0] += next(jumps, 0.0) if offset[0] == 0.0 and clock() > began + 0.2 else 0.0
    return clock() + offset[0]
  try:
    worker.reset()
    began = clock()
    monkeypatch.setattr(envs.parallel.time, 'monotonic', monotonic)
    assert worker.step({'action': np.zeros(1, np.float32)})['image'].shape == (8, 8, 3)
    assert offset[0] == 1000.0
  finally:
    monkeypatch.undo()
    worker.close()


def test_a_stopped_worker_is_killed_on_close_and_a_dead_one_is_a_worker_error():
  worker = Worker(make_slow, name='stopped')
  worker.reset()
  os.kill(worker._process.pid, signal.SIGSTOP)
  began = time.monotonic()
  worker.close()
  assert time.monotonic() - began < 15 and not worker._process.is_alive()
  dead = Worker(make_slow, name='dead')
  dead.reset()
  os.kill(dead._process.pid, signal.SIGKILL)
  dead._process.join(5)
  with pytest.raises(WorkerError, match='dead worker died'):
    dead.reset()
  dead.close()


def test_a_hung_env_stops_training_with_one_line_and_a_saved_checkpoint(tmp_path):
  process = start(tmp_path, '--steps', '100000', '--env_timeout', '3')
  try:
    wait_for(lambda: (tmp_path / 'checkpoint.npz').exists(), process)
    for child in subprocess.run(['pgrep', '-P', str(process.pid), '-f', 'spawn_main'],
                                capture_output=True, text=True).stdout.split():
      os.kill(int(child), signal.SIGSTOP)   # the env workers hang
    code, _, err = finish(process, timeout=120)
  finally:
    process.kill()
  assert code == 1
  one_line(err, 'did not answer within 3 s (env_timeout)')
  assert (tmp_path / 'checkpoint.npz').stat().st_size > 0


# --- 5. Non-finite losses

def test_a_diverging_run_stops_with_one_line_and_saves_no_diverged_weights(tmp_path):
  code, _, err = finish(start(tmp_path, '--critic_opt.lr', '1e6'))
  assert code == 1
  one_line(err, 'training diverged at env step', 'is inf', 'the diverged weights are not saved')
  assert not (tmp_path / 'checkpoint.npz').exists() and not (tmp_path / 'done.json').exists()


# --- 6 and 7. Signals, a closed output pipe, leftovers, and steps that never go back

def test_signals_stop_with_one_line_and_a_resume_cleans_up_and_never_steps_back(tmp_path):
  process = start(tmp_path, '--steps', '100000')
  try:
    wait_for(lambda: (tmp_path / 'checkpoint.npz').exists(), process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGTERM)       # a repeat while saving is ignored
    code, _, err = finish(process)
  finally:
    process.kill()
  assert code == 130
  one_line(err, 'interrupted (Ctrl-C); the checkpoint is saved, rerun the same command to resume')
  stale = [tmp_path / '.checkpoint.npz.123.tmp', tmp_path / 'train_episodes' / '.x.npz.123.tmp']
  for path in stale:
    path.write_bytes(b'half')
  before = steps_of(tmp_path)
  # Resume with stdout closed at once (`train.py | head -0`): training goes on, SIGHUP stops it.
  process = start(tmp_path, '--steps', '100000')
  process.stdout.close()
  try:
    wait_for(lambda: max(steps_of(tmp_path)) > max(before) + 100, process)
    process.send_signal(signal.SIGHUP)
    code, _, err = finish(process)
  finally:
    process.kill()
  assert code == 129
  one_line(err, 'stopped by SIGHUP; the checkpoint is saved')
  assert not any(path.exists() for path in stale)
  steps = steps_of(tmp_path)
  assert steps == sorted(steps)                # metrics.jsonl never steps back on a resume


def test_a_run_killed_before_its_first_checkpoint_says_its_networks_start_anew(tmp_path):
  process = start(tmp_path, '--steps', '100000', '--checkpoint_every', '100000')
  try:
    wait_for(lambda: len(list((tmp_path / 'train_episodes').glob('*.npz'))) >= 2, process)
    process.kill()
    process.wait()
  finally:
    process.kill()
  assert not (tmp_path / 'checkpoint.npz').exists()
  code, out, err = finish(start(tmp_path, '--steps', '240'))
  assert code == 0, err[-3000:]
  assert 'no checkpoint in' in out and 'the networks start anew at env step' in out


# --- 8. A full disk

def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
  tmp_path.joinpath('metrics.jsonl').symlink_to('/dev/full')   # every write: ENOSPC
  code, _, err = finish(start(tmp_path, '--steps', '400'))
  assert code == 1
  one_line(err, 'no space left on device writing', 'metrics.jsonl', 'the last checkpoint and the '
           'saved episodes are intact')
  assert len(list((tmp_path / 'train_episodes').glob('*.npz'))) >= 1


def test_stale_temporaries_are_removed(tmp_path):
  (tmp_path / '.a.npz.9.tmp').write_bytes(b'x')
  (tmp_path / 'keep.npz').write_bytes(b'x')
  assert files.remove_stale_temporaries(tmp_path) == 1
  assert [p.name for p in tmp_path.iterdir()] == ['keep.npz']
