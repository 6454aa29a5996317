"""Files a run can rely on: atomic writes (a kill at any moment leaves the old file or the new one,
never a torn one), an exclusive lock on a logdir, and a stdout that survives a closed pipe."""

import os
import pathlib

TMP = '.tmp'  # suffix of write_atomic's temporary files


def write_atomic(path, write):
  """Calls write(file) on a hidden temporary file beside `path`, syncs it, renames it over `path`.

  The temporary file is removed if anything fails; returns the path.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.parent / f'.{path.name}.{os.getpid()}{TMP}'
  try:
    with temporary.open('wb') as file:
      write(file)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except OSError as error:
    error.filename = str(path)  # the file the user knows, not the temporary one
    raise
  finally:
    temporary.unlink(missing_ok=True)
  return path


def remove_stale_temporaries(*directories):
  """Deletes the temporary files a killed write_atomic left behind; returns how many."""
  count = 0
  for directory in directories:
    for path in pathlib.Path(directory).glob(f'.*{TMP}'):
      path.unlink(missing_ok=True)
      count += 1
  return count


class PipeSafe:
  """A text stream that survives its reader going away (`train.py | head`): on a broken pipe it
  sends everything after to /dev/null instead of raising."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text):
    try:
      return self._stream.write(text)
    except BrokenPipeError:
      self._detach()
      return len(text)

  def flush(self):
    try:
      self._stream.flush()
    except BrokenPipeError:
      self._detach()

  def _detach(self):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, self._stream.fileno())  # the interpreter's own last flush goes there too
    os.close(devnull)

  def __getattr__(self, name):
    return getattr(self._stream, name)


class LockedError(RuntimeError):
  """Another process holds the lock."""


class DirectoryLock:
  """An exclusive lock on a directory: flock on DIR/.lock, with the holder's pid written in it.

  The kernel drops the lock when the holder exits, however it exits (kill -9 included), so a stale
  lock never blocks a resumed run. Files opened by Python are not inherited by spawned processes.
  """

  NAME = '.lock'

  def __init__(self, directory):
    import fcntl
    self.path = pathlib.Path(directory) / self.NAME
    self._file = open(self.path, 'a+')
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.seek(0)
      holder = self._file.read().strip() or 'unknown'
      self._file.close()
      raise LockedError(f'{directory} is in use by another process (pid {holder}); wait for it to '
                        f'finish or stop it') from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(f'{os.getpid()}\n')
    self._file.flush()

  def release(self):
    if not self._file.closed:
      self._file.close()


def is_locked(directory):
  """Whether a live process holds DirectoryLock(directory) (probes the lock without keeping it)."""
  try:
    DirectoryLock(directory).release()
    return False
  except LockedError:
    return True
  except OSError:  # no such directory yet
    return False
