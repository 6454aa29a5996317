"""Tests of common/config.py on the real configs.yaml and on small YAML files (no TensorFlow)."""

import json
import textwrap

import pytest

from common.config import CONFIGS_PATH, Config, ConfigError, load_configs, parse, parse_or_exit
from tests.conftest import METHODS

REAL = load_configs()

SMALL = """
defaults:
  seed: 0
  steps: 100
  lr: 0.5
  jit: True
  precision: auto
  sizes: [64, 64]
  heads: [decoder, reward]
  empty: []
  rssm: {deter: 8, stoch: 4, act: elu, latent: categorical}
  encoder: {depth: 32, act: elu}
  model_opt: {lr: 3.0e-4, eps: 1.0e-5, clip: 100.0, wd: 0.0}
  actor_opt: {lr: 8.0e-5, eps: 1.0e-5, clip: 100.0, wd: 0.0}
first:
  seed: 1
  rssm: {deter: 16}
second:
  seed: 2
  encoder.depth: 48
partial:
  model_opt: {lr: 1.0e-4, wd: 1.0e-6}
acts:
  .*\\.act: relu
lrs:
  .*_opt\\.lr: 1e-3
nomatch:
  .*\\.foo: 1
typo:
  rssm: {detr: 3}
badtype:
  rssm.deter: abc
strint:
  precision: 16
floatint:
  steps: 2.0e+3
halfint:
  steps: 2.5
ordered:
  .*\\.act: relu
  rssm.act: tanh
"""


@pytest.fixture
def small(tmp_path):
  path = tmp_path / 'configs.yaml'
  path.write_text(textwrap.dedent(SMALL))
  return load_configs(path)


def error(argv, configs):
  with pytest.raises(ConfigError) as info:
    parse(argv, configs)
  message = str(info.value)
  assert '\n' not in message
  return message


# Composition.

def test_defaults_only(small):
  config = parse([], small)
  assert config.seed == 0 and config.rssm.deter == 8 and config['rssm']['stoch'] == 4
  assert config['rssm.deter'] == 8


def test_later_config_wins(small):
  assert parse(['--configs', 'first', 'second'], small).seed == 2
  assert parse(['--configs', 'second', 'first'], small).seed == 1


def test_partial_nested_dict_keeps_siblings(small):
  config = parse(['--configs', 'first', 'partial'], small)
  assert config.rssm.deter == 16 and config.rssm.stoch == 4 and config.rssm.latent == 'categorical'
  assert config.model_opt.lr == 1e-4 and config.model_opt.wd == 1e-6
  assert config.model_opt.eps == 1e-5 and config.model_opt.clip == 100.0


def test_dotted_key(small):
  config = parse(['--configs', 'second'], small)
  assert config.encoder.depth == 48 and config.encoder.act == 'elu'


def test_regex_key_sets_every_match(small):
  config = parse(['--configs', 'acts'], small)
  assert config.rssm.act == 'relu' and config.encoder.act == 'relu'
  config = parse(['--configs', 'lrs'], small)
  assert config.model_opt.lr == 1e-3 and config.actor_opt.lr == 1e-3
  assert isinstance(config.model_opt.lr, float) and config.model_opt.eps == 1e-5


def test_keys_apply_in_order_within_a_config(small):
  config = parse(['--configs', 'ordered'], small)
  assert config.rssm.act == 'tanh' and config.encoder.act == 'relu'


def test_regex_matching_nothing_is_an_error(small):
  message = error(['--configs', 'nomatch'], small)
  assert "config 'nomatch'" in message and r'.*\.foo' in message and 'matches no key' in message
  assert error([r'--.*\.foo', '1'], small) == r'flag --.*\.foo matches no key'


def test_no_new_keys(small):
  message = error(['--configs', 'typo'], small)
  assert 'rssm.detr' in message and 'did you mean rssm.deter?' in message


# Command-line flags.

def test_flags_override_configs_in_order(small):
  config = parse(['--seed', '7', '--configs', 'first', 'second', '--rssm.deter', '32',
                  '--seed', '9'], small)
  assert config.seed == 9 and config.rssm.deter == 32 and config.encoder.depth == 48


def test_equals_form(small):
  config = parse(['--seed=5', '--rssm.act=relu', '--configs=first'], small)
  assert config.seed == 5 and config.rssm.act == 'relu' and config.rssm.deter == 16


def test_regex_flag(small):
  config = parse([r'--.*\.act', 'relu', r'--.*_opt\.lr=1e-2'], small)
  assert config.rssm.act == config.encoder.act == 'relu'
  assert config.model_opt.lr == config.actor_opt.lr == 0.01


def test_list_flags(small):
  assert (parse(['--heads', 'decoder', 'reward', 'discount'], small).heads
          == ('decoder', 'reward', 'discount'))
  assert parse(['--sizes', '32,48'], small).sizes == (32, 48)
  assert parse(['--sizes=32,48', '--seed', '1'], small).sizes == (32, 48)
  assert parse(['--sizes', '16', '16', '--seed', '1'], small).sizes == (16, 16)
  assert parse(['--empty', 'a', 'b'], small).empty == ('a', 'b')  # an empty default list holds str


def test_scalar_flag_needs_exactly_one_value(small):
  assert 'flag --seed expects one value' in error(['--seed', '1', '2'], small)
  assert 'flag --seed expects one value' in error(['--seed'], small)


def test_non_flag_token_is_an_error(small):
  assert 'expected a --flag' in error(['seed', '1'], small)
  assert "'-h'" in error(['-h'], small)


# Type conversion.

def test_int_conversion(small):
  assert parse(['--steps', '1e6'], small).steps == 1_000_000
  assert parse(['--steps', '2.5e5'], small).steps == 250_000
  assert isinstance(parse(['--steps', '1e6'], small).steps, int)
  assert error(['--steps', '0.5'], small) == "flag --steps expects an int, got '0.5'"
  assert error(['--steps', 'abc'], small) == "flag --steps expects an int, got 'abc'"
  assert parse(['--configs', 'floatint'], small).steps == 2000
  assert "config 'halfint' key steps expects an int" in error(['--configs', 'halfint'], small)


@pytest.mark.parametrize('text, value', [
    ('True', True), ('true', True), ('yes', True), ('1', True),
    ('False', False), ('false', False), ('no', False), ('0', False)])
def test_bool_conversion(small, text, value):
  assert parse(['--jit', text], small).jit is value


def test_bool_rejects_other_values(small):
  assert error(['--jit', 'maybe'], small) == "flag --jit expects a bool, got 'maybe'"


def test_float_conversion(small):
  config = parse(['--lr', '1', '--model_opt.eps', '3e-4'], small)
  assert config.lr == 1.0 and isinstance(config.lr, float) and config.model_opt.eps == 3e-4
  assert 'expects a float' in error(['--lr', 'x'], small)


def test_str_from_yaml_number(small):
  assert parse(['--configs', 'strint'], small).precision == '16'
  assert parse(['--precision', '32'], small).precision == '32'


def test_yaml_strings_parse_like_flags():
  # Some YAML resolvers leave `1e4` or `yes` as strings; a numeric or bool default still parses
  # them.
  configs = {'defaults': {'steps': 1, 'lr': 0.1, 'jit': False},
             'strs': {'steps': '1e4', 'lr': '1e-3', 'jit': 'yes'}}
  config = parse(['--configs', 'strs'], configs)
  assert config.steps == 10_000 and config.lr == 1e-3 and config.jit is True


def test_list_elements_are_typed(small):
  assert error(['--sizes', '32,x'], small) == "flag --sizes expects a list of int, got ['32', 'x']"


# Error messages: one line, naming the bad thing and the valid choices.

def test_unknown_config_name():
  message = error(['--configs', 'dmc', 'dmx'], REAL)
  assert message.startswith("unknown config 'dmx'; valid configs: ")
  assert message.endswith(', '.join(REAL))


def test_unknown_dotted_key_suggests_and_lists_group():
  message = error(['--rssm.detr', '512'], REAL)
  assert message.startswith('unknown flag --rssm.detr; did you mean --rssm.deter?')
  assert '(valid keys under rssm: rssm.act, rssm.classes,' in message


def test_unknown_plain_key_lists_top_level_keys():
  message = error(['--sed', '3'], REAL)
  assert message.startswith('unknown flag --sed; did you mean --seed?')
  assert 'valid keys: ' in message and 'rssm' in message and 'seed' in message


def test_wrong_type_names_flag_and_config(small):
  assert error(['--rssm.deter', 'abc'], small) == "flag --rssm.deter expects an int, got 'abc'"
  assert (error(['--configs', 'badtype'], small)
          == "config 'badtype' key rssm.deter expects an int, got 'abc'")


def test_group_key_is_an_error(small):
  assert 'rssm.deter' in error(['--rssm', '3'], small)


def test_parse_or_exit_bad_flag(capsys):
  with pytest.raises(SystemExit) as info:
    parse_or_exit(['--rssm.detr', '512'])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and err.startswith('error: unknown flag --rssm.detr;')


def test_parse_or_exit_help(capsys):
  with pytest.raises(SystemExit) as info:
    parse_or_exit(['--configs', 'debug', '--help'], prog='train.py')
  assert info.value.code == 0
  out = capsys.readouterr().out
  assert out.startswith('usage: train.py')
  assert len([line for line in out.splitlines() if line.startswith('  --')]) == len(parse([]).flat)
  assert any(line.split()[:3] == ['--rssm.deter', '32', '(int)'] for line in out.splitlines())


def test_help_explains_each_key_from_the_comments_of_configs_yaml(capsys):
  with pytest.raises(SystemExit):
    parse_or_exit(['--configs', 'dmc', 'vsg', '--help'], prog='train.py')
  lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
           if line.startswith('  --')}
  assert 'kappa' in lines['--sparsity.prior']                   # a one-line group's note
  assert 'sparse gated cell of Eq. 2' in lines['--cell.type']     # a key of a block group
  assert lines['--precision'].endswith('16 and bf16 keep variables and losses in float32')
  assert lines['--seed'].endswith('(int)')                         # no comment, no note


def test_parse_or_exit_returns_config():
  assert parse_or_exit(['--seed', '4']).seed == 4


# The Config object.

def test_save_load_round_trip(tmp_path, small):
  config = parse(['--configs', 'strint', 'first', '--sizes', '1,2'], small)
  path = config.save(tmp_path / 'deep' / 'dir' / 'config.yaml')
  assert Config.load(path) == config
  assert Config.load(path).precision == '16'
  text = path.read_text()
  assert '- 1\n' in text and '(' not in text  # plain YAML lists, no tuples


def test_immutable(small):
  config = parse([], small)
  with pytest.raises(AttributeError):
    config.seed = 3
  with pytest.raises(AttributeError):
    config.rssm.deter = 3
  with pytest.raises(TypeError):
    config['seed'] = 3
  with pytest.raises(AttributeError):
    config.sizes.append(3)
  assert config.seed == 0 and config.rssm.deter == 8


def test_update_returns_new_config(small):
  config = parse([], small)
  updated = config.update({'seed': 3, 'rssm': {'deter': 64}, r'.*\.act': 'relu',
                           'model_opt.lr': '1e-2'})
  assert config.seed == 0 and config.rssm.act == 'elu'
  assert updated.seed == 3 and updated.rssm.deter == 64 and updated.rssm.stoch == 4
  assert updated.encoder.act == 'relu' and updated.model_opt.lr == 0.01
  with pytest.raises(ConfigError):
    config.update(nope=1)


def test_mapping_interface(small):
  config = parse([], small)
  assert 'rssm' in config and 'rssm.deter' in config and 'nope' not in config
  assert config.get('nope', 5) == 5 and config.get('seed') == 0
  assert list(config.keys())[:3] == ['seed', 'steps', 'lr']
  assert dict(config.items())['rssm'] == config.rssm
  assert config.flat['rssm.deter'] == 8 and config.flat['sizes'] == (64, 64)
  assert config.to_dict()['sizes'] == [64, 64] and config.to_dict()['rssm']['deter'] == 8
  assert 'rssm.deter:  8' in str(config).splitlines()
  assert 'sizes:  [64, 64]' in str(config).splitlines()
  with pytest.raises(AttributeError, match='deter'):
    config.rssm.detr


# The real configs.yaml.

def test_default_path_is_the_repo_root(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert CONFIGS_PATH.name == 'configs.yaml' and load_configs() == REAL
  assert list(REAL)[0] == 'defaults'


def test_dmc_vsg():
  config = parse(['--configs', 'dmc', 'vsg'])
  assert config.method == 'vsg' and config.cell.type == 'vsg' and config.cell.layer_norm is False
  assert (config.sparsity.prior == 0.4 and config.loss_scales.sparsity == 0.1
          and config.dataset.batch == 50)


def test_shapeherd_gaussian_and_categorical():
  config = parse(['--configs', 'shapeherd', 'vsg_gaussian'])
  assert config.kl.free == 1.0 and config.action_repeat == 4 and config.rssm.latent == 'gaussian'
  assert parse(['--configs', 'shapeherd', 'dreamerv2']).kl.free == 0.0


def test_cli_overrides_real_config():
  config = parse(['--configs', 'dmc', 'vsg', 'debug', '--rssm.deter', '64', '--render_size',
                  '32,32'])
  assert config.rssm.deter == 64 and config.render_size == (32, 32) and config.dataset.batch == 4


SIZES = ['upstream_dmc', 'cpu', 'debug']


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('method', METHODS)
def test_method_and_size_configs_compose_in_either_order(method, size):
  # A size config never changes what a method is (dreamerv1 stays Gaussian under upstream_dmc).
  config = parse(['--configs', 'dmc', method, size])
  assert config == parse(['--configs', 'dmc', size, method])
  assert config.rssm.latent == parse(['--configs', 'dmc', method]).rssm.latent
  assert config.rssm.latent == ('categorical' if method in ('dreamerv2', 'vsg') else 'gaussian')


def test_dmc_restates_nothing_the_defaults_hold():
  # The defaults are the paper's DMC settings; `dmc` is kept as a name, so a restated key cannot
  # silently diverge from its default.
  assert REAL['dmc'] == {} and parse(['--configs', 'dmc']) == parse([])


def test_renamed_key_says_what_replaced_it():
  with pytest.raises(ConfigError, match=r'^flag --rssm.discrete was replaced by rssm.latent '):
    parse(['--rssm.discrete', '0'])
  with pytest.raises(ConfigError,
                     match=r"^config 'old' key gate_scale was replaced by loss_scales"):
    parse(['--configs', 'old'], {**REAL, 'old': {'gate_scale': 0.2}})


def test_the_cells_keys_moved_from_rssm_say_where():
  with pytest.raises(ConfigError, match=r'^flag --rssm.gate was replaced by cell.gate$'):
    parse(['--rssm.gate', 'soft'])
  with pytest.raises(ConfigError, match=r'^flag --rssm.cell was replaced by cell.type$'):
    parse(['--rssm.cell', 'vsg'])


@pytest.mark.parametrize('argv, message', [
    (['--configs', 'svsg', '--cell.type', 'gru'],
     "--dynamics svsg needs a gated --cell.type (one of ['vsg']), got 'gru'"),
    (['--configs', 'svsg', '--rssm.latent', 'categorical'],
     "--dynamics svsg needs --rssm.latent gaussian"),
    (['--configs', 'dreamerv2', '--cell.gate', 'soft'],
     "--cell.gate soft needs a gated --cell.type (one of ['vsg']), got 'gru'"),
])
def test_rules_between_keys_are_checked_at_parse_time(argv, message, capsys):
  with pytest.raises(SystemExit) as info:
    parse_or_exit(argv)
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and err.startswith(f'error: {message}'), err


@pytest.mark.parametrize('argv', [['--configs', 'svsg'],
                                  ['--configs', 'vsg', '--cell.gate', 'soft'],
                                  ['--configs', 'svsg', '--cell.gate', 'soft']])
def test_gated_cells_pass_the_rules_between_keys(argv):
  assert parse_or_exit(argv).cell.type == 'vsg'


def test_svsg_reads_its_own_keys_and_old_runs_get_the_ones_it_borrowed(tmp_path):
  config = parse(['--configs', 'svsg', 'cpu'])
  assert (config.svsg.size, config.svsg.hidden, config.svsg.act) == (200, 200, 'elu')
  old = config.to_dict()
  cell = old.pop('cell')
  old['rssm'].update(cell=cell.pop('type'), **cell)
  old['svsg'] = {'size': 200}
  old['rssm']['hidden'] = 300           # what SVSG ran with, before svsg.hidden existed
  path = tmp_path / 'config.yaml'
  path.write_text(json.dumps(old))     # YAML is a superset of JSON
  loaded = Config.load(path)
  assert loaded.svsg.hidden == 300 and loaded.cell.type == 'vsg' and 'rssm.cell' not in loaded.flat
  assert loaded.cell.layer_norm is False and loaded.cell.gate == 'sample'


def test_an_old_rssm_run_borrows_svsg_keys_too_and_two_names_for_one_key_must_agree(tmp_path):
  old = parse(['--configs', 'dreamerv2', 'cpu', '--rssm.hidden', '512']).to_dict()
  old['svsg'] = {'size': 200}
  old['rssm']['cell'] = old.pop('cell')['type']
  path = tmp_path / 'config.yaml'
  path.write_text(json.dumps(old))
  assert Config.load(path).svsg.hidden == 512   # what SVSG would have used; harmless to resume
  old['cell'] = {'type': 'gru'}                                # both names, one value: fine
  path.write_text(json.dumps(old))
  assert Config.load(path).cell.type == 'gru'
  old['cell'] = {'type': 'vsg'}
  path.write_text(json.dumps(old))
  with pytest.raises(ConfigError, match='both rssm.cell gru and its new name cell.type vsg'):
    Config.load(path)


def test_cpu_config_keeps_the_dmc_agent_structure():
  config = parse(['--configs', 'dmc', 'vsg', 'cpu'])
  assert (config.cell.type, config.rssm.latent, config.imag_horizon, config.train_every) == (
      'vsg', 'categorical', 15, 5)
  assert (config.dataset.batch, config.dataset.length, config.eval_every) == (16, 50, 5000)


@pytest.mark.parametrize('name', list(REAL))
def test_every_named_config_composes(name):
  config = parse(['--configs', name])
  assert set(config.flat) == set(parse([]).flat)  # no keys added
