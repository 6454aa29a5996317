"""A run directory (`logdir/<task>/<method>/<seed>/`): its file names, what a finished run leaves,
which settings may change on resume, and the readers other scripts share. TensorFlow-free; every
failure is a RunDirError with a one-line message that names the file and what to do.

  config.yaml       the run's config (train.py writes it; '# started' comment lines, one per start)
  metrics.jsonl     a row per log_every env steps: `step`, losses, `eval_return` after evaluations
  checkpoint.npz    the latest checkpoint (checkpoint-<step>.npz: older ones, checkpoint_keep)
  done.json         written when the run finishes: {"step", "steps", "timing"}
  train_episodes/   the replay's episodes; eval_episodes/ those of the evaluations
"""

import json
import pathlib
import sys

from common import config as configlib

CONFIG = 'config.yaml'
METRICS = 'metrics.jsonl'
CHECKPOINT = 'checkpoint.npz'
DONE = 'done.json'  # {"step": env steps reached, "steps": the budget, "timing": the last process's
                    # speeds (Loop.timing, read by doctor.py)}: written when a run finishes
TRAIN_EPISODES = 'train_episodes'
EVAL_EPISODES = 'eval_episodes'

# Settings a resumed run may change: they do not touch the model, its data or its step count.
HARMLESS = ('steps', 'eval_every', 'eval_eps', 'log_every', 'checkpoint_every', 'progress_every',
            'verbose', 'logdir', 'envs', 'jit', 'gpu_memory_growth', 'env_timeout',
            'replay.capacity', 'require_gpu', 'checkpoint_keep', 'wandb_project', 'deterministic')


class RunDirError(ValueError):
  """A run directory that cannot be used as asked; the message is one line."""


def _first_line(error):
  return str(error).splitlines()[0] if str(error) else type(error).__name__


def load_config(logdir, seed=None):
  """The run's config, read over today's defaults so renamed or unknown keys are named."""
  logdir = pathlib.Path(logdir)
  path = logdir / CONFIG
  if not logdir.is_dir():
    raise RunDirError(f'{logdir} is not a directory; give the logdir of a train.py run')
  if not path.exists():
    raise RunDirError(f'{path} does not exist; is {logdir} the logdir of a train.py run?')
  try:
    saved = configlib.Config.load(path)
    config = configlib.Config(configlib.load_configs()['defaults']).update(saved.to_dict())
  except Exception as e:  # not YAML, not a mapping, a key this version does not know
    raise RunDirError(f'{path} is not a usable config: {_first_line(e)}') from None
  return config if seed is None else config.update(seed=seed)


def saved_settings(logdir):
  """The flat settings a run was started with (renamed keys upgraded, so runs from before a rename
  resume), or None for a logdir that holds no run yet: the loading half of train.py's resume
  check."""
  path = pathlib.Path(logdir) / CONFIG
  if not path.exists():
    return None
  try:
    return configlib.Config.load(path).flat
  except Exception as e:  # not YAML: the logdir holds something else
    raise RunDirError(f'{path} is not a config ({type(e).__name__}); move it aside or choose '
                      f'another --logdir') from None


def checkpoint_path(logdir):
  """LOGDIR/checkpoint.npz, or an error when the run has saved none."""
  path = pathlib.Path(logdir) / CHECKPOINT
  if not path.exists():
    raise RunDirError(f'{path} does not exist: the run has saved no checkpoint yet (train.py saves '
                      f'one every checkpoint_every env steps and when it stops)')
  return path


def restore(variables, path, config):
  """Loads the checkpoint at `path` into `variables`; returns the env step it was saved at."""
  from common import checkpoint
  try:
    return checkpoint.load(path, variables).get('step')
  except checkpoint.CheckpointError as e:
    raise RunDirError(f'{e}; its config.yaml says {config.method} on {config.task}') from None


def stored_episodes(logdir, count, image_shape, action_dim, flag='--openloop_from'):
  """The newest `count` training episodes in LOGDIR/train_episodes, checked against the model."""
  from common.replay import newest_episodes
  directory = pathlib.Path(logdir) / TRAIN_EPISODES
  episodes = newest_episodes(directory, count) if directory.is_dir() else []
  if not episodes:
    raise RunDirError(f'{flag}: no readable episodes in {directory}')
  shapes = {(e['image'].shape[1:], e['action'].shape[1]) for e in episodes}
  if shapes != {(tuple(image_shape), action_dim)}:
    raise RunDirError(f'{flag}: episodes in {directory} have (image shape, action size) '
                      f'{sorted(shapes)}, the model wants {(tuple(image_shape), action_dim)}')
  return episodes


def finished_at(logdir):
  """The env step a finished run reached (from its done.json), or None."""
  try:
    return int(json.loads((pathlib.Path(logdir) / DONE).read_text())['step'])
  except (OSError, ValueError, KeyError, TypeError):
    return None


def logged(logdir):
  """What metrics.jsonl says of a run: `step` of its last complete row (or 0), `eval_step` of its
  last evaluation (or None), `wall_seconds` of its last row that has them (or 0). A row per
  `log_every` env steps is small enough to read whole; a line cut short by a kill is skipped."""
  path = pathlib.Path(logdir) / METRICS
  result = {'step': 0, 'eval_step': None, 'wall_seconds': 0.0}
  if not path.is_file():  # absent, or not a file to read (a device, a pipe)
    return result
  try:
    lines = path.read_bytes().split(b'\n')[:-1]   # the part after the last newline may be cut short
  except OSError:
    return result
  for line in lines:
    try:
      row = json.loads(line)
      result['step'] = int(row['step'])
    except (ValueError, KeyError, TypeError):
      continue
    if 'eval_return' in row:
      result['eval_step'] = result['step']
    if isinstance(row.get('wall_seconds'), (int, float)):
      result['wall_seconds'] = float(row['wall_seconds'])
  return result


def last_step(logdir, tail=65536):
  """The env step of the last complete row of metrics.jsonl (0 if none yet), from the file's last
  `tail` bytes: sweep.py polls every running run with it, so it must not read whole files."""
  path = pathlib.Path(logdir) / METRICS
  try:
    with path.open('rb') as f:
      size = f.seek(0, 2)
      f.seek(max(0, size - tail))
      lines = f.read().split(b'\n')[:-1]   # the part after the last newline may be cut short
  except OSError:  # absent, or not a file to read
    return 0
  for line in reversed(lines):  # the first line of a tail may start mid-row: it does not parse
    try:
      return int(json.loads(line)['step'])
    except (ValueError, KeyError, TypeError):
      continue
  return logged(logdir)['step'] if size > tail else 0  # rows longer than the tail: read it all


def fail(message, code=2):
  """For scripts: `error: MESSAGE` on stderr and exit `code` (2: the input was wrong)."""
  print(f'error: {message}', file=sys.stderr, flush=True)
  raise SystemExit(code)


def main_or_exit(main, argv=None):
  """Runs a script's main(argv), a RunDirError ending it in one line and exit 2."""
  try:
    return main(argv)
  except RunDirError as e:
    fail(e)
