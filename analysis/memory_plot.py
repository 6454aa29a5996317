"""The memory probe's figure and table (issue 26): error against agent steps out of view, per
method, the mean over seeds with the seeds' range; the two references (last seen position, mean
position) dashed. numpy and matplotlib only.

  python -m analysis.memory_plot results/memory/memory.json --out results/memory/memory.png
"""

import argparse
import json
import pathlib

import numpy as np

REFERENCES = (('last_seen_error', 'last seen position', '0.25'),
              ('mean_error', 'mean position', '0.6'))


def summary(records, mode='posterior', horizon=0, key='error'):
  """{method: (bins, mean (B,), low (B,), high (B,), seeds)} over the records of one mode; bins
  that are empty for some seed are NaN."""
  out = {}
  chosen = [r for r in records if r['mode'] == mode and r['horizon'] == horizon]
  for method in dict.fromkeys(r['method'] for r in chosen):
    rows = [r for r in chosen if r['method'] == method]
    values = np.array([[np.nan if v is None else v for v in r[key]] for r in rows], np.float64)
    out[method] = (rows[0]['bins'], values.mean(0), values.min(0), values.max(0), len(rows))
  return out


def plot(records, path):
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  panels = [('posterior', 0, 'observing (posterior)')]
  if any(r['mode'] == 'relative' for r in records):
    panels.append(('relative', 0, 'observing, relative to the agent'))
  panels += sorted(
      {(r['mode'], r['horizon'], f'open loop, {r["horizon"]} steps imagined')
       for r in records if r['mode'] == 'openloop'}, key=lambda p: p[1])
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False,
                           sharey=True)
  for ax, (mode, horizon, title) in zip(axes[0], panels):
    for method, (bins, mean, low, high, seeds) in summary(records, mode, horizon).items():
      x = np.arange(len(bins))
      line, = ax.plot(x, mean, marker='o', label=f'{method} ({seeds} seeds)')
      ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for key, label, color in REFERENCES:
      ref = summary(records, mode, horizon, key)
      if ref:
        bins, mean = next(iter(ref.values()))[:2]
        ax.plot(np.arange(len(bins)), mean, linestyle='--', color=color, label=label)
    bins = next(iter(summary(records, mode, horizon).values()))[0]
    ax.set_xticks(np.arange(len(bins)), bins)
    ax.set_xlabel('agent steps since the object was last in view')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel('position error (arena units)')
  axes[0][-1].legend(fontsize=8, loc='upper left')
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def table(records):
  """A Markdown table: per mode and method, the error per bin as mean [min, max] over seeds."""
  lines = []
  modes = dict.fromkeys((r['mode'], r['horizon']) for r in records)
  for mode, horizon in modes:
    per_method = summary(records, mode, horizon)
    bins = next(iter(per_method.values()))[0]
    name = {'posterior': 'posterior', 'relative': 'posterior, relative to the agent'}.get(
        mode, f'open loop {horizon}')
    lines += ['', f'{name}: error per bin, mean [min, max] over seeds', '',
              '| method | ' + ' | '.join(bins) + ' |', '|---' * (len(bins) + 1) + '|']
    for method, (_, mean, low, high, seeds) in per_method.items():
      cells = [f'{m:.0f} [{lo:.0f}, {hi:.0f}]' if np.isfinite(m) else '-'
               for m, lo, hi in zip(mean, low, high)]
      lines.append(f'| {method} ({seeds}) | ' + ' | '.join(cells) + ' |')
    for key, label, _ in REFERENCES:
      mean = summary(records, mode, horizon, key)
      mean = next(iter(mean.values()))[1]
      lines.append(f'| {label} | ' + ' | '.join(f'{m:.0f}' if np.isfinite(m) else '-'
                                                  for m in mean) + ' |')
  return '\n'.join(lines)


def pixel_table(records):
  """A Markdown table: per method, the posterior's reconstruction error per object pixel and per
  other pixel, mean [min, max] over seeds, beside a picture without objects."""
  rows = [r for r in records if r['mode'] == 'posterior' and 'object_pixel_error' in r]
  lines = ['', 'reconstruction error per pixel (squared, summed over RGB in [-0.5, 0.5]), mean '
           '[min, max] over seeds', '', '| method | object pixels | other pixels | '
           'object pixels, a picture without objects |', '|---|---|---|---|']
  for method in dict.fromkeys(r['method'] for r in rows):
    cells = []
    for key in ('object_pixel_error', 'other_pixel_error', 'no_object_pixel_error'):
      values = [r[key] for r in rows if r['method'] == method]
      cells.append(f'{np.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]')
    lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) if rows else ''


def main(argv=None):
  parser = argparse.ArgumentParser(
      description='Draws memory.json as a figure and prints its table.')
  parser.add_argument('records', type=pathlib.Path)
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('memory.png'))
  args = parser.parse_args(argv)
  records = json.loads(args.records.read_text())
  print(plot(records, args.out))
  print(table(records))


if __name__ == '__main__':
  main()
