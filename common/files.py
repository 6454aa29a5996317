"""Atomic file writes: a kill at any moment leaves the old file or the new one, never a torn one."""

import os
import pathlib


def write_atomic(path, write):
  """Calls write(file) on a hidden temporary file beside `path`, syncs it, renames it over `path`.

  The temporary file is removed if anything fails; returns the path.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.parent / f'.{path.name}.{os.getpid()}.tmp'
  try:
    with temporary.open('wb') as file:
      write(file)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)
  return path
