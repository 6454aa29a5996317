"""Episodes on disk, sampled as fixed-length chunks (after DreamerV2's Replay; numpy only, no TF).

  replay = Replay(logdir / 'train_episodes', capacity=2e6, prioritize_ends=False, seed=0)
  replay.add_step(step)                     # a complete episode is saved when step['is_last']
  batch = replay.sample(16, 50)             # {key: (16, 50, ...)}, is_first[:, 0] = True
  for batch in replay.dataset(16, 50): ...  # endless

Files are `<UTC time>-<uuid hex>-<steps>.npz` with steps = entries - 1 (the reset entry is no step),
written atomically (common/files.py), so a killed run never leaves a truncated episode.
"""

import collections
import datetime
import itertools
import pathlib
import re
import threading
import uuid
import warnings

import numpy as np

from common import files

REQUIRED = ('image', 'action', 'reward', 'is_first', 'is_last', 'is_terminal')
_NAME = re.compile(r'[^-]+-[0-9a-f]+-(\d+)\.npz')


class Replay:
  """Complete episodes in memory (the newest, up to `capacity` steps) and all of them on disk.

  A chunk is a window of `length` consecutive entries of one episode, drawn by picking an episode
  uniformly among those with at least `length` entries, then a start uniformly over its windows
  (with `prioritize_ends`, from randint(total - length + 1 + minlen) clipped to the last window).
  Keys starting with `log_` are saved but not sampled, as upstream. Every episode file must hold
  REQUIRED.
  """

  def __init__(self, directory, capacity=0, minlen=50, prioritize_ends=False, seed=0):
    self.directory = pathlib.Path(directory).expanduser()
    self.directory.mkdir(parents=True, exist_ok=True)
    self.capacity, self.minlen = int(capacity), int(minlen)
    self.prioritize_ends = bool(prioritize_ends)
    self._rng = np.random.default_rng(seed)
    self._lock = threading.RLock()
    self._episodes = collections.OrderedDict()  # path name -> {key: array}, oldest first
    self._ongoing = collections.defaultdict(list)  # worker -> [step]
    self._index = None  # (episodes, numbers of entries), rebuilt after a change
    self._total_episodes = self._total_steps = 0
    self._load()

  @property
  def stats(self):
    with self._lock:
      loaded = sum(_steps(ep) for ep in self._episodes.values())
      return {'total_steps': self._total_steps, 'total_episodes': self._total_episodes,
              'loaded_steps': loaded, 'loaded_episodes': len(self._episodes)}

  def add_step(self, step, worker=0):
    """Appends one environment step of `worker`; saves the episode when step['is_last']."""
    episode = self._ongoing[worker]
    if episode and step.get('is_first', False):
      warnings.warn(f'Replay: worker {worker} reset before is_last; dropping its {len(episode)} '
                    'unfinished entries', RuntimeWarning, stacklevel=2)
      episode.clear()
    episode.append({key: np.array(value, copy=True) for key, value in step.items()})
    if step.get('is_last', False):
      entries = self._ongoing.pop(worker)
      keys = [k for k in entries[0] if all(k in entry for entry in entries)]
      self.add_episode({key: np.stack([entry[key] for entry in entries]) for key in keys})

  def drop_ongoing(self):
    """Forgets every worker's unfinished episode (its driver abandoned it, e.g. after
    evaluation)."""
    self._ongoing.clear()

  def add_episode(self, episode):
    """Saves a complete episode ({key: array with one row per entry}) and keeps it in memory.

    Floats are stored as float32 and signed integers as int32, as upstream. Returns the file path.
    """
    episode = {key: _convert(np.asarray(value)) for key, value in episode.items()}
    problem = _problem(episode)
    if problem:
      raise ValueError(f'Replay.add_episode: {problem}')
    steps = _steps(episode)
    time = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%f')
    path = self.directory / f'{time}-{uuid.uuid4().hex}-{steps}.npz'
    files.write_atomic(path, lambda file: np.savez_compressed(file, **episode))
    with self._lock:
      self._episodes[path.name] = episode
      self._total_episodes += 1
      self._total_steps += steps
      self._enforce_capacity()
    return path

  def sample(self, batch, length):
    """One batch {key: array (batch, length, ...)} of chunks, each inside one complete episode."""
    with self._lock:
      if self._index is None:
        episodes = list(self._episodes.values())
        self._index = episodes, np.array([len(ep['is_first']) for ep in episodes], np.int64)
      episodes, totals = self._index
    eligible = np.flatnonzero(totals >= length)
    if not len(eligible):
      unfinished = sum(len(steps) for steps in self._ongoing.values())
      raise ValueError(
          f'Replay cannot sample chunks of {length} entries: none of its {len(episodes)} loaded '
          f'episodes ({int(np.sum(np.maximum(totals - 1, 0)))} steps, longest '
          f'{int(totals.max()) if len(totals) else 0} entries) has {length} entries '
          f'({unfinished} entries of unfinished episodes are not sampled)')
    chosen = eligible[self._rng.integers(len(eligible), size=batch)]
    last = totals[chosen] - length
    upper = last + 1 + (self.minlen if self.prioritize_ends else 0)
    starts = np.minimum(self._rng.integers(upper), last)
    first = episodes[chosen[0]]
    keys = [k for k in first if not k.startswith('log_') and all(k in episodes[i] for i in chosen)]
    out = {k: np.empty((batch, length) + first[k].shape[1:], first[k].dtype) for k in keys}
    for b, (i, start) in enumerate(zip(chosen, starts)):
      for key in keys:
        out[key][b] = episodes[i][key][start: start + length]
    out['is_first'][:] = False
    out['is_first'][:, 0] = True
    return out

  def dataset(self, batch, length):
    """Endless iterator of sample(batch, length)."""
    return (self.sample(batch, length) for _ in itertools.count())

  def _load(self):
    """Counts every episode file and loads the newest ones up to `capacity` steps; skips bad
    files."""
    found = []
    for path in sorted(self.directory.glob('*.npz')):
      match = _NAME.fullmatch(path.name)
      if match:
        found.append((path, int(match.group(1))))
      else:
        warnings.warn(f'Replay: skipping {path}: not an episode file name '
                      '(<time>-<uuid>-<steps>.npz)',
                      RuntimeWarning, stacklevel=3)
    self._total_episodes, self._total_steps = len(found), sum(steps for _, steps in found)
    loaded, budget = [], 0
    for path, steps in reversed(found):
      if self.capacity and loaded and budget + steps > self.capacity:
        break
      episode, problem = _read_named(path, steps)
      if problem:
        warnings.warn(f'Replay: skipping corrupt episode file {path}: {problem}', RuntimeWarning,
                      stacklevel=3)
        self._total_episodes -= 1
        self._total_steps -= steps
        continue
      loaded.append((path.name, episode))
      budget += steps
    self._episodes.update(reversed(loaded))

  def _enforce_capacity(self):
    self._index = None
    loaded = sum(_steps(ep) for ep in self._episodes.values())
    while self.capacity and len(self._episodes) > 1 and loaded > self.capacity:
      loaded -= _steps(self._episodes.popitem(last=False)[1])


# The keys a model reads from a window of an episode (evaluate.py, bench/actor_grads.py).
WINDOW_KEYS = ('image', 'action', 'reward', 'is_first', 'is_terminal')


def stack_windows(windows):
  """Equal-length windows cut from episodes as one batch, each starting like a replayed sequence
  (is_first on its first step)."""
  batch = {k: np.stack([w[k] for w in windows]) for k in windows[0]}
  batch['is_first'][:, 0] = True
  return batch


def newest_episodes(directory, count):
  """The newest `count` (None: all) readable episodes of an episode directory, oldest first (for
  analyses such as evaluate.py --openloop_from); unreadable files are skipped with a warning, as
  Replay does."""
  episodes = []
  for path in sorted(pathlib.Path(directory).glob('*.npz'), reverse=True):
    if count is not None and len(episodes) == count:
      break
    match = _NAME.fullmatch(path.name)
    episode, problem = (_read_named(path, int(match.group(1))) if match
                        else (None, 'not an episode file name (<time>-<uuid>-<steps>.npz)'))
    if problem:
      warnings.warn(f'skipping episode file {path}: {problem}', RuntimeWarning, stacklevel=2)
      continue
    episodes.append(episode)
  return episodes[::-1]


def _steps(episode):
  return len(episode['is_first']) - 1


def _convert(value):
  if np.issubdtype(value.dtype, np.floating):
    return value.astype(np.float32, copy=False)
  if np.issubdtype(value.dtype, np.signedinteger):
    return value.astype(np.int32, copy=False)
  return value


def _problem(episode):
  """Why `episode` is not a valid episode, or None."""
  missing = [key for key in REQUIRED if key not in episode]
  if missing or 'is_first' not in episode:
    return f'missing keys {missing or ["is_first"]} (has {sorted(episode)})'
  lengths = {key: value.shape[0] if value.ndim else None for key, value in episode.items()}
  if len(set(lengths.values())) != 1 or None in lengths.values() or not lengths['is_first']:
    return f'inconsistent numbers of entries {lengths}'
  return None


def _read_named(path, steps):
  """_read, and the file must hold the `steps` its name says."""
  episode, problem = _read(path)
  if problem is None and _steps(episode) != steps:
    problem = f'{_steps(episode) + 1} entries but the name says {steps} steps'
  return (None, problem) if problem else (episode, None)


def _read(path):
  """(episode, None), or (None, why it cannot be used)."""
  try:
    with path.open('rb') as f, np.load(f, allow_pickle=False) as data:
      episode = {key: data[key] for key in data.files}
  except Exception as e:  # zero bytes, bad or truncated zip, not numpy data, ...
    return None, f'{type(e).__name__}: {e}'
  return (None, problem) if (problem := _problem(episode)) else (episode, None)

