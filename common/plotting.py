"""Figures for plot.py: learning-curve grids (Figure 4) and the ShapeHerd figure (Figure 3c).

Matplotlib (Agg) and NumPy only. Colour is keyed by method (fixed for the paper's methods, the rest
in sorted order), line style by source (ours solid, baselines dashed, dotted, dash-dot, ...).
"""

import math
import re

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

FIXED = {'dreamerv1': '#7f7f7f', 'dreamerv2': '#1f77b4', 'vsg': '#d62728',
         'vsggaussian': '#ff7f0e', 'svsg': '#2ca02c'}
SPARE = ['#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79', '#637939', '#8c6d31',
         '#843c39', '#7b4173']
STYLES = ['-', '--', ':', '-.', (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
HATCHES = ['', '////', '....', 'xxxx', '\\\\\\\\', '++++']
ORDER = ['dreamerv1', 'dreamerv2', 'vsg', 'vsggaussian', 'svsg']
RC = {'font.size': 10, 'axes.titlesize': 11, 'axes.labelsize': 10, 'xtick.labelsize': 9,
      'ytick.labelsize': 9, 'legend.fontsize': 10, 'figure.titlesize': 12, 'axes.spines.top': False,
      'axes.spines.right': False, 'axes.grid': True, 'grid.alpha': 0.3, 'grid.linewidth': 0.6,
      'pdf.fonttype': 42}
PANEL = (2.7, 2.15)  # inches per panel


def method_key(name):
  """Matches methods across sources and picks colours: VSG, vsg, VSGC and VSG(C) are one."""
  key = re.sub(r'[^a-z0-9]', '', name.lower())
  return {'vsgc': 'vsg', 'vsgg': 'vsggaussian'}.get(key, key)


def method_order(key):
  return (ORDER.index(key), key) if key in ORDER else (len(ORDER), key)


def colours(methods):
  """Colour per method name: fixed for the paper's methods, spare colours in sorted key order."""
  keys = sorted({method_key(m) for m in methods} - set(FIXED))
  spare = {key: SPARE[i % len(SPARE)] for i, key in enumerate(keys)}
  return {m: FIXED.get(method_key(m)) or spare[method_key(m)] for m in methods}


def styles(sources):
  """Line style per source: the first (ours) solid, paper dashed, upstream dotted, others next."""
  fixed = {sources[0]: '-', 'paper': '--', 'upstream': ':'}
  spare = iter(style for style in STYLES if style not in fixed.values())
  return {source: fixed.get(source) or next(spare, STYLES[-1]) for source in sources}


def steps_label(x, _=None):
  """0, 500K, 1M, 1.5M, ..."""
  if x == 0:
    return '0'
  for size, suffix in ((1e6, 'M'), (1e3, 'K')):
    if abs(x) >= size:
      return f'{x / size:.3g}{suffix}'
  return f'{x:g}'


def task_title(task):
  if task.startswith('dmc_'):
    return task[4:].replace('_', ' ').title()
  if task == 'shapeherd':
    return 'ShapeHerd'
  name = re.sub(r'^(bringbackshapes|shapeherd)_', '', task)
  name = re.sub(r'distract(\d+)', lambda m: f"{m[1]} distractor{'' if m[1] == '1' else 's'}", name)
  name = re.sub(r'size([\d.]+)', r'size \1', name)
  return name.replace('sparse_', '').replace('_', ', ')


def short_task(task):
  match = re.search(r'distract(\d+)_size([\d.]+)', task)
  return f'd{match[1]} s{match[2]}' if match else task_title(task)


def _curve(ax, curve, colour, style, ours):
  shown = curve['count'] > 0
  xs = curve['xs']
  mean = np.where(shown, curve['mean'], np.nan)
  std = np.where(shown, curve['std'], np.nan)
  ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.18 if ours else 0.09, lw=0)
  marker = 'o' if shown.sum() == 1 else None  # a single bin would be invisible as a line
  ax.plot(xs, mean, color=colour, ls=style, lw=1.9 if ours else 1.5, marker=marker, ms=3.5)


def _panels(axes, tasks, curves, colour, style, sources, ncols, ylabel):
  """One learning-curve panel per task; returns {(method order, source index, label): handle}."""
  handles = {}
  for i, (ax, task) in enumerate(zip(axes, tasks)):
    if i + ncols >= len(tasks):  # the lowest panel of its column
      ax.set_xlabel('Environment steps')
    if i % ncols == 0:
      ax.set_ylabel(ylabel)
    xmax = 0.0
    for (t, source, method), curve in curves.items():
      if t != task:
        continue
      _curve(ax, curve, colour[method], style[source], source == sources[0])
      xmax = max(xmax, curve.get('xlim') or 0, curve['xs'][curve['count'] > 0].max())
      label = f'{method} ({source})'
      handles[(method_order(method_key(method)), sources.index(source), label)] = (
          Line2D([], [], color=colour[method], ls=style[source],
                                  lw=1.9 if source == sources[0] else 1.5, label=label))
    ax.set_title(task_title(task))
    ax.set_xlim(0, xmax * 1.02)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(steps_label))
    ax.yaxis.set_major_locator(ticker.MaxNLocator(5))
  return handles


def _bars(ax, finals, tasks, colour, sources):
  """Final mean +- std per task (group) and method/source (bar); returns the number of bars."""
  entries = sorted({(method_order(method_key(m)), sources.index(s), m, s)
                    for (_, s, m) in (f['key'] for f in finals)})
  by_key = {f['key']: f for f in finals}
  width = 0.8 / len(entries)
  ticks, names = [], []
  for j, (_, si, method, source) in enumerate(entries):
    xs, ys, errs = [], [], []
    for i, task in enumerate(tasks):
      score = by_key.get((task, source, method))
      if score:
        xs.append(i - 0.4 + width * (j + 0.5))
        ys.append(score['mean'])
        errs.append(score['std'])
    ax.bar(xs, ys, width * 0.92, yerr=errs, color=colour[method], alpha=0.9 if si == 0 else 0.5,
           hatch=HATCHES[si % len(HATCHES)], edgecolor='white' if si == 0 else colour[method],
           lw=0, capsize=2, error_kw={'lw': 0.9, 'ecolor': '#333333'})
    if len(tasks) == 1 and xs:
      ticks.append(xs[0])
      names.append(method if len({e[1] for e in entries}) == 1 else f'{method}\n({source})')
      if len(entries) <= 4:
        ax.text(xs[0], ys[0] + errs[0], f'{ys[0]:.3g}\n±{errs[0]:.2g}', ha='center', va='bottom',
                fontsize=8)
  steps = sorted({f['x'] for f in finals})
  where = 'mean ± std over seeds' + ('\n' if len(tasks) == 1 else ' ') + 'at ' + (
      f'{steps_label(steps[0])} env steps' if len(steps) == 1 else
      'the last bin all seeds reached (' + ', '.join(steps_label(s) for s in steps) + ')')
  if len(tasks) == 1:  # Figure 3c: one bar per method, named below it
    ax.set_xticks(ticks, names, fontsize=9 if len(entries) <= 4 else 8)
    ax.set_xlim(-0.42, 0.42)
  else:
    ax.set_xticks(range(len(tasks)), [short_task(t) for t in tasks])
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    if any('distract' in t for t in tasks):
      where += '; d: distractors, s: object size'
  used = [sources[si] for si in sorted({e[1] for e in entries})]
  if len(used) > 1:
    where += '\n' + ('plain: ' + used[0] + '; hatched: ' if used[0] == sources[0] else
                     'hatched: ') + ', '.join(s for s in used if s != sources[0])
  ax.set_xlabel(where)
  ax.grid(axis='x', visible=False)
  ax.margins(y=0.15 if len(tasks) == 1 else 0.05)
  ax.set_title('Final score')
  return len(entries)


LEGEND_ROW = 0.22       # inches per legend row at legend.fontsize 10
LEGEND_ROWS_FREE = 4    # rows that the 0.9 inches below the panels already hold


def _legend(fig, handles, width):
  """One column per method (its sources below each other) when that fits the figure's width.

  Returns the legend's number of rows."""
  columns = {}
  for (order, si, label), handle in sorted(handles.items()):
    columns.setdefault(order[1], []).append((label, handle))
  rows = max(len(c) for c in columns.values())
  inches = sum(0.75 + 0.075 * max(len(label) for label, _ in c) for c in columns.values())
  if inches <= width and len(columns) > 1:
    blank = Line2D([], [], ls='none')
    entries = [e for c in columns.values() for e in c + [(' ', blank)] * (rows - len(c))]
    ncol = len(columns)
  else:
    entries = [e for c in columns.values() for e in c]
    longest = max(len(label) for label, _ in entries)
    ncol = max(1, min(len(entries), int(width // (0.75 + 0.075 * longest))))
  labels, artists = zip(*entries)
  fig.legend(artists, labels, loc='outside lower center', ncol=ncol, frameon=False)
  return math.ceil(len(entries) / ncol)


def draw(stem, kind, curves, sources, cols, finals):
  """Writes stem.png and stem.pdf; returns the number of learning-curve panels (one per task)."""
  tasks = sorted({task for task, _, _ in curves})
  methods = sorted({m for _, _, m in curves})
  colour = colours(methods)
  style = styles(sources)
  n = len(tasks)
  with plt.rc_context(RC):
    if kind == 'shapes':
      inline = n < cols  # few tasks: the bar panel sits beside the curves, else a row below them
      bars = len({(s, m) for _, s, m in curves})
      ratio = max(1.0, 0.78 * bars / PANEL[0]) if inline else 1.0
      ncols = n + 1 if inline else cols
      rows = 1 if inline else math.ceil(n / cols) + 1
      width = PANEL[0] * (n + ratio if inline else cols) + 0.4
      fig = plt.figure(figsize=(width, PANEL[1] * rows + 0.9 + 0.3 * inline),
                       layout='constrained')
      grid = fig.add_gridspec(rows, ncols, width_ratios=[1] * n + [ratio] if inline else None)
      axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(n)]
      bar_ax = fig.add_subplot(grid[0, n] if inline else grid[rows - 1, :])
      _bars(bar_ax, finals, tasks, colour, sources)
      bar_ax.set_ylabel('Score')
      ylabel = 'Score'
    else:
      ncols = min(cols, n)
      rows = math.ceil(n / ncols)
      width = PANEL[0] * ncols + 0.4
      fig, grid = plt.subplots(rows, ncols, figsize=(width, PANEL[1] * rows + 0.9),
                               layout='constrained', squeeze=False)
      axes = list(grid.flat)
      for ax in axes[n:]:
        ax.remove()
      ylabel = 'Return'
    handles = _panels(axes[:n], tasks, curves, colour, style, sources, ncols, ylabel)
    legend_rows = _legend(fig, handles, width)
    # A long legend (one narrow panel, many methods) gets its own room instead of squashing the
    # panels.
    fig.set_figheight(fig.get_figheight() + LEGEND_ROW * max(0, legend_rows - LEGEND_ROWS_FREE))
    fig.draw_without_rendering()  # lay out once, then keep those positions for both files
    fig.set_layout_engine('none')
    fig.savefig(f'{stem}.png', dpi=150)
    fig.savefig(f'{stem}.pdf')
    plt.close(fig)
  return n
