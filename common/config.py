"""Named YAML configs composed left to right, then command-line flags (after DreamerV2's config).

  # --configs dmc vsg --seed 3 --rssm.deter 512 --.*\\.act relu
  config = parse_or_exit(sys.argv[1:])
"""

import collections.abc
import difflib
import io
import os
import pathlib
import re
import sys

import ruamel.yaml

from common import choices

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS_PATH = ROOT / 'configs.yaml'
# Plain and dotted keys; any other key is a regex that sets every flat key it fully matches.
_PLAIN = re.compile(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)*')
# Keys that were renamed, with what replaces them: a flag or a saved config using the old name gets
# told where it went instead of a guess.
RENAMED = {
    'rssm.discrete': 'rssm.latent (categorical | gaussian, set by the method) and rssm.classes (K)',
    'gate_prior': 'sparsity.prior (kappa)', 'gate_free': 'sparsity.free',
    'gate_scale': 'loss_scales.sparsity (alpha)',
    'rssm.std_act': 'nothing: the std is always 2 sigmoid(x / 2) + rssm.min_std',
    'replay.maxlen': 'nothing: chunks are dataset.length entries',
    'rssm.cell': 'cell.type', 'rssm.layer_norm': 'cell.layer_norm',
    'rssm.update_bias': 'cell.update_bias', 'rssm.gate': 'cell.gate',
}
# How a run's saved config.yaml from before a rename reads today (Config.load), so old runs resume
# and evaluate: moved keys keep their value; a retired key goes when its value is what the code now
# always does (None: any value), and stays otherwise, so resuming names it as a changed setting.
MOVED = {'gate_prior': 'sparsity.prior', 'gate_free': 'sparsity.free',
         'gate_scale': 'loss_scales.sparsity', 'rssm.cell': 'cell.type',
         'rssm.layer_norm': 'cell.layer_norm', 'rssm.update_bias': 'cell.update_bias',
         'rssm.gate': 'cell.gate'}
# SVSG read rssm.hidden, act and min_std before it had its own keys: a saved config without them
# gets the values SVSG would have used (an RSSM run never reads them: train.check_resume lets them
# change).
BORROWED = {'svsg.hidden': 'rssm.hidden', 'svsg.act': 'rssm.act', 'svsg.min_std': 'rssm.min_std'}
RETIRED = {'rssm.std_act': 'sigmoid2', 'replay.maxlen': None}
_BOOLS = {'true': True, 'yes': True, '1': True, 'false': False, 'no': False, '0': False}


class ConfigError(ValueError):
  """A bad config name, key or value. The message is always one line, so it reads well in logs."""

  def __init__(self, message):
    super().__init__(str(message).replace('\n', '\\n'))


def load_configs(path=CONFIGS_PATH):
  """Returns {name: mapping} in file order; `defaults` must be there and is the base of all
  others."""
  configs = ruamel.yaml.YAML(typ='safe').load(pathlib.Path(path).read_text())
  if not isinstance(configs, dict) or not isinstance(configs.get('defaults'), dict):
    raise ConfigError(f'{path} must map config names to mappings, with a `defaults` config')
  configs = {name: {} if value is None else value for name, value in configs.items()}
  for name, value in configs.items():
    if not isinstance(value, dict):
      raise ConfigError(f'{path}: config {name!r} is not a mapping')
  return configs


class _Origin:
  """Names a key in error messages: as a CLI flag, a key of a named config, or an update() key."""

  def __init__(self, kind, name=None):
    self.dash = '--' if kind == 'flag' else ''
    self.where = {'flag': 'flag ', 'config': f"config '{name}' key ", 'update': 'key '}[kind]

  def label(self, key, match=None):
    return f'{self.where}{self.dash}{key}' + (f' (key {match})' if match and match != key else '')


def _items(mapping, prefix=''):
  """Yields (dotted key, leaf value); nested dicts under a regex key join with an escaped dot."""
  for key, value in mapping.items():
    key = f'{prefix}{key}'
    if isinstance(value, collections.abc.Mapping) and value:
      yield from _items(value, key + ('.' if _PLAIN.fullmatch(key) else r'\.'))
    else:
      yield key, value


def _match(key, flat, origin):
  """The flat keys that `key` sets; unknown keys and regexes matching nothing are errors."""
  if not _PLAIN.fullmatch(key):
    try:
      matches = [k for k in flat if re.fullmatch(key, k)]
    except re.error as e:
      raise ConfigError(f'{origin.label(key)} is not a valid regex: {e}') from None
    if not matches:
      raise ConfigError(f'{origin.label(key)} matches no key')
    return matches
  if key in flat:
    return [key]
  if key in RENAMED:
    raise ConfigError(f'{origin.label(key)} was replaced by {RENAMED[key]}')
  if any(k.startswith(key + '.') for k in flat):
    group = ', '.join(k for k in sorted(flat) if k.startswith(key + '.'))
    raise ConfigError(f'{origin.label(key)} is a group; set one of its keys: {group}')
  top = key.split('.')[0]
  under = sorted(k for k in flat if k.startswith(top + '.'))
  valid = f'valid keys under {top}: {", ".join(under)}' if '.' in key and under else (
      f'valid keys: {", ".join(sorted({k.split(".")[0] for k in flat}))}')
  close = difflib.get_close_matches(key, list(flat), n=1)
  hint = f'; did you mean {origin.dash}{close[0]}?' if close else ''
  raise ConfigError(f'unknown {origin.label(key)}{hint} ({valid})')


def _type_name(default):
  if isinstance(default, (list, tuple)):
    return f'list of {type(default[0]).__name__ if default else "str"}'
  return type(default).__name__


def _convert(value, default, label):
  """Converts a YAML value or CLI string to the type of the default, or raises a ConfigError."""
  name = _type_name(default)
  error = ConfigError(f'{label} expects {"an" if name[0] in "aeiou" else "a"} {name}, '
                      f'got {value!r}')
  if isinstance(default, (list, tuple)):
    if isinstance(value, str):  # 'a,b' from YAML or from one CLI value
      value = [part for part in value.split(',') if part]
    if not isinstance(value, (list, tuple)):
      raise error
    try:
      return tuple(_convert(v, default[0] if default else '', label) for v in value)
    except ConfigError:
      raise error from None
  if isinstance(default, bool):
    if isinstance(value, (str, int)) and str(value).lower() in _BOOLS:
      return _BOOLS[str(value).lower()]
    raise error
  if isinstance(default, (int, float)):
    if isinstance(value, str):  # CLI strings, and YAML numbers some resolvers leave as str ('1e4')
      try:
        value = int(value) if re.fullmatch(r'\s*[-+]?\d+\s*', value) else float(value)
      except ValueError:
        raise error from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise error
    if isinstance(default, float):
      return float(value)
    if isinstance(value, float) and not value.is_integer():  # '1e6' is an int, '0.5' is not
      raise error
    return int(value)
  if isinstance(default, str):
    if isinstance(value, (str, int, float)):
      return str(value)  # e.g. `precision: 16` or `jit: False` where the default is 'auto'
    raise error
  return value  # defaults of other types (None) take any value


def _override(flat, entries, origin, cli=False):
  """A copy of `flat` with the (key, value) entries set in order; types follow the values there."""
  flat = dict(flat)
  for key, value in entries:
    for match in _match(key, flat, origin):
      label, default, given = origin.label(key, match), flat[match], value
      if cli and isinstance(default, (list, tuple)):  # a list takes all values given: a b or a,b
        given = [part for v in value for part in v.split(',') if part]
      elif cli and len(value) != 1:
        raise ConfigError(f'{label} expects one value, got {" ".join(value) if value else "none"}')
      elif cli:
        given = value[0]
      flat[match] = _convert(given, default, label)
  return flat


class Config(collections.abc.Mapping):
  """Immutable nested mapping: config.rssm.deter == config['rssm']['deter'] == config['rssm.deter'].

  Lists are held as tuples so nothing can change in place; to_dict() and save() give plain lists.
  """

  def __init__(self, mapping=None, **kwargs):
    flat = {k: tuple(v) if isinstance(v, list) else v
            for k, v in _items({**(mapping or {}), **kwargs})}
    tree = {}
    for key, value in flat.items():
      *parents, leaf = key.split('.')
      node = tree
      for part in parents:
        node = node.setdefault(part, {}) if isinstance(node, dict) else None
      if not isinstance(node, dict) or isinstance(node.get(leaf), dict):
        raise ConfigError(f'key {key} clashes with another key: a value cannot also be a group')
      node[leaf] = value
    object.__setattr__(self, '_flat', flat)
    object.__setattr__(self, '_data', {k: Config(v) if isinstance(v, dict) else v
                                       for k, v in tree.items()})

  @property
  def flat(self):
    """{dotted key: value}; lists as tuples."""
    return dict(self._flat)

  def to_dict(self):
    """Plain nested dicts and lists, e.g. for YAML or logging."""
    return {k: v.to_dict() if isinstance(v, Config) else list(v) if isinstance(v, tuple) else v
            for k, v in self._data.items()}

  def update(self, mapping=None, **kwargs):
    """A new Config with the given keys set: nested, dotted or regex keys, as in configs.yaml."""
    return Config(_override(self._flat, _items({**(mapping or {}), **kwargs}), _Origin('update')))

  def save(self, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = ruamel.yaml.YAML(typ='safe')
    yaml.default_flow_style = False
    text = io.StringIO()
    yaml.dump(self.to_dict(), text)
    temporary = path.with_name(f'.{path.name}.{os.getpid()}.tmp')  # atomic: never half a config
    temporary.write_text(text.getvalue())
    os.replace(temporary, path)
    return path

  @classmethod
  def load(cls, path):
    """A saved config (a run's config.yaml), with keys renamed since it was written upgraded."""
    return cls(upgrade(ruamel.yaml.YAML(typ='safe').load(pathlib.Path(path).read_text())))

  def __getitem__(self, key):
    if key in self._data:
      return self._data[key]
    head, _, rest = key.partition('.')
    if rest and isinstance(self._data.get(head), Config):
      return self._data[head][rest]
    raise KeyError(key)

  def __getattr__(self, name):
    if name.startswith('_'):  # keeps copy and pickle probes away from the keys
      raise AttributeError(name)
    if name not in self._data:
      close = difflib.get_close_matches(name, list(self._data), n=1)
      raise AttributeError(f'config has no key {name!r}'
                           + (f'; did you mean {close[0]!r}?' if close else ''))
    return self._data[name]

  def __setattr__(self, name, value):
    raise AttributeError(f'Config is immutable; config.update({{{name!r}: ...}}) '
                         'returns a changed copy')

  __delattr__ = __setattr__

  def __iter__(self):
    return iter(self._data)

  def __len__(self):
    return len(self._data)

  def __eq__(self, other):
    if not isinstance(other, collections.abc.Mapping):
      return NotImplemented
    return self._flat == (other if isinstance(other, Config) else Config(other))._flat

  def __str__(self):
    return '\n'.join(f'{k}:  {list(v) if isinstance(v, tuple) else v}'
                     for k, v in self._flat.items())

  def __repr__(self):
    return f'Config({self.to_dict()!r})'


def _split(argv):
  """Splits argv into config names and the other (key, [values]) flags, in order."""
  flags = []
  for token in argv:
    if token.startswith('--') and len(token) > 2:
      key, eq, value = token[2:].partition('=')
      flags.append((key, [value] if eq else []))
    elif not flags:
      raise ConfigError(f'expected a --flag, got {token!r}')
    else:
      flags[-1][1].append(token)
  names = [part for key, values in flags if key == 'configs' for v in values
           for part in v.split(',') if part]
  return names, [(key, values) for key, values in flags if key != 'configs']


def compose(names, configs=None):
  """`defaults` with the named configs applied on top, left to right."""
  configs = load_configs() if configs is None else configs
  flat = Config(configs['defaults'])._flat
  for name in names:
    if name not in configs:
      raise ConfigError(f"unknown config '{name}'; valid configs: {', '.join(configs)}")
    flat = _override(flat, _items(configs[name]), _Origin('config', name))
  return Config(flat)


def parse(argv, configs=None):
  """A Config from argv: `--configs NAME ...` composed first, then every other `--key value` in
  order."""
  names, flags = _split(list(argv))
  return Config(_override(compose(names, configs)._flat, flags, _Origin('flag'), cli=True))


def key_notes(path=CONFIGS_PATH):
  """{dotted key: its comment in the `defaults` of configs.yaml}, comment lines that continue it
  joined on; a group written on one line (`replay: {...}  # ...`) has its note under its name."""
  notes, groups, last, inside = {}, [], None, False
  for line in pathlib.Path(path).read_text().splitlines():
    if not inside:
      inside = line.startswith('defaults:')
      continue
    if line.strip() and not line[0].isspace() and not line.startswith('#'):
      break                                         # the next named config
    body = line.lstrip()
    indent = len(line) - len(body)
    if not body:
      continue
    if body.startswith('#'):                        # a continuation, or a heading (`# Run`)
      if last and indent > last[1] + 4:
        notes[last[0]] = f"{notes[last[0]]} {body.lstrip('#').strip()}".strip()
      else:
        last = None
      continue
    key, _, rest = body.partition(':')
    groups = [(i, k) for i, k in groups if i < indent]
    name = '.'.join([k for _, k in groups] + [key.strip()])
    value, _, note = rest.partition(' #')
    if not value.strip():
      groups.append((indent, key.strip()))          # a block mapping: its keys follow
    notes[name], last = note.strip(), (name, indent)
  return notes


def usage(argv=(), configs=None, prog=None):
  """Help text: every flat key with its value (after any --configs in argv), its type and, for
  the configs of configs.yaml, its note from there (a group's note beside its first key)."""
  notes = key_notes() if configs is None else {}   # the comments are configs.yaml's
  configs = load_configs() if configs is None else configs
  flat = compose(_split([a for a in argv if a not in ('-h', '--help')])[0], configs)._flat
  width = max(map(len, flat)) + 2
  lines = [f'usage: {prog or pathlib.Path(sys.argv[0]).name} [--configs NAME [NAME ...]] '
           '[--KEY VALUE ...]',
           f'configs: {", ".join(configs)}',
           r'keys may be dotted (--rssm.deter 512) or regexes (--.*\.act relu); '
           'lists take a b or a,b']
  noted = set()
  for key, value in flat.items():
    shown = ','.join(map(str, value)) if isinstance(value, tuple) else value
    group = key.rpartition('.')[0]
    parts = [notes.get(group) if group not in noted else '', notes.get(key)]
    note = '; '.join(part for part in parts if part)
    noted.add(group)
    line = f'  --{key:<{width}} {shown!s:<20} ({_type_name(value)})'
    lines.append(f'{line}  {note}' if note else line)
  return '\n'.join(lines)


def _at_least(low):
  return lambda v: v >= low, f'>= {low}'


def _between(low, high, open_low=False, open_high=False):
  def check(v):
    return (v > low if open_low else v >= low) and (v < high if open_high else v <= high)
  return check, f'in {"(" if open_low else "["}{low}, {high}{")" if open_high else "]"}'


def _choice(*options):
  return lambda v: str(v).strip().lower() in options, f'one of {", ".join(options)}'


def _regex():
  def check(v):
    try:
      re.compile(str(v))
      return True
    except re.error:
      return False
  return check, 'a regular expression (Python re)'


def _each(rule):
  check, text = rule
  return lambda v: all(check(x) for x in v), f'a list of values {text}'


# What each key of configs.yaml may hold beyond its type (keys a config lacks are not checked), so
# a value that cannot work stops at parse time, before a logdir or TensorFlow exists.
RULES = {
    'steps': _at_least(1), 'train_every': _at_least(1), 'train_steps': _at_least(1),
    'log_every': _at_least(0), 'eval_every': _at_least(0), 'checkpoint_every': _at_least(0),
    'eval_eps': _at_least(1), 'prefill': _at_least(0), 'pretrain': _at_least(0),
    'precision': _choice(*choices.PRECISIONS),
    'jit': _choice(*choices.JIT), 'progress_every': _at_least(0),
    'env_timeout': _between(0, float('inf'), open_low=True),
    'envs': _at_least(1), 'checkpoint_keep': _at_least(1), 'render_size': _each(_at_least(1)),
    'action_repeat': _at_least(1),
    'time_limit': _at_least(0), 'clip_rewards': _choice(*choices.REWARD_TRANSFORMS),
    'replay.capacity': _at_least(0), 'replay.minlen': _at_least(1),
    'dataset.batch': _at_least(1), 'dataset.length': _at_least(2),
    'dynamics': _choice(*choices.DYNAMICS), 'rssm.latent': _choice(*choices.LATENTS),
    'cell.type': _choice(*choices.CELLS), 'cell.gate': _choice(*choices.GATE_MODES),
    'rssm.deter': _at_least(1), 'rssm.hidden': _at_least(1), 'rssm.stoch': _at_least(1),
    'rssm.classes': _at_least(2), 'rssm.min_std': _at_least(0), 'svsg.size': _at_least(1),
    'svsg.hidden': _at_least(1), 'svsg.min_std': _at_least(0),
    'sparsity.prior': _between(0, 1, True, True), 'sparsity.free': _at_least(0),
    'encoder.depth': _at_least(1), 'decoder.depth': _at_least(1),
    'mlp_keys': _regex(), 'mlp.layers': _at_least(1), 'mlp.units': _at_least(1),
    'kl.free': _at_least(0), 'kl.balance': _between(0, 1),
    'discount': _between(0, 1, open_low=True), 'discount_lambda': _between(0, 1),
    'imag_horizon': _at_least(1), 'actor_grad': _choice(*choices.ACTOR_GRADS),
    'actor_grad_mix': _between(0, 1), 'actor_ent': _at_least(0),
    'actor.dist': _choice(*choices.ACTOR_DISTS), 'slow_target_update': _at_least(1),
    'slow_target_fraction': _between(0, 1),
}
for _group in ('reward_head', 'discount_head', 'actor', 'critic'):
  RULES.update({f'{_group}.layers': _at_least(0), f'{_group}.units': _at_least(1)})
  if _group != 'actor':
    RULES[f'{_group}.dist'] = _choice(*choices.HEAD_DISTS)
for _group in ('model_opt', 'actor_opt', 'critic_opt'):
  RULES.update({f'{_group}.lr': _between(0, float('inf'), open_low=True),
                f'{_group}.eps': _at_least(0), f'{_group}.clip': _at_least(0),
                f'{_group}.wd': _between(0, 1, open_high=True)})
for _group in ('kl', 'sparsity', 'reward', 'discount'):
  RULES[f'loss_scales.{_group}'] = _at_least(0)


def validate(config, rules=None):
  """Raises a one-line ConfigError for the first value outside what RULES allows, then for the
  first broken rule between keys (choices.cross_check: SVSG or a soft gate needs a gated cell)."""
  flat = config.flat
  for key, (check, text) in (RULES if rules is None else rules).items():
    if key in flat and not check(flat[key]):
      value = ','.join(map(str, flat[key])) if isinstance(flat[key], tuple) else flat[key]
      raise ConfigError(f'--{key} {value}: must be {text}')
  broken = choices.cross_check(flat)
  if broken:
    raise ConfigError(broken)
  return config


def parse_or_exit(argv=None, configs=None, prog=None):
  """parse() and validate() for scripts: --help prints usage and exits 0; a bad flag or value prints
  one error line and exits 2."""
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    if '-h' in argv or '--help' in argv:
      print(usage(argv, configs, prog))
      raise SystemExit(0)
    return validate(parse(argv, configs))
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from None


def upgrade(mapping):
  """A saved config's nested mapping with BORROWED keys filled in, MOVED keys moved and RETIRED
  keys dropped (see above);
  `rssm.discrete` (K classes, or False for Gaussian latents) becomes rssm.latent and
  rssm.classes."""
  if not isinstance(mapping, dict):
    return mapping
  flat = {key: value for key, value in _items(mapping)}
  if 'svsg.size' in flat:
    for new, old in BORROWED.items():
      if old in flat:
        flat.setdefault(new, flat[old])
  for old, new in MOVED.items():
    if old in flat and new in flat and flat[old] != flat[new]:
      raise ConfigError(f'the config holds both {old} {flat[old]} and its new name {new} '
                        f'{flat[new]}; keep one of them')
    if old in flat:
      flat[new] = flat.pop(old)
  for old, value in RETIRED.items():
    if old in flat and (value is None or flat[old] == value):
      del flat[old]
  if 'rssm.discrete' in flat and 'rssm.latent' not in flat:
    classes = flat.pop('rssm.discrete')
    flat['rssm.latent'] = 'categorical' if classes else 'gaussian'
    if classes:
      flat['rssm.classes'] = classes
  return {key: value for key, value in flat.items()   # no empty group left where keys moved in
          if value != {} or not any(other.startswith(key + '.') for other in flat)}
