"""plot.py's summary of a run tree (the figures come with the plotting issue)."""

import json

import pytest

import plot


def write_run(root, task, method, seed, rows):
  path = root / task / method / str(seed) / 'metrics.jsonl'
  path.parent.mkdir(parents=True)
  path.write_text('\n'.join(r if isinstance(r, str) else json.dumps(r) for r in rows) + '\n')
  return path


def test_summary_takes_the_last_value_of_each_seed(tmp_path, capsys):
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 0, [{'step': 10, 'eval_return': 1.0},
                                                     {'step': 20, 'eval_return': 4.0}])
  write_run(tmp_path, 'dmc_walker_walk', 'vsg', 1, [{'step': 20, 'eval_return': 6.0}, 'not json'])
  runs = plot.read_runs([tmp_path], 'step', 'eval_return')
  assert sorted(runs[('dmc_walker_walk', 'vsg')].values()) == [(20, 4.0), (20, 6.0)]
  plot.main([str(tmp_path)])
  out = capsys.readouterr()
  assert '5.0 ± 1.4' in out.out
  assert 'metrics.jsonl:2 is not JSON; skipped' in out.err


def test_no_runs_is_an_error(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    plot.main([str(tmp_path)])
  assert exit_info.value.code == 2
  assert 'no runs with step and eval_return' in capsys.readouterr().err
