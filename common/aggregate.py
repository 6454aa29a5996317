"""Aggregate DMC scores with interval estimates (Agarwal et al., NeurIPS 2021), through rliable.

Scores are final returns normalized by the suite's maximum of 1000. Per method and source: the
interquartile mean (IQM, 25% trimmed mean of all runs), mean, median (rliable's: of the per-task
means) and optimality gap (mean shortfall below 1) over all task x seed runs, each with a
95% stratified-bootstrap confidence interval (runs resampled within each task); the probability of
improvement of each method over dreamerv2 (same source, common tasks); the performance profile
(fraction of runs above each normalized score); and the IQM over env steps.

rliable's bootstrap needs as many runs on every task: a method whose tasks have unequal numbers of
runs keeps the first n runs of each (n = the fewest), and the runs left out are reported. rliable
draws its resamples from NumPy's global generator, so `seed` seeds it before every estimate.
"""

import numpy as np
import scipy.stats

from common import plotting

MAX_RETURN = 1000.0
NAMES = ('IQM', 'Median', 'Mean', 'Optimality gap')
BASELINE = 'dreamerv2'


def _rliable():
  from rliable import library, metrics  # scipy, arch and pandas: loaded only when aggregating
  return library, metrics


def _aggregates(scores):
  _, metrics = _rliable()
  return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_median(scores),
                   metrics.aggregate_mean(scores), metrics.aggregate_optimality_gap(scores)])


def improvement_probability(x, y):
  """rliable's probability_of_improvement (the Mann-Whitney U statistic over nx*ny per task,
  averaged over tasks), vectorized: rliable calls scipy once per task per resample, ~15x slower."""
  greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
  ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
  return np.mean(greater + 0.5 * ties)


def iqm_over_steps(scores):
  """rliable's aggregate_iqm at each step of a (runs x tasks x steps) array, in one call."""
  return scipy.stats.trim_mean(scores.reshape(-1, scores.shape[-1]), proportiontocut=0.25, axis=0)


def estimate(score_dict, func, reps, seed):
  """rliable's point estimates and 95% percentile intervals, repeatable for a seed."""
  library, _ = _rliable()
  np.random.seed(seed)
  return library.get_interval_estimates(score_dict, func, reps=reps)


def rectangle(runs_by_task):
  """{task: [scores of its runs]} -> (runs x tasks) array of the first n runs of each task, the
  task order, and how many runs were left out."""
  tasks = sorted(runs_by_task)
  n = min(len(runs_by_task[task]) for task in tasks)
  matrix = np.array([[runs_by_task[task][i] for task in tasks] for i in range(n)])
  return matrix, tasks, sum(len(runs_by_task[task]) - n for task in tasks)


def final_scores(curves):
  """{(source, method): {task: [normalized final score per run]}} of the dmc curves, the env step
  of each task's final score, and the runs without a value there (a gap) per group. A run's final
  score is its value at the bin plot.py's score table uses: the last bin every seed reached, so a
  run that stopped early moves its task's final bin back rather than being padded."""
  finals, steps, dropped = {}, {}, {}
  for (task, source, method), curve in curves.items():
    if not task.startswith('dmc_'):
      continue
    x = curve['final']['x']
    values = [float(bys[list(bxs).index(x)]) for bxs, bys in curve['binned'] if x in list(bxs)]
    kept = [v / MAX_RETURN for v in values if np.isfinite(v)]
    dropped[(source, method)] = dropped.get((source, method), 0) + len(curve['binned']) - len(kept)
    if kept:
      finals.setdefault((source, method), {})[task] = kept
      steps.setdefault((source, method), {})[task] = x
  return finals, steps, dropped


def interval_estimates(finals, reps, seed):
  """Per (source, method): each aggregate with its interval, the numbers of runs and tasks."""
  results = {}
  for key, runs_by_task in sorted(finals.items()):
    matrix, tasks, left_out = rectangle(runs_by_task)
    points, intervals = estimate({'x': matrix}, _aggregates, reps, seed)
    results[key] = {
        'runs': int(matrix.size), 'tasks': len(tasks), 'runs_left_out': left_out,
        **{name: {'value': float(points['x'][i]), 'ci': [float(v) for v in intervals['x'][:, i]]}
           for i, name in enumerate(NAMES)}}
  return results


def improvement(finals, reps, seed, against=None):
  """P(method > dreamerv2) per (source, method), on the tasks both have, with its interval: the
  same source's dreamerv2, or with `against` the dreamerv2 of that source, for the methods of
  every other source (their own dreamerv2 included)."""
  results = {}
  for (source, method), runs_by_task in sorted(finals.items()):
    base_source = against or source
    base = finals.get((base_source, next((m for s, m in finals if s == base_source and
                                          plotting.method_key(m) == BASELINE), None)))
    if base is None or source == base_source and plotting.method_key(method) == BASELINE:
      continue
    tasks = sorted(set(runs_by_task) & set(base))
    if not tasks:
      continue
    n = min(min(len(runs_by_task[t]), len(base[t])) for t in tasks)
    x = np.array([[runs_by_task[t][i] for t in tasks] for i in range(n)])
    y = np.array([[base[t][i] for t in tasks] for i in range(n)])
    points, intervals = estimate({'p': (x, y)}, improvement_probability, reps, seed)
    results[(source, method)] = {'value': float(points['p']), 'ci': [float(v) for v in
                                                                     np.ravel(intervals['p'])],
                                 'tasks': len(tasks), 'runs_each': n}
  return results


def profiles(finals, reps, seed, taus=np.linspace(0.0, 1.0, 41)):
  """Fraction of runs scoring above each tau, with its interval, per (source, method)."""
  results = {}
  for key, runs_by_task in sorted(finals.items()):
    matrix, _, _ = rectangle(runs_by_task)
    func = lambda scores: np.mean(scores[..., None] > taus, axis=(0, 1))
    points, intervals = estimate({'x': matrix}, func, reps, seed)
    results[key] = {'tau': taus, 'value': points['x'], 'ci': intervals['x']}
  return results


def iqm_curves(curves, reps, seed):
  """IQM of the normalized returns at each bin every kept run reached, with its interval."""
  groups = {}
  for (task, source, method), curve in curves.items():
    if task.startswith('dmc_'):
      groups.setdefault((source, method), {})[task] = curve['binned']
  results = {}
  for key, runs_by_task in sorted(groups.items()):
    tasks = sorted(runs_by_task)
    n = min(len(runs_by_task[task]) for task in tasks)
    length = min(len(bys) for task in tasks for _, bys in runs_by_task[task][:n])
    if length < 1:
      continue
    cube = np.array([[runs_by_task[task][i][1][:length] for task in tasks] for i in range(n)])
    reached = np.isfinite(cube).all(axis=(0, 1))   # bins where every kept run has a value
    if not reached.any():
      continue
    xs = np.asarray(runs_by_task[tasks[0]][0][0][:length])[reached]
    cube = cube[..., reached] / MAX_RETURN
    points, intervals = estimate({'x': cube}, iqm_over_steps, reps, seed)
    results[key] = {'xs': xs, 'value': points['x'], 'ci': intervals['x']}
  return results


def compute(curves, reps=2000, seed=0, compare=None):
  """Every aggregate of the dmc curves; `compare` (a source) adds P(> that source's dreamerv2)."""
  finals, steps, dropped = final_scores(curves)
  result = {'estimates': interval_estimates(finals, reps, seed), 'final_steps': steps,
            'improvement': improvement(finals, reps, seed),
            'profiles': profiles(finals, reps, seed),
            'iqm_curves': iqm_curves(curves, reps, seed), 'dropped': dropped}
  if compare:
    result['compared'] = improvement(finals, reps, seed, against=compare)
  return result


def label(source, method):
  return f'{method} ({source})'


def write(outdir, result, sources, reps, seed, compare=None):
  """aggregate.json, aggregate.md and aggregate.png/.pdf in outdir; returns the rows and the
  notes on runs that stopped early or were left out."""
  import json
  estimates, improvement_ = result['estimates'], result['improvement']
  compared = result.get('compared', {})
  versus = f'probability_of_improvement_over_{compare}_dreamerv2'
  keys = sorted(estimates, key=lambda k: (plotting.method_order(plotting.method_key(k[1])),
                                          sources.index(k[0]) if k[0] in sources else 99))
  rows = [{'source': s, 'method': m, **estimates[(s, m)], 'runs_without_final_score':
           result['dropped'].get((s, m), 0), 'final_step': result['final_steps'][(s, m)],
           'probability_of_improvement_over_dreamerv2': improvement_.get((s, m)),
           **({versus: compared.get((s, m))} if compare else {})} for s, m in keys]
  (outdir / 'aggregate.json').write_text(json.dumps(
      {'normalization': f'return / {MAX_RETURN:g}', 'confidence': 0.95, 'reps': reps,
       'seed': seed, 'rows': rows}, indent=1) + '\n')
  cell = lambda e: f"{e['value']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]"
  lines = [f'Aggregate normalized DMC scores (return / {MAX_RETURN:g}) over all task x seed runs '
           f'at each run\'s final bin: point estimate [95% stratified-bootstrap CI], {reps} '
           f'resamples, seed {seed}; P(> dreamerv2): probability of improvement over the same '
           'source\'s dreamerv2 on common tasks.', '',
           '| method | source | runs (tasks) | ' + ' | '.join(NAMES) + ' | P(> dreamerv2) |'
           + (f' P(> dreamerv2 ({compare})) |' if compare else ''),
           '|---|---|---|' + '---|' * (len(NAMES) + 1 + bool(compare))]
  for row in rows:
    p = row['probability_of_improvement_over_dreamerv2']
    extra = ''
    if compare:
      q = row[versus]
      extra = f" {cell(q) if q else '—'} |"
    lines.append(f"| {row['method']} | {row['source']} | {row['runs']} ({row['tasks']}) | " +
                 ' | '.join(cell(row[name]) for name in NAMES) + f" | {cell(p) if p else '—'} |"
                 + extra)
  notes = []
  for row in rows:
    where = sorted(set(row['final_step'].values()))
    if len(where) > 1:
      notes.append(f"{label(row['source'], row['method'])}: final scores at " + ', '.join(
          f'{task} {plotting.steps_label(x)}' for task, x in sorted(row['final_step'].items())))
    for key, what in (('runs_left_out', 'runs left out to keep as many runs on every task'),
                      ('runs_without_final_score', 'runs without a value at the final bin')):
      if row[key]:
        notes.append(f"{label(row['source'], row['method'])}: {row[key]} {what}")
  if notes:
    lines += ['', 'Notes (a run that stopped early moves its task\'s final bin back, as in '
              'scores.md; nothing is padded):', ''] + [f'- {note}' for note in notes]
  (outdir / 'aggregate.md').write_text('\n'.join(lines) + '\n')
  draw(outdir / 'aggregate', result, keys, sources)
  return rows, notes


def draw(stem, result, keys, sources):
  import matplotlib.pyplot as plt
  colour = plotting.colours([m for _, m in keys])
  style = plotting.styles(sources)
  with plt.rc_context(plotting.RC):
    fig = plt.figure(figsize=(12, 3.0 + 0.3 * len(keys) + 3.2))
    grid = fig.add_gridspec(2, 4, height_ratios=[0.6 + 0.3 * len(keys), 3.2], hspace=0.45,
                            wspace=0.35)
    for i, name in enumerate(NAMES):
      ax = fig.add_subplot(grid[0, i])
      for row, key in enumerate(reversed(keys)):
        e = result['estimates'][key][name]
        ax.barh(row, e['ci'][1] - e['ci'][0], left=e['ci'][0], height=0.6, color=colour[key[1]],
                alpha=0.35 if key[0] != sources[0] else 0.75)
        ax.plot([e['value']] * 2, [row - 0.3, row + 0.3], color='k', lw=1.5)
      ax.set_yticks(range(len(keys)))
      ax.set_yticklabels([label(*k) for k in reversed(keys)] if i == 0 else [])
      ax.set_title(name)
      ax.set_xlabel('normalized score')
    ax = fig.add_subplot(grid[1, :2])
    line = lambda key: dict(color=colour[key[1]], ls=style.get(key[0], '-'), label=label(*key))
    for key in keys:
      p = result['profiles'][key]
      ax.plot(p['tau'], p['value'], **line(key))
      ax.fill_between(p['tau'], p['ci'][0], p['ci'][1], color=colour[key[1]], alpha=0.15)
    ax.set_xlabel(r'normalized score $\tau$')
    ax.set_ylabel(r'fraction of runs with score > $\tau$')
    ax.set_title('Performance profile')
    ax = fig.add_subplot(grid[1, 2:])
    for key, c in result['iqm_curves'].items():
      ax.plot(c['xs'], c['value'], **line(key))
      ax.fill_between(c['xs'], c['ci'][0], c['ci'][1], color=colour[key[1]], alpha=0.15)
    ax.xaxis.set_major_formatter(plotting.ticker.FuncFormatter(plotting.steps_label))
    ax.set_xlabel('Environment steps')
    ax.set_ylabel('IQM normalized score')
    ax.set_title('Sample efficiency (IQM)')
    ax.legend(fontsize=8, loc='upper left')
    for suffix in ('png', 'pdf'):
      fig.savefig(f'{stem}.{suffix}', dpi=130, bbox_inches='tight')
    plt.close(fig)
