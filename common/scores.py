"""Reading learning curves: our runs (LOGDIR/<task>/<method>/<seed>/metrics.jsonl) and score files
in upstream DreamerV2's format (a JSON list of {task, method, seed, xs, ys}), each input under a
source label. numpy only.

  runs = read_runs(['runs/', 'mine=upstream_runs/'])        # bare DIR: source 'ours'
  baselines = read_baselines(['scores/vsg-paper-dmc.json'])  # labelled 'paper' by its name
  check_merges(runs + baselines)                             # warns where inputs mix

A run directory written by upstream DreamerV2 reads the same way (its metrics.jsonl has `step` and
`eval_return`, rows with only a step, NaN tokens): give it a label so that it is not "ours".
"""

import collections
import json
import math
import pathlib
import re
import sys

import numpy as np

OURS = 'ours'
# The published curves shipped with the project (scores/README.md names their sources).
PUBLISHED = pathlib.Path(__file__).resolve().parents[1] / 'scores'
KNOWN_LABELS = (('vsg-paper', 'paper'), ('dreamerv2-', 'upstream'))


def published_files():
  return sorted(PUBLISHED.glob('*.json'))


def warn(message):
  print(f'warning: {message}', file=sys.stderr)


def _number(value):
  """Float of a JSON number, the mean of a list of numbers, None for null; ValueError otherwise."""
  if isinstance(value, list) and value:
    return float(np.mean([_number(v) for v in value]))
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return float(value)
  if value is None:
    return None
  raise ValueError(f'{value!r} is not a number')


def read_metrics(path, xaxis, yaxis):
  """(xs, ys) of the rows holding both keys; bad lines are reported on stderr with their number."""
  try:
    text = path.read_text()
  except (OSError, UnicodeDecodeError) as error:
    warn(f'{path}: cannot be read ({error}); skipped')
    return [], []
  if not text.strip():
    warn(f'{path}: empty file; skipped')
    return [], []
  lines = text.split('\n')
  xs, ys = [], []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      last = number == len(lines)  # no newline after it: cut mid-write
      warn(f'{path}:{number}: ' + ('partial last line (still being written?)' if last
                                   else 'not JSON') + '; skipped')
      continue
    if not isinstance(row, dict):
      warn(f'{path}:{number}: not a JSON object; skipped')
      continue
    if xaxis not in row or yaxis not in row:
      continue
    try:
      x, y = _number(row[xaxis]), _number(row[yaxis])
    except ValueError as error:
      warn(f'{path}:{number}: {error}; skipped')
      continue
    if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
      xs.append(x)
      ys.append(y)
  return xs, ys


def split_label(spec):
  """'LABEL=PATH' -> (LABEL, PATH); a bare PATH (or one that exists as given) -> ('', PATH)."""
  if '=' in spec and not pathlib.Path(spec).exists():
    label, _, path = spec.partition('=')
    if label and path:
      return label, path
  return '', spec


def read_runs(specs, xaxis, yaxis):
  """Run records {task, method, seed, source, input, xs, ys, path} of every
  DIR/<task>/<method>/<seed> of each spec [LABEL=]DIR (source LABEL, or 'ours' for a bare DIR)."""
  runs = []
  for spec in specs:
    label, logdir = split_label(spec)
    root = pathlib.Path(logdir)
    paths = sorted(root.glob('*/*/*/metrics.jsonl'))
    for path in sorted(set(root.rglob('metrics.jsonl')) - set(paths)):
      warn(f'{path}: not at LOGDIR/<task>/<method>/<seed>/metrics.jsonl '
           '(a level missing or extra); skipped')
    if not paths:
      warn(f'{logdir}: no <task>/<method>/<seed>/metrics.jsonl below it')
    for path in paths:
      seed, method, task = path.parts[-2], path.parts[-3], path.parts[-4]
      if re.fullmatch(r'\d+', method) and not re.fullmatch(r'\d+', seed):
        warn(f'{path}: looks like <task>/<seed>/<method> (method {method!r} is a number, seed '
             f'{seed!r} is not); expected <task>/<method>/<seed>; skipped')
        continue
      xs, ys = read_metrics(path, xaxis, yaxis)
      if not xs:
        if path.exists() and path.stat().st_size:
          warn(f'{path}: no rows with both {xaxis} and {yaxis}; skipped')
        continue
      runs.append({'task': task, 'method': method, 'seed': seed, 'source': label or OURS,
                   'input': str(logdir), 'run': True, 'xs': xs, 'ys': ys, 'path': str(path)})
  return runs


def source_label(path):
  stem = pathlib.Path(path).name.split('.')[0]
  return next((label for prefix, label in KNOWN_LABELS if stem.startswith(prefix)), stem)


def read_baselines(specs):
  """Records of the score files (given as FILE or LABEL=FILE); bad files or records are reported."""
  records = []
  for spec in specs:
    label, path = split_label(spec)
    label = label or source_label(path)
    if label == OURS:
      warn(f'{spec}: the label {OURS!r} is kept for our runs; using {source_label(path)!r}')
      label = source_label(path) if source_label(path) != OURS else 'baseline'
    try:
      data = json.loads(pathlib.Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
      warn(f'{path}: not a readable JSON score file ({error}); skipped')
      continue
    if not isinstance(data, list):
      warn(f'{path}: not a JSON list of {{task, method, seed, xs, ys}} records; skipped')
      continue
    for index, record in enumerate(data):
      try:
        xs = [float(x) for x in record['xs']]
        ys = [math.nan if y is None else float(np.mean(y)) for y in record['ys']]
        if len(xs) != len(ys):
          raise ValueError(f'{len(xs)} xs but {len(ys)} ys')
        records.append({'task': str(record['task']), 'method': str(record['method']),
                        'seed': str(record['seed']), 'source': label, 'input': str(path),
                        'run': False, 'xs': xs, 'ys': ys, 'path': f'{path}[{index}]'})
      except (KeyError, TypeError, ValueError) as error:
        warn(f'{path}: record {index} is malformed ({error!r}); skipped')
  return records


def check_merges(records):
  """Warns, once per (task, method, source), where two inputs feed one curve, and where they reuse
  a seed id; a reused seed becomes '<input number>_<seed>' so both runs count. Returns records."""
  groups = collections.defaultdict(list)
  for record in records:
    groups[(record['task'], record['method'].lower(), record['source'])].append(record)
  order = {name: i for i, name in enumerate(dict.fromkeys(r['input'] for r in records))}
  out = []
  for (task, _, source), group in groups.items():
    inputs = list(dict.fromkeys(r['input'] for r in group))
    if len(inputs) > 1:
      method = group[0]['method']
      seeds = collections.defaultdict(set)
      for record in group:
        seeds[record['seed']].add(record['input'])
      reused = sorted(seed for seed, where in seeds.items() if len(where) > 1)
      warn(f'{task} {method} ({source}): one curve from {len(inputs)} inputs, '
           + ' and '.join(inputs) + (f'; both use seed {", ".join(reused)}: counted as separate '
                                     'seeds' if reused else '')
           + '; label one (LABEL=DIR) to keep them apart')
      for record in group:
        if record['seed'] in reused:
          record = dict(record, seed=f"{order[record['input']]}_{record['seed']}")
        out.append(record)
    else:
      out.extend(group)
  return out
