"""Linear (ridge) probes of a model state, and their errors binned by time out of view (issue 26).
numpy only.

  since = steps_since_seen(visible)              # (T, K): 0 in view, n steps after, -1 never seen
  last = last_seen_positions(positions, visible) # (T, K, 2): where each object was last seen
  probes = fit_probes(feat, positions)           # one ridge probe per object, alpha by validation
  binned = BinnedProbes(feat, positions, since)  # one ridge probe per object and bin of BINS
  report = binned_errors(predicted, positions, since, last, mean)  # per bin of BINS

Why probes per bin: one probe fitted on every step must serve in-view steps (a position the frame
shows) and out-of-view ones (a position that at best is remembered) with one linear map, and the
out-of-view steps, the most and the least predictable, pull it towards the mean: such a probe reads
a visible object's position barely better than the mean even from the frame itself. A probe per bin
asks each question on its own: how much of the position can be read from the state when the object
has been out of view this long. Its `mean` reference is then the bin's own mean position.

Errors are Euclidean distances in arena units between a prediction of an object's position and
where it is. The two references of every bin: `last_seen` (predict where the object was last in
view: what a perfect memory of the view alone would say; an object that moved since is off by its
displacement) and `mean` (predict the object's mean position over the fitting data: no memory).
"""

import numpy as np

# Agent steps since the object was last in view: (label, low, high), both inclusive.
BINS = (('0', 0, 0), ('1-5', 1, 5), ('6-20', 6, 20), ('21-50', 21, 50), ('51-150', 51, 150),
        ('>150', 151, np.inf))
ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)   # the last: as good as the mean


def in_bin(since, b):
  """The rows (and objects) whose `since` falls in bin b of BINS."""
  _, low, high = BINS[b]
  return (since >= low) & (since <= high)


def steps_since_seen(visible):
  """(T, K) bool -> (T, K) int: 0 where visible, else the agent steps since the last step it was,
  -1 while it has not been seen yet in the episode."""
  visible = np.asarray(visible, bool)
  since = np.full(visible.shape, -1, np.int64)
  last = np.full(visible.shape[1:], -1, np.int64)
  for t in range(visible.shape[0]):
    last = np.where(visible[t], t, last)
    since[t] = np.where(last >= 0, t - last, -1)
  return since


def last_seen_positions(positions, visible):
  """(T, K, 2) positions, (T, K) visible -> (T, K, 2): each object's position at the last step it
  was visible (NaN before it has been seen)."""
  positions, visible = np.asarray(positions, np.float64), np.asarray(visible, bool)
  out = np.full(positions.shape, np.nan)
  last = np.full(positions.shape[1:], np.nan)
  for t in range(positions.shape[0]):
    last = np.where(visible[t][:, None], positions[t], last)
    out[t] = last
  return out


class Ridge:
  """y = standardize(x) W + b with an L2 penalty alpha on W (closed form)."""

  def __init__(self, x, y, alpha):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    self.mean, self.scale = x.mean(0), x.std(0) + 1e-6
    z = (x - self.mean) / self.scale
    self.bias = y.mean(0)
    self.gram, self.moment = z.T @ z, z.T @ (y - self.bias)
    self.solve(alpha)

  def solve(self, alpha):
    self.weights = np.linalg.solve(self.gram + alpha * np.eye(len(self.gram)), self.moment)
    self.alpha = alpha

  def __call__(self, x):
    return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.weights + self.bias


def fit_ridge(x, y, groups, alphas=ALPHAS):
  """A Ridge with alpha chosen on a held-out third of the groups (episodes), refitted on all."""
  x, y, groups = np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(groups)
  names = np.unique(groups)
  if len(names) < 2:
    raise ValueError('fit_ridge needs rows of at least 2 episodes to choose alpha, '
                     f'got {len(names)}')
  held = np.isin(groups, names[::3])
  part = Ridge(x[~held], y[~held], alphas[0])     # one Gram matrix, solved for every alpha
  errors = []
  for alpha in alphas:
    part.solve(alpha)
    errors.append(np.mean(np.linalg.norm(part(x[held]) - y[held], axis=-1)))
  return Ridge(x, y, alphas[int(np.argmin(errors))])


def fit_probes(feats, positions):
  """One probe per object: feats [(T, F)] and positions [(T, K, 2)] per episode -> K Ridges, each
  fitted on the steps where its object is in play (not NaN)."""
  x = np.concatenate(feats)
  y = np.concatenate(positions)
  groups = np.concatenate([np.full(len(f), i) for i, f in enumerate(feats)])
  probes = []
  for k in range(y.shape[1]):
    present = ~np.isnan(y[:, k, 0])
    probes.append(fit_ridge(x[present], y[present, k], groups[present]))
  return probes


class BinnedProbes:
  """One Ridge per object and bin of BINS, each fitted on the rows where its object is in play and
  `since` falls in the bin; bins with fewer than `min_rows` such rows (or one episode) get none.

    probes = BinnedProbes(x (N, F), y (N, K, 2), since (N, K), groups (N,))
    probes(x, since)        # (N, K, 2): each row read by the probe of its bin, NaN without one
    probes.means(since)     # (N, K, 2): the mean position of the bin in the fitting rows
  """

  def __init__(self, x, y, since, groups, min_rows=20):
    x, y, since, groups = (np.asarray(a) for a in (x, y, since, groups))
    self.probes, self.bin_means = {}, {}
    for b in range(len(BINS)):
      for k in range(y.shape[1]):
        rows = in_bin(since[:, k], b) & ~np.isnan(y[:, k, 0])
        if rows.sum() >= min_rows and len(np.unique(groups[rows])) >= 2:
          self.probes[b, k] = fit_ridge(x[rows], y[rows, k], groups[rows])
          self.bin_means[b, k] = y[rows, k].mean(0)

  def _each(self, since, read):
    since = np.asarray(since)
    out = np.full(since.shape + (2,), np.nan)
    for b, k in self.probes:
      rows = in_bin(since[:, k], b)
      if rows.any():
        out[rows, k] = read(b, k, rows)
    return out

  def __call__(self, x, since):
    x = np.asarray(x, np.float64)
    return self._each(since, lambda b, k, rows: self.probes[b, k](x[rows]))

  def means(self, since):
    return self._each(since, lambda b, k, rows: self.bin_means[b, k])


def predict(probes, feat):
  """(T, F) -> (T, K, 2)."""
  return np.stack([probe(feat) for probe in probes], 1)


def binned_errors(predicted, positions, since, last_seen, mean, references=None):
  """Mean errors per bin of steps out of view. predicted, positions, last_seen: (N, K, 2); since:
  (N, K); mean: (K, 2). Object-steps where the object is scored (NaN) or not yet seen are left
  out, and so are those without a prediction (NaN: a bin without a probe). `mean` may also be
  (N, K, 2), a mean per row; `references` ({key: (N, K, 2)}) are further predictions, each scored
  under its key, e.g. `frame_error`. Returns {bins, error, last_seen_error, mean_error, count, and
  each reference's key} (lists, one entry per bin; None for an empty bin)."""
  positions, predicted = np.asarray(positions, np.float64), np.asarray(predicted, np.float64)
  keep = ~np.isnan(positions[..., 0]) & (since >= 0) & ~np.isnan(predicted[..., 0])
  dist = lambda a: np.linalg.norm(np.asarray(a, np.float64) - positions, axis=-1)
  errors = {'error': dist(predicted), 'last_seen_error': dist(last_seen),
            'mean_error': dist(np.broadcast_to(mean, positions.shape))}
  errors.update({key: dist(value) for key, value in (references or {}).items()})
  report = {'bins': [label for label, _, _ in BINS], 'count': []}
  report.update({key: [] for key in errors})
  for b in range(len(BINS)):
    cell = keep & in_bin(since, b)
    report['count'].append(int(cell.sum()))
    for key, value in errors.items():
      scored = value[cell][~np.isnan(value[cell])]    # a reference may lack a bin's probe
      report[key].append(float(scored.mean()) if len(scored) else None)
  return report
