"""The memory probe (issue 26): its bookkeeping and probes on tiny synthetic data, its episodes, and
one whole tiny run of `python -m analysis.memory` at debug sizes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from analysis import memory_data
from analysis import memory_plot
from analysis import probe
from envs import shapeherd

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)


def test_steps_since_seen_and_last_seen_positions():
  visible = np.array([[0, 1], [1, 0], [0, 0], [0, 1], [0, 0]], bool)     # (T=5, K=2)
  since = probe.steps_since_seen(visible)
  assert since.tolist() == [[-1, 0], [0, 1], [1, 2], [2, 0], [3, 1]]
  positions = np.arange(5 * 2 * 2, dtype=np.float64).reshape(5, 2, 2)
  last = probe.last_seen_positions(positions, visible)
  assert np.isnan(last[0, 0]).all()                                      # not seen yet
  assert last[4, 0].tolist() == positions[1, 0].tolist()                 # seen at t = 1
  assert last[4, 1].tolist() == positions[3, 1].tolist()                 # seen at t = 3


def test_pixel_errors_split_object_pixels_from_the_rest():
  from analysis.memory import PixelErrors
  image = np.zeros((3, 4, 4, 3), np.uint8)                 # T=3 frames of black floor
  image[:, 0, 0] = shapeherd.COLORS['red']                 # one object pixel per frame
  error = np.full((1, 5, 4, 4), 0.1, np.float32)           # padded to 5 steps: 2 never read
  error[0, :3, 0, 0] = 0.9
  pixels = PixelErrors()
  pixels.add(error, [{'image': image}])
  report = pixels.report()
  assert report['object_pixel_error'] == pytest.approx(0.9)
  assert report['other_pixel_error'] == pytest.approx(0.1)
  assert report['no_object_pixel_error'] == pytest.approx(1.0)   # red against black: (1, 0, 0)
  assert report['object_pixel_fraction'] == pytest.approx(1 / 16)


def synthetic(rng, episodes=8, steps=200, encoded=True):
  """Episodes of 2 objects on random walks; the state encodes their positions linearly (plus
  noise and distractor units) or holds noise only."""
  feats, positions = [], []
  mix = rng.normal(size=(4, 12))
  for _ in range(episodes):
    pos = 400 + np.cumsum(rng.normal(0, 5, (steps, 2, 2)), 0)
    noise = rng.normal(size=(steps, 12))
    feat = pos.reshape(steps, 4) @ mix / 100 + 0.01 * noise if encoded else noise
    feats.append(feat)
    positions.append(pos)
  return feats, positions


def test_a_probe_recovers_a_position_the_state_encodes_and_not_one_it_does_not():
  rng = np.random.default_rng(0)
  feats, positions = synthetic(rng)
  probes = probe.fit_probes(feats[:4], positions[:4])
  error = np.linalg.norm(probe.predict(probes, np.concatenate(feats[4:]))
                         - np.concatenate(positions[4:]), axis=-1).mean()
  assert error < 2.0                                          # arena units: recovered
  feats, positions = synthetic(rng, encoded=False)
  probes = probe.fit_probes(feats[:4], positions[:4])
  predicted = probe.predict(probes, np.concatenate(feats[4:]))
  truth = np.concatenate(positions[4:])
  mean = np.concatenate(positions[:4]).mean(0)
  blind = np.linalg.norm(predicted - truth, axis=-1).mean()
  baseline = np.linalg.norm(mean - truth, axis=-1).mean()
  assert blind > 0.8 * baseline and blind > 10 * error        # no better than the mean


def test_probes_per_bin_read_what_the_state_holds_in_each_bin():
  """The state shows each object's position while it is in view and noise after: the bin-0 probe
  recovers it, later bins do no better than their mean, and a single probe over every step reads
  the in-view position far worse (why analysis/probe.py fits one per bin)."""
  rng = np.random.default_rng(2)
  feats, positions, sinces = [], [], []
  mix = rng.normal(size=(4, 16))
  for _ in range(10):
    pos = rng.uniform(0, 800, (300, 2, 2))                # objects jump: no memory helps
    visible = rng.uniform(size=(300, 2)) < 0.3
    since = probe.steps_since_seen(visible)
    shown = np.where(visible[..., None], pos, 0).reshape(300, 4)
    feats.append(shown @ mix / 100 + 0.01 * rng.normal(size=(300, 16)))
    positions.append(pos)
    sinces.append(since)
  cat = np.concatenate
  groups = cat([np.full(300, i) for i in range(5)])
  binned = probe.BinnedProbes(cat(feats[:5]), cat(positions[:5]), cat(sinces[:5]), groups)
  x, truth, since = cat(feats[5:]), cat(positions[5:]), cat(sinces[5:])
  report = probe.binned_errors(binned(x, since), truth, since, truth, binned.means(since))
  assert report['error'][0] < 0.05 * report['mean_error'][0]          # in view: recovered
  filled = [b for b in range(1, 4) if report['error'][b] is not None]
  assert filled and all(report['error'][b] > 0.9 * report['mean_error'][b] for b in filled)
  assert report['error'][5] is None and report['count'][5] == 0       # no rows: no probe
  assert np.isnan(binned(x, np.full_like(since, 500))).all()          # a bin without a probe
  single = probe.fit_probes(feats[:5], positions[:5])
  one = probe.binned_errors(probe.predict(single, x), truth, since, truth, truth.mean(0))
  assert one['error'][0] > 5 * report['error'][0]


def test_a_reference_without_a_probe_for_a_bin_is_left_out_of_that_bin():
  positions = np.zeros((3, 1, 2))
  since = np.array([[0], [0], [7]])
  predicted = np.full((3, 1, 2), 1.0)
  frame = np.array([[[3.0, 4.0]], [[np.nan, np.nan]], [[np.nan, np.nan]]])
  report = probe.binned_errors(predicted, positions, since, positions, np.zeros((1, 2)),
                               references={'frame_error': frame})
  assert report['frame_error'][:3] == [5.0, None, None]
  assert report['count'][:3] == [2, 0, 1]


def test_frame_features_keep_an_object_in_view():
  from analysis.memory import frame_features
  image = np.zeros((2, 64, 64, 3), np.uint8)
  image[1, 8:12, 40:44] = shapeherd.COLORS['red']          # a 4 x 4 pixel object at row 2, col 10
  small = frame_features(image).reshape(2, 16, 16, 3)
  assert small.shape == (2, 16, 16, 3) and small[0].max() == 0
  assert small[1, 2, 10, 0] == pytest.approx(1.0) and small[1].sum() == pytest.approx(1.0)


def test_ridge_chooses_a_strong_penalty_for_noise():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(300, 50)), rng.normal(size=(300, 2))
  assert probe.fit_ridge(x, y, np.arange(300) // 50).alpha >= 100
  with pytest.raises(ValueError, match='at least 2 episodes'):
    probe.fit_ridge(x, y, np.zeros(300))


def test_binned_errors_count_bins_and_leave_out_scored_and_unseen_objects():
  positions = np.zeros((4, 1, 2))
  positions[3] = np.nan                                             # scored
  since = np.array([[0], [3], [-1], [200]])
  predicted = np.array([[[3.0, 4.0]]] * 4)                          # 5 units off everywhere
  last = np.array([[[0.0, 1.0]]] * 4)
  report = probe.binned_errors(predicted, positions, since, last, np.array([[6.0, 8.0]]))
  assert report['bins'] == ['0', '1-5', '6-20', '21-50', '51-150', '>150']
  assert report['count'] == [1, 1, 0, 0, 0, 0]                      # not the unseen, not the scored
  assert report['error'][:2] == [5.0, 5.0] and report['error'][2] is None
  assert report['last_seen_error'][0] == 1.0 and report['mean_error'][0] == 10.0


def test_memory_episodes_name_objects_by_colour_and_record_what_the_agent_sees():
  steps = memory_data.run_episode(3)
  assert len(steps) == 751 and steps[0]['is_first'] and steps[-1]['is_last']   # 3000 env steps / 4
  env = memory_data.DistinctColors()
  env.reset(seed=3)
  colors = [o['color'] for o in env.state()['objects']]
  assert sorted(colors) == sorted(shapeherd.COLOR_NAMES)            # each colour once
  positions, visible = memory_data.object_table(env)
  for obj in env.state()['objects']:                                 # colour order
    assert (tuple(positions[shapeherd.COLOR_NAMES.index(obj['color'])])
            == pytest.approx(obj['position']))
  x0, y0, w, h = env._agent_window()
  inside = [(x0 <= x <= x0 + w and y0 <= y <= y0 + h) for x, y in positions]
  assert visible.tolist() == inside
  seen = np.stack([s['log_visible'] for s in steps])
  assert seen.any() and not seen.all()                              # objects come and go
  scored = sum(s['reward'] > 0 for s in steps)
  assert np.isnan(steps[-1]['log_positions'][:, 0]).sum() >= min(scored, 1)   # scored: NaN


def test_memory_run_at_debug_sizes_writes_records_and_resumes(tmp_path):
  command = [sys.executable, '-m', 'analysis.memory', '--root', str(tmp_path / 'root'), '--methods',
             'dreamerv2', 'svsg', '--seeds', '0', '--episodes', '2', '--heldout', '4', '--updates',
             '3', '--size', 'debug', '--results', str(tmp_path / 'results')]
  result = subprocess.run(command, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  records = json.loads((tmp_path / 'results' / 'memory.json').read_text())
  assert {(r['method'], r['mode'], r['horizon']) for r in records} == {
      (m, mode, h) for m in ('dreamerv2', 'svsg')
      for mode, h in (('posterior', 0), ('binned', 0), ('relative', 0), ('openloop', 5),
                      ('openloop', 15), ('openloop', 50), ('openloop_binned', 5),
                      ('openloop_binned', 15), ('openloop_binned', 50))}
  for record in records:
    assert {'method', 'seed', 'bins', 'error', 'last_seen_error', 'mean_error'} <= set(record)
    assert len(record['error']) == len(probe.BINS) and record['agent_mean_error'] > 0
    if record['mode'] in ('posterior', 'binned'):                  # the frame reference
      assert len(record['frame_error']) == len(probe.BINS) and record['frame_error'][0] > 0
    filled = [e for e in record['error'] if e is not None]
    assert filled and all(np.isfinite(filled))
  assert (tmp_path / 'results' / 'memory.png').stat().st_size > 10_000
  assert (tmp_path / 'results' / 'models' / 'svsg' / '0' / 'train.jsonl').exists()
  assert not list((tmp_path / 'results').rglob('*.npz'))           # no checkpoints, no data
  assert 'open loop 50' in memory_plot.table(records)
  # Run again: every stage is done, nothing is retrained; other settings are refused.
  again = subprocess.run(command, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0 and 'train ' not in again.stdout, again.stdout
  other = command[:]
  other[other.index('--updates') + 1] = '4'
  (tmp_path / 'root' / 'models' / 'svsg' / '0' / 'probe.json').unlink()
  changed = subprocess.run(other + ['--flags', '--rssm.deter 8'], capture_output=True, text=True,
                           timeout=300)
  assert changed.returncode != 0 and 'holds a model trained with' in changed.stderr
