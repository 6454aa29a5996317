"""plot.py's aggregate scores (common/aggregate.py): IQM and friends with stratified-bootstrap
intervals, probability of improvement, profiles, on synthetic runs whose scores are known."""

import json

import numpy as np
import pytest
from rliable import metrics

import plot
from common import aggregate
from tests.test_plot import evals, write_run

REPS = 200


def write_grid(root, method, scores_by_task, steps=(5e4, 1e5)):
  """One run per score: evaluations at `steps`, the last one returning the score."""
  for task, scores in scores_by_task.items():
    for seed, score in enumerate(scores):
      write_run(root, task, method, seed, evals(steps, [0.0] * (len(steps) - 1) + [score]))


def read(outdir):
  rows = json.loads((outdir / 'aggregate.json').read_text())['rows']
  return {(row['source'], row['method']): row for row in rows}


def test_iqm_mean_median_and_gap_equal_the_hand_computed_values(tmp_path, capsys):
  # Normalized: 0.1 0.2 0.3 0.4 | 0.5 0.6 0.7 1.0 -> IQM drops 2 low and 2 high: mean(.3 .4 .5 .6);
  # rliable's median is the median of the per-task means (0.25, 0.7); the gap is
  # mean(1 - min(x, 1)).
  write_grid(tmp_path, 'vsg', {'dmc_walker_walk': [100, 200, 300, 400],
                               'dmc_cheetah_run': [500, 600, 700, 1000]})
  summary = plot.main([str(tmp_path), '--bins', '5e4', '--reps', str(REPS)])
  row = read(tmp_path / 'plots')[('ours', 'vsg')]
  expected = {'IQM': 0.45, 'Mean': 0.475, 'Median': 0.475, 'Optimality gap': 0.525}
  for name, value in expected.items():
    assert row[name]['value'] == pytest.approx(value), name
    low, high = row[name]['ci']
    assert low <= value <= high and low < high, name
  assert (row['runs'], row['tasks'], row['runs_left_out']) == (8, 2, 0)
  assert row['final_step'] == {'dmc_cheetah_run': 1e5, 'dmc_walker_walk': 1e5}
  assert row['probability_of_improvement_over_dreamerv2'] is None  # no dreamerv2 to compare with
  for name in ('aggregate.png', 'aggregate.pdf'):
    assert (tmp_path / 'plots' / name).stat().st_size > 10_000
  assert '| vsg | ours | 8 (2) | 0.450 [' in (tmp_path / 'plots' / 'aggregate.md').read_text()
  assert summary['aggregate'][0]['IQM']['value'] == pytest.approx(0.45)
  assert 'aggregate.json, .md, .png, .pdf' in capsys.readouterr().out


def test_intervals_shrink_with_more_runs():
  rng = np.random.default_rng(0)
  tasks = [f'dmc_task{i}' for i in range(4)]
  widths = []
  for runs in (3, 30):
    finals = {('ours', 'vsg'): {t: list(rng.uniform(0.2, 0.8, runs)) for t in tasks}}
    estimate = aggregate.interval_estimates(finals, REPS, seed=0)[('ours', 'vsg')]
    for name in aggregate.NAMES:
      low, high = estimate[name]['ci']
      assert low <= estimate[name]['value'] <= high
    widths.append(np.diff(estimate['IQM']['ci'])[0])
  assert widths[1] < 0.5 * widths[0]  # ~1/sqrt(10) of it


def test_probability_of_improvement_identical_and_dominating(tmp_path):
  base = {'dmc_walker_walk': [100, 300, 500], 'dmc_cheetah_run': [200, 250, 900]}
  write_grid(tmp_path, 'dreamerv2', base)
  write_grid(tmp_path, 'vsg', base)                                                # identical
  write_grid(tmp_path, 'svsg', {t: [max(v) + s for s in v] for t, v in base.items()})  # above all
  write_grid(tmp_path, 'dreamerv1', {t: [0.0] * 3 for t in base})                     # below all
  plot.main([str(tmp_path), '--bins', '5e4', '--reps', str(REPS)])
  rows = read(tmp_path / 'plots')
  same, better, worse = (rows[('ours', m)]['probability_of_improvement_over_dreamerv2']
                         for m in ('vsg', 'svsg', 'dreamerv1'))
  assert same['value'] == 0.5 and same['ci'][0] < 0.5 < same['ci'][1]
  assert better['value'] == 1.0 and better['ci'] == [1.0, 1.0]
  assert worse['value'] == 0.0 and worse['ci'] == [0.0, 0.0]
  assert (better['tasks'], better['runs_each']) == (2, 3)
  assert rows[('ours', 'dreamerv2')]['probability_of_improvement_over_dreamerv2'] is None


def test_vectorized_statistics_equal_rliables():
  rng = np.random.default_rng(1)
  x, y = rng.integers(0, 4, (5, 3)) / 4, rng.integers(0, 4, (7, 3)) / 4  # many ties
  assert aggregate.improvement_probability(x, y) == pytest.approx(
      metrics.probability_of_improvement(x, y))
  cube = rng.uniform(size=(5, 3, 4))
  np.testing.assert_allclose(aggregate.iqm_over_steps(cube),
                             [metrics.aggregate_iqm(cube[..., k]) for k in range(4)])


def test_seed_repeats_the_bootstrap_and_reps_is_its_size(tmp_path):
  write_grid(tmp_path, 'vsg', {'dmc_walker_walk': [100, 200, 300, 400, 800],
                               'dmc_cheetah_run': [500, 600, 700, 900, 50]})
  texts = []
  for seed in (0, 0, 1):
    out = tmp_path / f'p{len(texts)}'
    plot.main([str(tmp_path), '--bins', '5e4', '--reps', str(REPS), '--seed', str(seed),
               '--outdir', str(out)])
    texts.append((out / 'aggregate.json').read_text())
  assert texts[0] == texts[1] and texts[0] != texts[2]
  assert json.loads(texts[2])['reps'] == REPS and json.loads(texts[2])['seed'] == 1


def test_runs_that_stop_early_move_the_final_bin_and_are_reported(tmp_path, capsys):
  write_grid(tmp_path, 'vsg', {'dmc_walker_walk': [100, 200], 'dmc_cheetah_run': [300, 400]},
             steps=(5e4, 1e5, 1.5e5))
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 2, evals([5e4, 1e5], [600, 700]))  # stopped at 100K
  plot.main([str(tmp_path), '--bins', '5e4', '--reps', str(REPS)])
  row = read(tmp_path / 'plots')[('ours', 'vsg')]
  assert row['final_step'] == {'dmc_cheetah_run': 1.5e5, 'dmc_walker_walk': 1e5}
  # walker at 100K (its final bin, as in scores.md): 0, 0, 0.7; cheetah at 150K: 0.3, 0.4. rliable's
  # bootstrap wants a (runs x tasks) rectangle: walker's third run is left out, and reported.
  assert (row['runs'], row['runs_left_out']) == (4, 1)
  assert row['Mean']['value'] == pytest.approx(np.mean([0, 0, 0.3, 0.4]))
  note = capsys.readouterr().out
  assert 'aggregate: vsg (ours): final scores at dmc_cheetah_run 150K, dmc_walker_walk 100K' in note
  assert 'aggregate: vsg (ours): 1 runs left out' in note
  assert 'dmc_walker_walk 100K' in (tmp_path / 'plots' / 'aggregate.md').read_text()


def test_no_aggregate_without_dmc_runs(tmp_path):
  write_run(tmp_path, 'shapeherd', 'vsg', 0, evals([1e5, 2e5], [1.0, 2.0]))
  summary = plot.main([str(tmp_path)])
  assert 'aggregate' not in summary and not (tmp_path / 'plots' / 'aggregate.json').exists()
