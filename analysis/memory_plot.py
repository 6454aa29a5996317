"""The memory probe's figure and table (issue 26): error against agent steps out of view, per
method, the mean over seeds with the seeds' range; the references (last seen position, mean
position, and for probes per bin the same probe of the frame in view) dashed. Top row: one probe
per bin (the measurement); bottom row: one probe over every step. numpy and matplotlib only.

  python -m analysis.memory_plot results/memory/memory.json --out results/memory/memory.png
"""

import argparse
import json
import pathlib

import numpy as np

REFERENCES = (('last_seen_error', 'last seen position', '0.25'),
              ('mean_error', 'mean position', '0.6'),
              ('frame_error', 'probe of the frame in view', '0.45'))
ROWS = (('binned', 'openloop_binned'), ('posterior', 'relative', 'openloop'))
TITLES = {'posterior': 'observing', 'relative': 'observing, relative to the agent',
          'binned': 'observing', 'openloop': 'open loop, {} steps imagined',
          'openloop_binned': 'open loop, {} steps imagined'}
NAMES = {'posterior': 'posterior, one probe for every step',
         'relative': 'posterior, relative to the agent, one probe for every step',
         'binned': 'posterior, one probe per bin',
         'openloop': 'open loop {}, one probe for every step',
         'openloop_binned': 'open loop {}, one probe per bin'}


def summary(records, mode='posterior', horizon=0, key='error'):
  """{method: (bins, mean (B,), low (B,), high (B,), seeds)} over the records of one mode; bins
  that are empty for some seed are NaN."""
  out = {}
  chosen = [r for r in records if r['mode'] == mode and r['horizon'] == horizon and key in r]
  for method in dict.fromkeys(r['method'] for r in chosen):
    rows = [r for r in chosen if r['method'] == method]
    values = np.array([[np.nan if v is None else v for v in r[key]] for r in rows], np.float64)
    out[method] = (rows[0]['bins'], values.mean(0), values.min(0), values.max(0), len(rows))
  return out


def panels(records):
  """[[(mode, horizon, title)] per row of ROWS], the modes the records hold, horizons ascending."""
  held = sorted({(r['mode'], r['horizon']) for r in records}, key=lambda m: m[1])
  rows = [[(mode, horizon, TITLES.get(mode, mode).format(horizon))
           for name in row for mode, horizon in held if mode == name] for row in ROWS]
  return [row for row in rows if row]


def plot(records, path):
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  rows = panels(records)
  width = max(len(row) for row in rows)
  fig, axes = plt.subplots(len(rows), width, figsize=(4.2 * width, 3.6 * len(rows)),
                           squeeze=False, sharey=True)
  for r, row in enumerate(rows):
    for ax in axes[r][len(row):]:
      ax.set_visible(False)
    for ax, (mode, horizon, title) in zip(axes[r], row):
      for method, (bins, mean, low, high, seeds) in summary(records, mode, horizon).items():
        x = np.arange(len(bins))
        line, = ax.plot(x, mean, marker='o', label=f'{method} ({seeds} seeds)')
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
      for key, label, color in REFERENCES:
        ref = summary(records, mode, horizon, key)
        if ref:
          bins, mean = next(iter(ref.values()))[:2]
          ax.plot(np.arange(len(bins)), mean, linestyle='--' if key != 'frame_error' else ':',
                  color=color, label=label)
      bins = next(iter(summary(records, mode, horizon).values()))[0]
      ax.set_xticks(np.arange(len(bins)), bins)
      ax.set_xlabel('agent steps since the object was last in view')
      ax.set_title(title, fontsize=10)
      ax.grid(alpha=0.3)
    kind = 'one probe per bin' if 'binned' in row[0][0] else 'one probe for every step'
    axes[r][0].set_ylabel(f'position error (arena units)\n{kind}')
    axes[r][0].legend(fontsize=8, loc='lower right')   # the panel with every reference
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def table(records):
  """A Markdown table: per mode and method, the error per bin as mean [min, max] over seeds."""
  lines = []
  for mode, horizon, _ in sum(panels(records), []):
    per_method = summary(records, mode, horizon)
    bins = next(iter(per_method.values()))[0]
    lines += ['', f'{NAMES.get(mode, mode).format(horizon)}: error per bin, mean [min, max] over '
              'seeds', '', '| method | ' + ' | '.join(bins) + ' |', '|---' * (len(bins) + 1) + '|']
    for method, (_, mean, low, high, seeds) in per_method.items():
      cells = [f'{m:.0f} [{lo:.0f}, {hi:.0f}]' if np.isfinite(m) else '-'
               for m, lo, hi in zip(mean, low, high)]
      lines.append(f'| {method} ({seeds}) | ' + ' | '.join(cells) + ' |')
    for key, label, _ in REFERENCES:
      ref = summary(records, mode, horizon, key)
      if ref:
        mean = next(iter(ref.values()))[1]
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
