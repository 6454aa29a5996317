"""train.py's command line: bad input exits with one clear line, before TensorFlow is loaded."""


import pytest
from tests import helpers



def run(*args):
  return helpers.python('train.py', *args, timeout=120)


@pytest.mark.parametrize('args, message', [
    (['--configs', 'dmc', 'vsgg'], "unknown config 'vsgg'; valid configs: defaults, dmc,"),
    (['--rssm.detr', '512'], 'unknown flag --rssm.detr; did you mean --rssm.deter?'),
    (['--rssm.deter', 'big'], "flag --rssm.deter expects an int, got 'big'"),
    (['--seed'], 'flag --seed'),
])
def test_bad_input_exits_with_one_line(args, message, tmp_path):
  result = run(*args, '--logdir', str(tmp_path / 'run'))
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and message in lines[0]
  assert 'Traceback' not in result.stderr and not (tmp_path / 'run').exists()


def test_help_lists_keys_with_values():
  result = run('--configs', 'dmc', 'svsg', '--help')
  assert result.returncode == 0
  assert '--dynamics' in result.stdout and 'svsg' in result.stdout
  assert '--sparsity.prior' in result.stdout and '0.4' in result.stdout
