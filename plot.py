"""Learning-curve figures and final-score tables from runs and published score files.

  python plot.py [LABEL=]LOGDIR ... [--baselines [LABEL=]FILE ...] [--compare SOURCE] [--outdir DIR]
  python plot.py --paper --outdir plots       # the paper's figures from the shipped scores/ alone
  python plot.py ours=runs/ mine=upstream_runs/ --compare mine   # P(> mine's dreamerv2)

Inputs: runs laid out as LOGDIR/<task>/<method>/<seed>/metrics.jsonl (what train.py writes, and
what upstream DreamerV2 writes: one JSON object per line with `step` in env steps), and score files
in upstream DreamerV2's format (a JSON list of {task, method, seed, xs, ys}). Every input has a
source, the label of legends, tables and aggregates: a bare LOGDIR is "ours", LABEL=LOGDIR is
LABEL; a score file (FILE or LABEL=FILE) is LABEL, else "paper" for vsg-paper-*.json, "upstream" for
dreamerv2-*.json, else the file's stem. Two inputs that feed the same (task, method, source), or
reuse a seed there, are warned about by name. With --paper and no --baselines, the published
curves shipped in scores/ (its README names their sources) are the baselines; --baselines
replaces them (list scores/*.json among its files to add to them).

Outputs in --outdir: dmc.png/.pdf (one panel per dmc_* task; Figure 4), shapeherd.png/.pdf (one
panel per shapeherd*/bringbackshapes* task plus the final mean +- std per method; Figure 3c),
scores.md and scores.json (final score per task, method and source), curves.json (our runs
binned, one record per seed, in the score-file format so they can serve as baselines), and for
the DMC runs aggregate.json/.md/.png/.pdf (common/aggregate.py, with rliable: IQM, median, mean
and optimality gap of the normalized final scores with 95% stratified-bootstrap intervals,
probability of improvement over dreamerv2, performance profiles, IQM over env steps).

Tasks: with our runs and without --tasks or --paper, the tasks of our runs (baselines beside them).
X range: with our runs and without --xlim or --paper, each figure ends where our longest run ends
(rounded up to a bin), so the published curves are compared over the same env steps; runs shorter
than 5 default bins are binned in about 10 round bins (e.g. 5e3 for 5e4 env steps).

Binning (spec g.5, h.38): per run, borders 0, w, 2w, ... up to the largest multiple of w not
above the run's last x (after --xlim); bin (start, stop] gets the mean of the ys in it, at
x = stop; x = 0 is dropped. Default w: dmc 5e4 (spec g.7), shapeherd/bringbackshapes 1e5, atari
1e6, crafter 1e4, else 1e5. Across seeds (unlike upstream, which pads short seeds with their last
value) a seed that has no value in a bin is left out of that bin's mean and std (population std,
ddof 0, as upstream); a bin is drawn where at least one seed has data. Final score: at the last
bin every seed reached (the bin at --xlim when all seeds got there). Colour = method (fixed per
name; VSGC and VSG(C) share VSG's), line style = source (ours solid, paper dashed, upstream
dotted, others next). Methods are matched across sources case-insensitively (scores table). Y
values that are lists (the reference code's repeated scalars) are averaged; nulls are skipped.
"""

import argparse
import collections
import json
import math
import pathlib
import re
import time

import numpy as np

from common import plotting  # matplotlib with the Agg backend; never TensorFlow
from common import scores
from common.scores import OURS, read_baselines, read_runs, warn
PAPER_TASKS = ('cartpole_swingup', 'finger_turn_hard', 'hopper_stand', 'pendulum_swingup',
               'quadruped_run', 'quadruped_walk', 'reacher_easy', 'walker_walk')
PAPER_REGEX = (r'^dmc_(' + '|'.join(PAPER_TASKS) + r')$'
               r'|^shapeherd$|^bringbackshapes_sparse_distract0_size1\.0$')
PAPER_XLIM = {'dmc': 5e5, 'shapes': 1e6}
BINS = {'dmc': 5e4, 'shapes': 1e5, 'atari': 1e6, 'crafter': 1e4, 'other': 1e5}


def suite(task):
  if task.startswith('dmc_'):
    return 'dmc'
  if task.startswith(('shapeherd', 'bringbackshapes')):
    return 'shapes'
  prefix = task.split('_', 1)[0]
  return prefix if prefix in BINS else 'other'


def bin_run(xs, ys, width, xlim=None):
  """Right bin edges and per-bin means (NaN where a bin is empty) of one run (spec h.38)."""
  xs, ys = np.asarray(xs, float), np.asarray(ys, float)
  keep = np.isfinite(xs) & np.isfinite(ys) & (xs > 0)
  if xlim is not None:
    keep &= xs <= xlim
  xs, ys = xs[keep], ys[keep]
  count = int(math.floor(xs.max() / width + 1e-9)) if len(xs) else 0
  if count < 1:
    return np.zeros(0), np.zeros(0)
  borders = width * np.arange(count + 1)
  index = np.searchsorted(borders, xs, side='left')  # borders[i - 1] < x <= borders[i]
  inside = (index >= 1) & (index <= count)
  sums = np.bincount(index[inside] - 1, ys[inside], count)
  hits = np.bincount(index[inside] - 1, None, count)
  with np.errstate(invalid='ignore', divide='ignore'):
    return borders[1:], np.where(hits > 0, sums / np.maximum(hits, 1), np.nan)


def aggregate(binned):
  """Mean, std (ddof 0) and count per bin over the seeds that have data there (no padding)."""
  length = max(len(ys) for _, ys in binned)
  grid = np.full((len(binned), length), np.nan)
  xs = None
  for row, (bxs, bys) in enumerate(binned):
    grid[row, :len(bys)] = bys
    if xs is None or len(bxs) > len(xs):
      xs = bxs
  have = np.isfinite(grid)
  count = have.sum(0)
  values = np.where(have, grid, 0.0)
  with np.errstate(invalid='ignore', divide='ignore'):
    mean = values.sum(0) / count
    std = np.sqrt((np.where(have, grid - mean, 0.0) ** 2).sum(0) / count)
  mean[count == 0] = np.nan
  std[count == 0] = np.nan
  return {'xs': xs, 'mean': mean, 'std': std, 'count': count, 'seeds': len(binned)}


def final_score(curve):
  """Mean, std and seed count at the last bin every seed reached (else the last bin with data)."""
  count = curve['count']
  full = np.flatnonzero(count == curve['seeds'])
  index = full[-1] if len(full) else np.flatnonzero(count > 0)[-1]
  return {'mean': float(curve['mean'][index]), 'std': float(curve['std'][index]),
          'n': int(count[index]), 'seeds': curve['seeds'], 'x': float(curve['xs'][index])}


def parse_args(argv):
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0], epilog=__doc__.split('\n\n', 2)[2],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('logdirs', nargs='*', metavar='[LABEL=]LOGDIR',
                      help='roots holding <task>/<method>/<seed>/metrics.jsonl; a bare LOGDIR is '
                      'the source "ours", LABEL=LOGDIR the source LABEL')
  parser.add_argument('--baselines', nargs='+', default=[], metavar='[LABEL=]FILE',
                      help='score files ({task, method, seed, xs, ys} lists) drawn beside our runs '
                      '(default with --paper: the shipped scores/*.json)')
  parser.add_argument('--compare', metavar='SOURCE', help="also the probability of improvement of "
                      "our methods over SOURCE's dreamerv2 (e.g. your own upstream runs)")
  parser.add_argument('--xaxis', default='step', help='x key of metrics.jsonl (default step)')
  parser.add_argument('--yaxis', default='eval_return', help='y key (default eval_return)')
  parser.add_argument('--tasks', default='', metavar='REGEX',
                      help='keep tasks whose name or new name (--rename_tasks) matches (re.search)')
  parser.add_argument('--methods', default='', metavar='REGEX',
                      help='keep methods whose name or new name (--rename) matches (re.search)')
  parser.add_argument('--rename', nargs='+', default=[], metavar='OLD=NEW',
                      help='legend names of methods, for runs and baselines (e.g. VSGC=VSG(C))')
  parser.add_argument('--rename_tasks', nargs='+', default=[], metavar='OLD=NEW',
                      help='task names, to pair runs with baselines (e.g. bringbackshapes_sparse_'
                      'distract0_size1.0=shapeherd)')
  parser.add_argument('--xlim', type=float, help='drop data beyond this x before binning')
  parser.add_argument('--bins', type=float, help='bin width in x (default: dmc 5e4, shapeherd and '
                      'bringbackshapes 1e5, atari 1e6, crafter 1e4, else 1e5)')
  parser.add_argument('--paper', action='store_true', help="the paper's figures: Figure 4's 8 dmc "
                      'tasks (' + ', '.join(PAPER_TASKS) + ') to 500K env steps and the basic '
                      'ShapeHerd (shapeherd, bringbackshapes_sparse_distract0_size1.0) to 1M; '
                      '--tasks and --xlim narrow or override it')
  parser.add_argument('--cols', type=int, default=4, help='panels per row (default 4)')
  parser.add_argument('--reps', type=int, default=2000,
                      help='bootstrap resamples of the aggregate intervals (default 2000)')
  parser.add_argument('--seed', type=int, default=0, help='seed of the bootstrap (default 0)')
  parser.add_argument('--outdir', help='default LOGDIR/plots (first LOGDIR), else ./plots')
  args = parser.parse_args(argv)
  for flag in ('rename', 'rename_tasks'):
    renames = {}
    for item in getattr(args, flag):
      old, sep, new = item.partition('=')
      if not sep or not old or not new:
        parser.error(f'--{flag} takes OLD=NEW, got {item!r}')
      renames[old] = new
    setattr(args, flag, renames)
  for name in ('tasks', 'methods'):
    try:
      re.compile(getattr(args, name))
    except re.error as error:
      parser.error(f'--{name} {getattr(args, name)!r} is not a regex: {error}')
  if args.bins is not None and args.bins <= 0 or args.xlim is not None and args.xlim <= 0:
    parser.error('--bins and --xlim must be positive')
  if args.reps < 10:
    parser.error(f'--reps must be >= 10, got {args.reps}')
  if args.compare == OURS:
    parser.error(f'--compare names another source than {OURS!r} (a LABEL=LOGDIR or a score file)')
  return parser, args


def baseline_specs(args):
  """The score files to read: --baselines, or with --paper and none given, the shipped ones."""
  if args.paper and not args.baselines:
    return [str(path) for path in scores.published_files()]
  return list(args.baselines)


def select(records, args):
  kept = []
  for record in records:
    task, method = record['task'], record['method']
    new, new_task = args.rename.get(method, method), args.rename_tasks.get(task, task)
    if args.tasks and not (re.search(args.tasks, task) or re.search(args.tasks, new_task)):
      continue
    if args.paper and not (re.search(PAPER_REGEX, task) or re.search(PAPER_REGEX, new_task)):
      continue
    if args.methods and not (re.search(args.methods, method) or re.search(args.methods, new)):
      continue
    kept.append(dict(record, method=new, task=new_task))
  return kept


def build_curves(records, args, ranges):
  """{(task, source, method): aggregated curve} and the per-seed binned records of our runs; ranges
  (our_ranges) cuts the x-axis and sets the bin width per suite."""
  groups = collections.defaultdict(list)
  for record in records:
    groups[(record['task'], record['source'], record['method'])].append(record)
  curves, ours, empty = {}, [], collections.defaultdict(int)
  for (task, source, method), group in sorted(groups.items()):
    kind = suite(task)
    width, xlim = args.bins or BINS[kind], args.xlim
    if xlim is None:
      xlim = PAPER_XLIM.get(kind) if args.paper else None
      if kind in ranges:
        xlim, width = ranges[kind]['xlim'], args.bins or ranges[kind]['width']
    binned, is_run = [], group[0]['run']
    for record in group:
      bxs, bys = bin_run(record['xs'], record['ys'], width, xlim)
      if not np.isfinite(bys).any():
        empty[(source, task, width)] += 1
        if is_run:
          warn(f"{record['path']}: no data in a complete bin of width {width:g}; skipped")
        continue
      binned.append((bxs, bys))
      if source == OURS:
        finite = np.isfinite(bys)
        ours.append({'task': task, 'method': method, 'seed': record['seed'],
                     'xs': bxs[finite].tolist(), 'ys': bys[finite].tolist()})
    if binned:
      curve = dict(aggregate(binned), width=width, xlim=xlim, binned=binned)
      curves[(task, source, method)] = dict(curve, final=final_score(curve))
  run_sources = {record['source'] for record in records if record['run']}
  for (source, task, width), count in sorted(empty.items()):
    if source not in run_sources:
      warn(f'{source}: {task}: {count} records have no data in a complete bin of width {width:g}; '
           'skipped')
  return curves, ours


def round_up(raw):
  """The smallest round width (1, 2, 2.5 or 5 times a power of ten) not below raw."""
  power = 10 ** math.floor(math.log10(raw))
  return next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= raw * (1 - 1e-9))


def our_ranges(records, args):
  """Per suite, where our runs end: without --xlim (and --paper), the x-axis is cut there so the
  baselines are drawn over the same env steps; runs shorter than 5 default bins get about 10 round
  bins, never narrower than their evaluations are apart (no empty bins between evaluations)."""
  ends, spacing = collections.defaultdict(float), collections.defaultdict(float)
  for record in records:
    if record['run'] and record['xs']:
      kind, xs = suite(record['task']), np.unique([0.0, *record['xs']])
      ends[kind] = max(ends[kind], float(xs[-1]))
      spacing[kind] = max(spacing[kind], float(np.median(np.diff(xs))))
  ranges = {}
  for kind, end in ends.items():
    if args.xlim is not None or args.paper or end <= 0:
      continue
    width = BINS[kind] if end >= 5 * BINS[kind] else round_up(max(end / 10, spacing[kind]))
    ranges[kind] = {'xlim': math.ceil(end / width - 1e-9) * width, 'width': width}
  return ranges


def score_rows(curves, sources):
  rows = {}
  for (task, source, method), curve in curves.items():
    row = rows.setdefault((task, plotting.method_key(method)),
                          {'task': task, 'method': method, OURS: None, 'baselines': {}})
    score = dict(final_score(curve), method=method)
    if source == OURS:
      row.update(method=method)
      row[OURS] = score
    else:
      row['baselines'][source] = score
  order = {source: i for i, source in enumerate(sources)}
  for row in rows.values():
    row['baselines'] = dict(sorted(row['baselines'].items(), key=lambda item: order[item[0]]))
  return [rows[key] for key in sorted(rows, key=lambda k: (k[0], plotting.method_order(k[1])))]


def _cell(score):
  if not score:
    return '—'
  digits = 2 if abs(score['mean']) < 10 else 1
  return (f"{score['mean']:.{digits}f} ± {score['std']:.{digits}f} "
          f"(n={score['n']}/{score['seeds']}, {plotting.steps_label(score['x'])})")


def write_scores(outdir, rows, sources):
  columns = [OURS] + [s for s in sources if s != OURS]
  lines = ['Final score per task and method: mean ± std over seeds (population std), '
           'n = seeds with data / seeds, at env step x (the last bin every seed reached).', '',
           '| task | method | ' + ' | '.join(columns) + ' |',
           '|---|---|' + '---|' * len(columns)]
  for row in rows:
    cells = [_cell(row[OURS])] + [_cell(row['baselines'].get(s)) for s in columns[1:]]
    lines.append(f"| {row['task']} | {row['method']} | " + ' | '.join(cells) + ' |')
  (outdir / 'scores.md').write_text('\n'.join(lines) + '\n')
  (outdir / 'scores.json').write_text(json.dumps(rows, indent=1) + '\n')


def main(argv=None):
  """Draws the figures and writes the tables; returns a summary dict (files, panel counts, ...)."""
  start = time.perf_counter()
  parser, args = parse_args(argv)
  runs = select(read_runs(args.logdirs, args.xaxis, args.yaxis), args)
  baselines = select(read_baselines(baseline_specs(args)), args)
  if runs and not (args.paper or args.tasks):  # our tasks, and the baselines beside them
    baselines = [record for record in baselines if record['task'] in {run['task'] for run in runs}]
  ranges = our_ranges(runs, args)
  records = scores.check_merges(runs + baselines)
  curves, ours = build_curves(records, args, ranges)
  if not curves:
    parser.exit(2, f'error: nothing to plot: no runs with {args.xaxis} and {args.yaxis} under '
                f'{args.logdirs or "(no LOGDIR)"} and no baseline records left after the filters\n')
  sources = list(dict.fromkeys([OURS] + [r['source'] for r in runs + baselines]))
  if args.compare and not any(s == args.compare and plotting.method_key(m) == 'dreamerv2'
                              for _, s, m in curves):
    parser.exit(2, f'error: --compare {args.compare}: no dreamerv2 curve of that source; sources: '
                f'{", ".join(s for s in sources if s != OURS) or "none but ours"}\n')
  for kind, cut in ranges.items():
    print(f"{kind}: x-axis cut at {cut['xlim']:g} env steps, where our runs end, in bins of "
          f"{args.bins or cut['width']:g} (--xlim and --bins override)")
  outdir = pathlib.Path(args.outdir or (pathlib.Path(args.logdirs[0]) / 'plots' if args.logdirs
                                        else 'plots'))
  try:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / '.write_test').touch()
    (outdir / '.write_test').unlink()
  except OSError as error:
    parser.exit(2, f'error: cannot write to --outdir {outdir}: {error.strerror or error}\n')
  summary = {'outdir': str(outdir), 'files': [], 'runs': len(ours), 'baseline_records':
             len(baselines), 'panels': {}, 'tasks': {}, 'methods': {}}
  for name, kind in (('dmc', 'dmc'), ('shapeherd', 'shapes')):
    chosen = {key: c for key, c in curves.items() if suite(key[0]) == kind}
    if not chosen:
      continue
    panels = plotting.draw(outdir / name, kind, chosen, sources, args.cols,
                           [final_score(c) | {'key': k} for k, c in chosen.items()])
    tasks = sorted({task for task, _, _ in chosen})
    methods = sorted({f'{m} ({s})' for _, s, m in chosen}, key=str.lower)
    summary['files'] += [f'{name}.png', f'{name}.pdf']
    summary['panels'][name], summary['tasks'][name] = panels, tasks
    summary['methods'][name] = methods
    print(f'{outdir / name}.png, .pdf: {panels} panels, {len(tasks)} tasks, {len(methods)} '
          f'method/source curves: {", ".join(methods)}')
  others = sorted({task for task, _, _ in curves if suite(task) not in ('dmc', 'shapes')})
  if others:
    print(f'not drawn (no figure for these tasks; in the tables): {", ".join(others)}')
  rows = score_rows(curves, sources)
  write_scores(outdir, rows, sources)
  if any(suite(task) == 'dmc' for task, _, _ in curves):
    from common import aggregate
    result = aggregate.compute(curves, args.reps, args.seed, args.compare)
    summary['aggregate'], notes = aggregate.write(outdir, result, sources, args.reps, args.seed,
                                                  args.compare)
    for note in notes:
      print(f'aggregate: {note}')
    summary['files'] += ['aggregate.json', 'aggregate.md', 'aggregate.png', 'aggregate.pdf']
    print(f'{outdir}/aggregate.json, .md, .png, .pdf: IQM, median, mean and optimality gap with '
          f'95% CIs ({args.reps} stratified-bootstrap resamples) for '
          f'{len(summary["aggregate"])} method/source pairs')
  (outdir / 'curves.json').write_text(json.dumps(ours) + '\n')
  summary['files'] += ['scores.md', 'scores.json', 'curves.json']
  summary['scores'], summary['curves'] = rows, curves
  print(f'{outdir}/scores.md, scores.json: {len(rows)} task/method rows; {outdir}/curves.json: '
        f'{len(ours)} binned runs of ours ({len(runs)} read, {len(baselines)} baseline records); '
        f'{time.perf_counter() - start:.1f} s')
  return summary


if __name__ == '__main__':
  main()
