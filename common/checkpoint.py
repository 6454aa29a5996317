"""Checkpoints of a list of variables: one .npz file, written atomically.

The file is written atomically (common/files.py), so a kill at any moment leaves either the old or
the new checkpoint, never a broken one.
"""

import pathlib
import zipfile

import numpy as np

from common import files
from common import tfutils


class CheckpointError(ValueError):
  pass


def save(path, variables, **extra):
  """Writes the values of `variables` (in order) plus scalar `extra` entries to `path`."""
  arrays = {f'var{i:05d}': np.asarray(var.numpy()) for i, var in enumerate(variables)}
  arrays['names'] = np.array([tfutils.var_name(var) for var in variables])
  for key, value in extra.items():
    arrays[f'extra_{key}'] = np.asarray(value)
  return files.write_atomic(path, lambda file: np.savez(file, **arrays))


def load(path, variables):
  """Assigns the saved values to `variables`; returns the `extra` entries. Values go to the
  variables of the same name when the names match one to one (so a change in the order modules
  list their variables keeps old checkpoints loadable), else in order. Any mismatch in count or
  shape is a CheckpointError naming the bad variables, and nothing is assigned then."""
  path = pathlib.Path(path)
  try:
    with np.load(path, allow_pickle=False) as file:
      arrays = {key: file[key] for key in file.files}
    if not isinstance(arrays, dict) or 'names' not in arrays:
      raise ValueError('no variable names in it')
    names = [str(name) for name in arrays['names']]
    values = [arrays[f'var{i:05d}'] for i in range(len(names))]
  except KeyError as e:
    raise CheckpointError(f'checkpoint {path} is incomplete: it names {len(names)} variables '
                          f'but has no value {e}; move it aside to start the run over') from None
  except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError) as e:
    # numpy's own message for random bytes advises allow_pickle: not what a user should do here.
    why = 'not numpy data' if 'pickle' in str(e) else str(e)
    raise CheckpointError(f'checkpoint {path} cannot be read, it is corrupt or not a checkpoint '
                          f'({why}); move it aside to start the run over') from None
  wanted = [tfutils.var_name(var) for var in variables]
  if len(set(names)) == len(names) == len(set(wanted)) and set(names) == set(wanted):
    # By name: a checkpoint written before a change of module order still loads.
    by_name = dict(zip(names, values))
    values, names = [by_name[name] for name in wanted], wanted
  elif len(names) != len(variables):
    missing, unexpected = sorted(set(wanted) - set(names)), sorted(set(names) - set(wanted))
    raise CheckpointError(
        f'checkpoint {path} holds {len(names)} variables, the model has {len(variables)}: was it '
        f'written with another config? (not in the checkpoint: {_few(missing)}; not in the model: '
        f'{_few(unexpected)})')
  for var, value, name in zip(variables, values, names):
    if tuple(var.shape) != value.shape:
      raise CheckpointError(f'checkpoint {path}: variable {name} has shape {value.shape}, the '
                            f'model expects {tuple(var.shape)} for {tfutils.var_name(var)}')
  for var, value in zip(variables, values):
    var.assign(value)
  return {key[len('extra_'):]: value.item() for key, value in arrays.items()
          if key.startswith('extra_')}


def _few(names, shown=4):
  if not names:
    return 'none'
  return ', '.join(names[:shown]) + (f' and {len(names) - shown} more'
                                     if len(names) > shown else '')
