"""Watching a run: progress lines, a quiet start, policy videos and gate summaries in TensorBoard,
and evaluate.py on a trained debug VSG run."""

import json
import shutil

import numpy as np
import pytest
from tests import helpers

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)

# 40 agent steps per episode at action repeat 2; progress lines every 2 s.
RUN = ['--configs', 'dmc', 'vsg', 'debug', '--task', 'dmc_cartpole_balance', '--time_limit', '80',
       '--prefill', '160', '--eval_every', '400', '--log_every', '200', '--steps', '600',
       '--progress_every', '2']


run = helpers.python


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  logdir = tmp_path_factory.mktemp('vsg')
  result = run('train.py', '--logdir', logdir, *RUN)
  assert result.returncode == 0, result.stderr[-3000:]
  return logdir, result


def snapshot(logdir):
  """Every file under the logdir with its size and modification time."""
  return {str(p.relative_to(logdir)): (p.stat().st_size, p.stat().st_mtime_ns)
          for p in logdir.rglob('*') if p.is_file()}


def test_progress_lines_show_the_phase_rates_and_an_eta(trained):
  lines = [l for l in trained[1].stdout.splitlines() if l.startswith('[progress]')]
  phases = [line.split(' | ')[0].split()[1] for line in lines]
  assert phases[0] == 'prefill' and {'pretrain', 'train', 'eval'} <= set(phases)
  for line in lines:
    assert ' ETA ' in line and ' env steps/s' in line and ' updates/s' in line, line
    assert '/600 (' in line, line
  assert 'lower bound' in lines[0] and 'lower bound' not in lines[-1]


def test_start_up_is_quiet(trained):
  stderr = trained[1].stderr
  for noise in ('absl::InitializeLog', 'oneDNN', 'cuda', 'cpu_feature_guard', 'DT_BOOL'):
    assert noise not in stderr, stderr[:2000]


def test_tensorboard_holds_policy_videos_and_gate_summaries(trained):
  tf = pytest.importorskip('tensorflow')
  seen = {}
  for path in trained[0].glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        seen.setdefault(value.tag, []).append(value)
  policy = seen['eval_policy'][-1].image
  assert (policy.encoded_image_string.startswith(b'GIF')
          and (policy.height, policy.width) == (64, 64))
  histo = seen['gate_unit_open_rate'][-1].histo
  assert histo.num == 32 and 0 <= histo.min <= histo.max <= 1    # one rate per unit (deter 32)
  picture = seen['gate_units_time'][-1].image
  assert picture.encoded_image_string[1:4] == b'PNG' and picture.height >= 32
  assert 0 <= seen['gate_always_closed'][-1].simple_value <= 32
  assert 0 < seen['gate_prob_time_std'][-1].simple_value < 0.5   # std of a probability


def test_evaluate_plays_writes_video_and_gates_and_leaves_the_logdir_alone(trained, tmp_path):
  logdir = trained[0]
  before = snapshot(logdir)
  video, gates = tmp_path / 'policy.gif', tmp_path / 'gates.png'
  result = run('evaluate.py', '--logdir', logdir, '--episodes', 2, '--video', video, '--gates',
               gates, '--seed', 3)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  summary = json.loads(lines[-1])
  assert summary['task'] == 'dmc_cartpole_balance' and summary['method'] == 'vsg'
  assert summary['step'] == 600 and summary['episodes'] == 2 and len(summary['returns']) == 2
  assert summary['mean'] == pytest.approx(np.mean(summary['returns']))
  assert sum(line.startswith('episode ') for line in lines) == 2
  assert 'units never opened, gate probability std over time 0.' in result.stdout
  from PIL import Image
  with Image.open(video) as gif:   # 50 agent steps per second on cartpole; a GIF merges repeats
    durations = []
    for index in range(gif.n_frames):
      gif.seek(index)
      durations.append(gif.info['duration'])
  assert sum(durations) == 2 * 40 * 20                 # one frame per action of each episode
  with Image.open(gates) as picture:
    assert picture.size[1] >= 32 and picture.mode == 'L'
  assert snapshot(logdir) == before
  mp4 = tmp_path / 'policy.mp4'
  result = run('evaluate.py', '--logdir', logdir, '--episodes', 2, '--video', mp4, '--openloop')
  assert result.returncode == 0, result.stderr[-3000:]
  openloop = json.loads(result.stdout.strip().splitlines()[-1])['openloop']
  horizon = openloop['horizon']                # debug's imag_horizon; 41 entries per episode
  assert openloop['windows'] == 2 * (41 // (5 + horizon)) and openloop['context'] == 5
  assert len(openloop['reward_mae']) == len(openloop['image_mse']) == horizon
  assert all(0 <= v < 10 for v in openloop['reward_mae'] + openloop['image_mse'])
  assert -1 <= openloop['reward_sum_corr'] <= 1 or np.isnan(openloop['reward_sum_corr'])
  # The same on stored training episodes (another run's, here its own): nothing is played.
  result = run('evaluate.py', '--logdir', logdir, '--openloop_from', logdir, '--episodes', 3)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary['episodes'] == 3 and 'returns' not in summary and 'episode 1' not in result.stdout
  assert summary['openloop']['windows'] == 3 * (41 // (5 + horizon))
  import imageio.v2 as imageio
  reader = imageio.get_reader(mp4)
  assert reader.count_frames() == 2 * 40 and reader.get_meta_data()['fps'] == 50


def test_actor_grads_compares_gradient_draws_without_touching_the_run(trained):
  logdir = trained[0]
  before = snapshot(logdir)
  draws = {}
  for soft in (False, True):
    result = run('-m', 'bench.actor_grads', '--logdir', logdir, '--samples', 3,
                 *(['--soft_gates'] if soft else []))
    assert result.returncode == 0, result.stderr[-3000:]
    draws[soft] = json.loads(result.stdout.strip().splitlines()[-1])
    assert draws[soft]['soft_gates'] == soft and draws[soft]['step'] == 600
    assert -1 <= draws[soft]['cos_mean'] < 0.9999           # imagination samples differ per draw
    assert draws[soft]['grad_norm'] > 0 and np.isfinite(draws[soft]['snr'])
  assert snapshot(logdir) == before
  result = run('-m', 'bench.actor_grads', '--logdir', logdir, '--samples', 1)
  assert result.returncode == 2 and '--samples must be >= 2' in result.stderr


def test_cell_stats_reports_saturation_without_touching_the_run(trained, tmp_path):
  logdir = trained[0]
  before = snapshot(logdir)
  result = run('-m', 'bench.cell_stats', '--logdir', logdir)
  assert result.returncode == 0, result.stderr[-3000:]
  stats = json.loads(result.stdout.strip().splitlines()[-1])
  assert stats['step'] == 600 and stats['layer_norm'] is False      # VSG's cell, as in `sgru`
  for key in ('cand_saturated', 'deter_saturated'):
    assert 0 <= stats[key] <= 1
  assert 0 < stats['update_prob_mean'] < 1 and stats['update_unit_std'] > 0
  assert snapshot(logdir) == before
  svsg = tmp_path / 'svsg'
  svsg.mkdir()
  config = (logdir / 'config.yaml').read_text()
  assert 'dynamics: rssm' in config
  (svsg / 'config.yaml').write_text(config.replace('dynamics: rssm', 'dynamics: svsg'))
  result = run('-m', 'bench.cell_stats', '--logdir', svsg)
  assert result.returncode == 2 and "uses dynamics 'svsg'" in result.stderr


def test_gradient_consistency_figures():
  from bench import actor_grads
  figures = actor_grads.consistency([[1.0, 0.0], [0.0, 1.0]])
  # mean (0.5, 0.5): squared norm 0.5 over a mean squared deviation of 0.5
  assert figures == pytest.approx({'cos_mean': 0.0, 'snr': 1.0, 'grad_norm': 1.0})
  figures = actor_grads.consistency([[1.0, 1.0], [2.0, 2.0], [-1.0, -1.0]])
  assert figures['cos_mean'] == pytest.approx(-1 / 3)


def test_openloop_windows_cut_episodes_into_replay_like_sequences():
  import evaluate
  episode = {k: np.zeros((45, 2)) for k in ('image', 'action', 'is_terminal')}
  episode['reward'] = np.arange(45.0)
  episode['is_first'] = np.arange(45) == 0
  batch = evaluate.openl_windows([episode, episode], 20)
  assert batch['reward'].shape == (4, 20) and batch['action'].shape == (4, 20, 2)
  assert batch['reward'][:, 0].tolist() == [0, 20, 0, 20]          # 2 whole windows per episode
  assert batch['is_first'][:, 0].all() and not batch['is_first'][:, 1:].any()
  assert episode['is_first'][20] == False                         # the episode is not changed


def one_line_error(result, *parts):
  assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
  helpers.one_line(result.stderr, *parts)


def test_evaluate_refuses_bad_logdirs_in_one_line(trained, tmp_path):
  logdir = trained[0]
  one_line_error(run('evaluate.py', '--logdir', tmp_path / 'nothing'), 'nothing', 'not a directory')
  copy = tmp_path / 'copy'
  copy.mkdir()
  shutil.copy(logdir / 'config.yaml', copy)
  one_line_error(run('evaluate.py', '--logdir', copy), 'checkpoint.npz does not exist')
  one_line_error(run('evaluate.py', '--logdir', logdir, '--openloop_from', copy),
                 'no readable episodes', 'train_episodes')
  (copy / 'checkpoint.npz').write_bytes(np.random.default_rng(0).bytes(5000))
  one_line_error(run('evaluate.py', '--logdir', copy), 'checkpoint.npz')
  shutil.copy(logdir / 'checkpoint.npz', copy)
  text = (copy / 'config.yaml').read_text().replace('deter: 32', 'deter: 48')
  (copy / 'config.yaml').write_text(text)   # as if the logdir held another model's config
  one_line_error(run('evaluate.py', '--logdir', copy), 'checkpoint', 'vsg on dmc_cartpole_balance')
  # A retired setting the code no longer offers (renamed keys are upgraded: configlib.upgrade).
  (copy / 'config.yaml').write_text('rssm: {std_act: softplus}\n')
  one_line_error(run('evaluate.py', '--logdir', copy), 'rssm.std_act', 'always 2 sigmoid')
