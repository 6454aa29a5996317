"""plot.py: binning (spec h.38), aggregation over seeds, tables, figures, filters, bad input."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import plot
from tests import helpers

ROOT = helpers.ROOT
SCORES = ROOT / 'scores'   # the published curves shipped with the project
PAPER_DMC = SCORES / 'vsg-paper-dmc.json'
PAPER_BBS = SCORES / 'vsg-paper-bringbackshapes.json'
UPSTREAM = SCORES / 'dreamerv2-dmc-vision.json'
needs_scores = pytest.mark.skipif(
    not all(p.exists() for p in (PAPER_DMC, PAPER_BBS, UPSTREAM)),
    reason=f'published score files not found in {SCORES}')


def write_run(root, task, method, seed, rows, end='\n'):
  path = root / task / method / str(seed) / 'metrics.jsonl'
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text('\n'.join(r if isinstance(r, str) else json.dumps(r) for r in rows) + end)
  return path


def evals(steps, values):
  return [{'step': s, 'eval_return': v} for s, v in zip(steps, values)]


def rows_by(outdir):
  return {(r['task'], r['method']): r for r in json.loads((outdir / 'scores.json').read_text())}


def test_binning_example_of_h38():
  ys = [100.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # at x = 0, 5K, 10K, 15K, 20K, 25K
  xs, means = plot.bin_run([0, 5e3, 10e3, 15e3, 20e3, 25e3], ys, 10e3)
  np.testing.assert_array_equal(xs, [10e3, 20e3])
  np.testing.assert_allclose(means, [1.5, 3.5])
  xs, means = plot.bin_run([10e3, 30e3], [1.0, 3.0], 10e3)  # an empty bin is NaN
  np.testing.assert_array_equal(xs, [10e3, 20e3, 30e3])
  assert means[0] == 1.0 and math.isnan(means[1]) and means[2] == 3.0
  xs, means = plot.bin_run([5e3, 10e3, 15e3, 20e3], [1.0, 2.0, 3.0, 4.0], 10e3, xlim=15e3)
  np.testing.assert_array_equal(xs, [10e3])  # data past xlim dropped before binning
  assert len(plot.bin_run([0, 5e3], [1.0, 2.0], 10e3)[0]) == 0


def test_mean_and_std_over_seeds_leave_out_a_seed_that_stopped(tmp_path, capsys):
  steps = [10_000 * k for k in range(0, 11)]  # evaluations every 10K up to 100K
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 0, evals(steps, [0.0] + [10.0] * 10))
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 1, evals(steps, [0.0] + [20.0] * 10))
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 2, evals(steps[:6], [0.0] + [60.0] * 5))  # to 50K
  write_run(tmp_path, 'dmc_walker_walk', 'dreamerv2', 0,
            [{'step': s, 'eval_return': float(s) / 1000, 'train_return': 1.0} for s in steps]
            + [{'step': 5, 'train_loss': 2.0}])
  summary = plot.main([str(tmp_path), '--bins', '5e4', '--reps', '20'])
  outdir = tmp_path / 'plots'
  assert summary['outdir'] == str(outdir)
  assert summary['panels'] == {'dmc': 1}
  for name in ('dmc.png', 'dmc.pdf', 'scores.md', 'scores.json', 'curves.json'):
    assert (outdir / name).stat().st_size > 0
  curve = summary['curves'][('dmc_walker_walk', 'ours', 'vsg')]
  np.testing.assert_array_equal(curve['xs'], [5e4, 1e5])
  np.testing.assert_allclose(curve['mean'], [30.0, 15.0])  # seed 2 is out of the second bin
  np.testing.assert_allclose(curve['std'], [np.std([10, 20, 60]), 5.0])
  np.testing.assert_array_equal(curve['count'], [3, 2])
  runs = {(r['method'], r['seed']): r for r in json.loads((outdir / 'curves.json').read_text())}
  assert sorted(runs) == [('dreamerv2', '0'), ('vsg', '0'), ('vsg', '1'), ('vsg', '2')]
  assert runs[('vsg', '2')] == {'task': 'dmc_walker_walk', 'method': 'vsg', 'seed': '2',
                                'xs': [5e4], 'ys': [60.0]}
  assert runs[('dreamerv2', '0')]['ys'] == [30.0, 80.0]  # mean of 10..50 and of 60..100
  rows = rows_by(outdir)
  ours = rows[('dmc_walker_walk', 'vsg')]['ours']  # at the last bin every seed reached
  assert ours['x'] == 5e4 and ours['n'] == 3 and ours['seeds'] == 3
  assert ours['mean'] == pytest.approx(30.0) and ours['std'] == pytest.approx(np.std([10, 20, 60]))
  assert rows[('dmc_walker_walk', 'dreamerv2')]['ours']['mean'] == pytest.approx(80.0)
  table = (outdir / 'scores.md').read_text()
  assert '| dmc_walker_walk | vsg | 30.0 ± 21.6 (n=3/3, 50K) |' in table
  out = capsys.readouterr().out
  assert 'dmc.png, .pdf: 1 panels, 1 tasks, 2 method/source curves' in out


def test_our_curves_serve_as_baselines(tmp_path):
  for seed, value in enumerate([1.0, 3.0]):
    write_run(tmp_path / 'runs', 'shapeherd', 'svsg', seed,
              evals([1e5 * k for k in range(1, 5)], [value * k for k in range(1, 5)]))
  first = plot.main([str(tmp_path / 'runs'), '--outdir', str(tmp_path / 'a')])
  assert first['panels'] == {'shapeherd': 1}
  again = plot.main(['--baselines', f"mine={tmp_path / 'a' / 'curves.json'}",
                     '--outdir', str(tmp_path / 'b')])
  ours, theirs = first['curves'][('shapeherd', 'ours', 'svsg')], again['curves'][
      ('shapeherd', 'mine', 'svsg')]
  np.testing.assert_allclose(theirs['mean'], ours['mean'])
  np.testing.assert_allclose(theirs['mean'], [2.0, 4.0, 6.0, 8.0])
  np.testing.assert_allclose(theirs['std'], [1.0, 2.0, 3.0, 4.0])
  assert rows_by(tmp_path / 'b')[('shapeherd', 'svsg')]['baselines']['mine']['mean'] == 8.0


def test_xlim_drops_later_data_and_sets_the_final_bin(tmp_path):
  write_run(tmp_path, 'dmc_cartpole_swingup', 'svsg', 0,
            evals([2.5e4 * k for k in range(1, 9)], [float(k) for k in range(1, 9)]))
  summary = plot.main([str(tmp_path), '--xlim', '1e5', '--reps', '20'])
  curve = summary['curves'][('dmc_cartpole_swingup', 'ours', 'svsg')]
  np.testing.assert_array_equal(curve['xs'], [5e4, 1e5])
  np.testing.assert_allclose(curve['mean'], [1.5, 3.5])
  assert rows_by(tmp_path / 'plots')[('dmc_cartpole_swingup', 'svsg')]['ours']['x'] == 1e5


def test_bad_metrics_are_reported_by_path_and_skipped(tmp_path, capsys):
  good = write_run(tmp_path, 'dmc_walker_walk', 'vsg', 0, evals([1e4, 5e4], [1.0, 3.0]) +
                   ['not json', '[1, 2]', '{"step": 6e4, "eval_return": "high"}',
                    '{"step": 7e4, "eval_return": null}', '{"step": 8e4, "eval_re'], end='')
  empty = write_run(tmp_path, 'dmc_walker_walk', 'vsg', 1, [], end='')
  useless = write_run(tmp_path, 'dmc_walker_walk', 'vsg', 2, [{'step': 1e4, 'train_return': 1.0}])
  short = write_run(tmp_path, 'dmc_walker_walk', 'vsg', 3, evals([1e4], [5.0]))
  summary = plot.main([str(tmp_path), '--bins', '5e4', '--reps', '20'])
  err = capsys.readouterr().err
  assert f'{good}:3: not JSON; skipped' in err
  assert f'{good}:4: not a JSON object; skipped' in err
  assert f"{good}:5: 'high' is not a number; skipped" in err
  assert f'{good}:7: partial last line (still being written?); skipped' in err
  assert f'{good}:6' not in err  # null values are skipped quietly
  assert f'{empty}: empty file; skipped' in err
  assert f'{useless}: no rows with both step and eval_return; skipped' in err
  assert f'{short}: no data in a complete bin of width 50000; skipped' in err
  curve = summary['curves'][('dmc_walker_walk', 'ours', 'vsg')]
  assert curve['seeds'] == 1 and curve['mean'].tolist() == [2.0]


def test_list_values_are_averaged(tmp_path):
  write_run(tmp_path, 'shapeherd', 'vsg', 0, [{'step': 1e5, 'eval_return': [1.0, 3.0]}])
  assert plot.main([str(tmp_path)])['curves'][('shapeherd', 'ours', 'vsg')]['mean'][0] == 2.0


@pytest.mark.parametrize('extra', [[], ['--tasks', 'atari'], ['--methods', '^nothing$']])
def test_no_input_is_a_one_line_error(tmp_path, capsys, extra):
  write_run(tmp_path / 'runs', 'dmc_walker_walk', 'vsg', 0, evals([5e4], [1.0]))
  argv = [str(tmp_path / ('runs' if extra else 'empty'))] + extra
  with pytest.raises(SystemExit) as exit_info:
    plot.main(argv)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith('error: nothing to plot: no runs with step and eval_return under')
  assert not (tmp_path / 'runs' / 'plots').exists()


def test_help_documents_the_defaults(capsys):
  with pytest.raises(SystemExit) as exit_info:
    plot.main(['--help'])
  assert exit_info.value.code == 0
  text = ' '.join(capsys.readouterr().out.split())
  for phrase in ('dmc 5e4', 'shapeherd and bringbackshapes 1e5', '--paper', 'LABEL=FILE',
                 'pads short seeds with their last value'):
    assert phrase in text


def test_plot_does_not_import_tensorflow():
  code = 'import sys, plot; sys.exit("tensorflow" in sys.modules)'
  assert subprocess.run([sys.executable, '-c', code], cwd=ROOT).returncode == 0


@needs_scores
def test_published_score_files(tmp_path, capsys):
  """All three files, no runs of ours: both figures, one panel per dmc task (12 paper + 8 more)."""
  files = [str(p) for p in (PAPER_DMC, PAPER_BBS, UPSTREAM)]
  summary = plot.main(['--baselines', *files, '--outdir', str(tmp_path), '--xlim', '5e5',
                       '--reps', '20'])
  dmc_tasks = {r['task'] for f in (PAPER_DMC, UPSTREAM) for r in json.loads(f.read_text())
               if r['task'].startswith('dmc_')}
  assert summary['panels'] == {'dmc': len(dmc_tasks), 'shapeherd': 16} and len(dmc_tasks) == 20
  for name in ('dmc.png', 'dmc.pdf', 'shapeherd.png', 'shapeherd.pdf'):
    assert (tmp_path / name).stat().st_size > 10_000
  assert summary['methods']['dmc'] == ['DreamerV1 (paper)', 'DreamerV2 (paper)',
                                      'dreamerv2 (upstream)', 'SVSG (paper)', 'VSG (paper)']
  assert json.loads((tmp_path / 'curves.json').read_text()) == []
  rows = rows_by(tmp_path)
  walker = {m: rows[('dmc_walker_walk', m)]['baselines']['paper'] for m in ('DreamerV2', 'VSG',
                                                                            'SVSG')}
  assert {m: round(s['mean']) for m, s in walker.items()} == {'DreamerV2': 940, 'VSG': 918,
                                                             'SVSG': 948}  # spec g.2
  assert all(s['x'] == 5e5 and s['n'] == 5 for s in walker.values())
  both = rows[('dmc_walker_walk', 'DreamerV2')]['baselines']  # matched across case
  assert both['upstream']['method'] == 'dreamerv2' and both['upstream']['x'] == 4.5e5
  err = capsys.readouterr().err
  assert 'upstream: stats_normalized_mean: 5 records have no data in a complete bin' in err


@needs_scores
def test_paper_flag_filters_and_rename(tmp_path):
  summary = plot.main(['--paper', '--baselines', str(PAPER_DMC), str(PAPER_BBS), '--outdir',
                       str(tmp_path), '--rename', 'VSGC=VSG(C)', '--methods', '^(VSG|Dreamer)',
                       '--reps', '20'])
  assert summary['panels'] == {'dmc': 8, 'shapeherd': 1}
  assert summary['methods']['shapeherd'] == ['DreamerV2 (paper)', 'VSG(C) (paper)']
  rows = rows_by(tmp_path)
  bbs = 'bringbackshapes_sparse_distract0_size1.0'
  score = rows[(bbs, 'VSG(C)')]['baselines']['paper']  # spec g.3: 2.59 +- 0.66 at 1M
  assert (score['x'], round(score['mean'], 2), round(score['std'], 2)) == (1e6, 2.59, 0.66)
  assert rows[(bbs, 'DreamerV2')]['baselines']['paper']['mean'] == pytest.approx(1.48)
  assert (bbs, 'SVSG') not in rows and ('dmc_walker_walk', 'SVSG') not in rows
  assert rows[('dmc_quadruped_walk', 'VSG')]['baselines']['paper']['x'] == 5e5
  narrow = plot.main(['--baselines', str(PAPER_DMC), '--outdir', str(tmp_path / 'n'),
                      '--tasks', 'walker', '--methods', 'SVSG', '--reps', '20'])
  assert narrow['panels'] == {'dmc': 2} and narrow['methods']['dmc'] == ['SVSG (paper)']
  assert not (tmp_path / 'n' / 'shapeherd.png').exists()


@needs_scores
def test_our_runs_beside_the_paper(tmp_path, monkeypatch):
  """--rename_tasks pairs our shapeherd with the paper's basic variant; VSG meets VSGC in a row."""
  for seed in range(2):
    write_run(tmp_path / 'runs', 'shapeherd', 'vsg', seed,
              evals([2e5 * k for k in range(1, 6)], [0.5 * k + seed for k in range(1, 6)]))
  monkeypatch.chdir(tmp_path)
  summary = plot.main([str(tmp_path / 'runs'), '--paper', '--baselines', str(PAPER_BBS),
                       '--rename_tasks', 'bringbackshapes_sparse_distract0_size1.0=shapeherd'])
  assert summary['outdir'] == str(tmp_path / 'runs' / 'plots')
  assert summary['panels'] == {'shapeherd': 1} and summary['tasks']['shapeherd'] == ['shapeherd']
  row = rows_by(tmp_path / 'runs' / 'plots')[('shapeherd', 'vsg')]
  assert row['ours'] == {'mean': 3.0, 'std': 0.5, 'n': 2, 'seeds': 2, 'x': 1e6, 'method': 'vsg'}
  assert row['baselines']['paper']['method'] == 'VSGC'
  assert row['baselines']['paper']['mean'] == pytest.approx(2.59)
  only = plot.main(['--baselines', str(PAPER_BBS), '--tasks', r'distract0_size1\.0'])
  assert only['outdir'] == 'plots' and (tmp_path / 'plots' / 'shapeherd.png').exists()


def test_layouts_plot_cannot_read_are_warned_by_path(tmp_path, capsys):
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 0, evals([5e4], [1.0]))
  # task/seed/method
  swapped = write_run(tmp_path, 'dmc_walker_walk', '0', 'vsg', evals([5e4], [2.0]))
  shallow = tmp_path / 'dmc_cheetah_run' / 'vsg' / 'metrics.jsonl'                   # no seed level
  shallow.parent.mkdir(parents=True)
  shallow.write_text(json.dumps({'step': 5e4, 'eval_return': 3.0}) + '\n')
  summary = plot.main([str(tmp_path), '--reps', '20'])
  err = capsys.readouterr().err
  assert f'{swapped}: looks like <task>/<seed>/<method>' in err
  assert f'{shallow}: not at LOGDIR/<task>/<method>/<seed>/metrics.jsonl' in err
  assert set(summary['curves']) == {('dmc_walker_walk', 'ours', 'vsg')}
  assert summary['curves'][('dmc_walker_walk', 'ours', 'vsg')]['mean'].tolist() == [1.0]


def test_an_unwritable_outdir_is_a_one_line_error(tmp_path, capsys):
  write_run(tmp_path / 'runs', 'dmc_walker_walk', 'vsg', 0, evals([5e4], [1.0]))
  (tmp_path / 'file').write_text('')
  with pytest.raises(SystemExit) as exit_info:
    plot.main([str(tmp_path / 'runs'), '--outdir', str(tmp_path / 'file' / 'plots')])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(
      f'error: cannot write to --outdir {tmp_path}/file/plots')


@pytest.mark.slow  # draws the whole figure twice
def test_a_long_legend_makes_the_figure_taller_not_the_panel_smaller(tmp_path):
  # One panel and long method names: one legend entry per row, 8 rows, more than the base height
  # holds.
  from PIL import Image
  heights = {}
  for count in (2, 8):
    for k in range(count):
      write_run(tmp_path / str(count), 'dmc_walker_walk', f'vsg_ablation_number_{k}', 0,
                evals([1e4, 2e4, 3e4], [10.0 * k, 20.0, 30.0]))
    plot.main([str(tmp_path / str(count)), '--outdir', str(tmp_path / f'out{count}')])
    with Image.open(tmp_path / f'out{count}' / 'dmc.png') as image:
      heights[count] = image.size[1]
  # 4 rows beyond the free ones, 0.22 inches each at 150 dpi.
  assert heights[8] - heights[2] == pytest.approx(4 * 0.22 * 150, abs=2)


# --- Sources: the shipped scores, labelled inputs, merges, --compare (issue 27)

def test_a_clone_plots_the_paper_from_the_shipped_scores_alone(tmp_path):
  # The default baselines are the project's scores/, whatever lies beside the repo.
  result = subprocess.run([sys.executable, str(ROOT / 'plot.py'), '--paper', '--outdir',
                           str(tmp_path / 'p'), '--reps', '20'], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  for name in ('dmc.png', 'shapeherd.png', 'aggregate.json', 'aggregate.png', 'scores.md'):
    assert (tmp_path / 'p' / name).stat().st_size > 1000
  sources = {row['source']
             for row in json.loads((tmp_path / 'p' / 'aggregate.json').read_text())['rows']}
  assert sources == {'paper', 'upstream'}
  readme = (ROOT / 'scores' / 'README.md').read_text()
  for path in (PAPER_DMC, PAPER_BBS, UPSTREAM):
    assert path.name in readme and 'MIT' in readme


def write_upstream_run(root, task, seed, values):
  """A run directory as upstream DreamerV2 writes it: bare step rows, NaN tokens, train and eval
  rows apart, its own config.yaml."""
  run = root / task / 'dreamerv2' / str(seed)
  run.mkdir(parents=True)
  lines = ['{"step": 0}']
  for k, value in enumerate(values, 1):
    lines += [f'{{"step": {k * 5000}, "train_return": {value - 10}, "train_length": 1000, '
              f'"model_loss": NaN, "fps": 12.5}}', f'{{"step": {k * 5000}}}',
              f'{{"step": {k * 5000}, "eval_return": {value}, "eval_length": 1000}}']
  (run / 'metrics.jsonl').write_text('\n'.join(lines) + '\n')
  (run / 'config.yaml').write_text(f'logdir: {run}\ntask: {task}\nsteps: 1e8\nprecision: 16\n'
                                   'rssm: {hidden: 1024, deter: 1024}\n')


def test_named_sources_keep_upstream_runs_apart_and_compare_against_them(tmp_path, capsys):
  ours, mine = tmp_path / 'ours', tmp_path / 'upstream'
  for seed in range(2):
    for method, value in (('dreamerv2', 300.0), ('vsg', 500.0)):
      write_run(ours, 'dmc_walker_walk', method, seed,
                evals([5e3 * k for k in range(1, 11)], [value + 10 * seed] * 10))
    write_upstream_run(mine, 'dmc_walker_walk', seed, [100.0 + seed] * 10)
  summary = plot.main([str(ours), f'mine={mine}', '--compare', 'mine', '--outdir',
                       str(tmp_path / 'out'), '--reps', '20'])
  assert summary['methods']['dmc'] == ['dreamerv2 (mine)', 'dreamerv2 (ours)', 'vsg (ours)']
  row = rows_by(tmp_path / 'out')[('dmc_walker_walk', 'dreamerv2')]
  assert row['ours']['mean'] == 305.0 and row['baselines']['mine']['mean'] == 100.5   # not merged
  assert row['baselines']['mine']['n'] == 2
  table = (tmp_path / 'out' / 'scores.md').read_text()
  assert '| ours | mine |' in table
  aggregate = json.loads((tmp_path / 'out' / 'aggregate.json').read_text())['rows']
  by = {(r['source'], r['method']): r for r in aggregate}
  versus = 'probability_of_improvement_over_mine_dreamerv2'
  assert by[('ours', 'vsg')][versus]['value'] == 1.0               # every run above theirs
  assert by[('ours', 'dreamerv2')][versus]['value'] == 1.0         # ours against upstream's
  assert by[('ours', 'vsg')]['probability_of_improvement_over_dreamerv2']['value'] == 1.0
  assert 'P(> dreamerv2 (mine))' in (tmp_path / 'out' / 'aggregate.md').read_text()
  assert 'one curve from' not in capsys.readouterr().err           # labelled: nothing merged
  # Unlabelled, the upstream runs merge into ours: said, naming both inputs and the reused seeds.
  merged = plot.main([str(ours), str(mine), '--outdir', str(tmp_path / 'm'), '--reps', '20'])
  err = capsys.readouterr().err
  assert f'dmc_walker_walk dreamerv2 (ours): one curve from 2 inputs, {ours} and {mine}' in err
  assert 'both use seed 0, 1: counted as separate seeds' in err
  assert rows_by(tmp_path / 'm')[('dmc_walker_walk', 'dreamerv2')]['ours']['seeds'] == 4
  assert merged['methods']['dmc'] == ['dreamerv2 (ours)', 'vsg (ours)']
  # A baseline labelled like the published upstream file merges with it: said too.
  binned = tmp_path / 'm' / 'curves.json'
  plot.main([str(ours), '--baselines', str(UPSTREAM), f'upstream={binned}', '--outdir',
             str(tmp_path / 'b'), '--reps', '20'])
  err = capsys.readouterr().err
  assert (f'dmc_walker_walk dreamerv2 (upstream): one curve from 2 inputs, {UPSTREAM} and {binned}'
          in err)


def test_compare_names_a_source_with_a_dreamerv2(tmp_path, capsys):
  write_run(tmp_path / 'runs', 'dmc_walker_walk', 'vsg', 0, evals([5e4], [1.0]))
  with pytest.raises(SystemExit) as exit_info:
    plot.main([str(tmp_path / 'runs'), '--compare', 'nobody', '--outdir', str(tmp_path / 'o')])
  assert exit_info.value.code == 2
  assert '--compare nobody: no dreamerv2 curve of that source' in capsys.readouterr().err
