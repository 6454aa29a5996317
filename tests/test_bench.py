"""bench/precisions.py: which cells run at a reduced batch, and what a cell reports."""

import importlib.util
import json
from tests import helpers

ROOT = helpers.ROOT


def load_precisions():
  spec = importlib.util.spec_from_file_location('precisions', ROOT / 'bench' / 'precisions.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_float16_cells_beyond_debug_run_at_the_slow_batch(monkeypatch, capsys):
  precisions = load_precisions()
  calls = []

  def fake_cell(method, size, precision, part, steps, warmup, timeout, flags=()):
    calls.append((size, precision, steps, warmup, list(flags)))
    return {'method': method, 'size': size, 'precision': precision, 'part': part,
            'batch': int(flags[1]) if flags else 16, 'median_s': 1.0, 'first_call_s': 2.0,
            'traces': 1}

  monkeypatch.setattr(precisions, 'run_cell', fake_cell)
  code = precisions.main(['--sizes', 'debug', 'upstream_dmc', '--methods', 'vsg', '--parts',
                          'agent', '--precisions', '32', '16', '--slow_batch', '2'])
  assert code == 0
  assert calls == [('debug', '32', 5, 1, []), ('debug', '16', 5, 1, []),
                   ('upstream_dmc', '32', 5, 1, []),
                   ('upstream_dmc', '16', 1, 0, ['--dataset.batch', '2'])]
  lines = capsys.readouterr().out.strip().splitlines()
  assert 'batch 2' in lines[-2]
  assert [cell['batch'] for cell in json.loads(lines[-1])] == [16, 16, 16, 2]
  calls.clear()
  precisions.main(['--sizes', 'upstream_dmc', '--methods', 'vsg', '--parts', 'agent',
                   '--precisions', '16', '--slow_batch', '0'])
  assert calls == [('upstream_dmc', '16', 1, 0, [])]
