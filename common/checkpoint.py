"""Checkpoints of a list of variables: one .npz file, written atomically.

The file is written to a temporary name in the same folder and renamed over the old checkpoint, so a
kill at any moment leaves either the old or the new checkpoint, never a broken one.
"""

import os
import pathlib
import tempfile
import zipfile

import numpy as np

from common import tfutils


class CheckpointError(ValueError):
  pass


def save(path, variables, **extra):
  """Writes the values of `variables` (in order) plus scalar `extra` entries to `path`."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {f'var{i:05d}': np.asarray(var.numpy()) for i, var in enumerate(variables)}
  arrays['names'] = np.array([tfutils.var_name(var) for var in variables])
  for key, value in extra.items():
    arrays[f'extra_{key}'] = np.asarray(value)
  handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
  try:
    with os.fdopen(handle, 'wb') as file:
      np.savez(file, **arrays)
      file.flush()
      os.fsync(file.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def load(path, variables):
  """Assigns the saved values to `variables`; returns the `extra` entries. Any mismatch in count or
  shape is a CheckpointError naming the first bad variable, and nothing is assigned then."""
  path = pathlib.Path(path)
  try:
    with np.load(path) as file:
      arrays = {key: file[key] for key in file.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise CheckpointError(f'checkpoint {path} cannot be read: {e}') from None
  names = list(arrays.get('names', []))
  if len(names) != len(variables):
    raise CheckpointError(f'checkpoint {path} holds {len(names)} variables, the model has '
                          f'{len(variables)}: was it written with another config?')
  values = [arrays[f'var{i:05d}'] for i in range(len(variables))]
  for var, value, name in zip(variables, values, names):
    if tuple(var.shape) != value.shape:
      raise CheckpointError(f'checkpoint {path}: variable {name} has shape {value.shape}, the '
                            f'model expects {tuple(var.shape)} for {tfutils.var_name(var)}')
  for var, value in zip(variables, values):
    var.assign(value)
  return {key[len('extra_'):]: value.item() for key, value in arrays.items()
          if key.startswith('extra_')}
