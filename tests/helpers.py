"""Helpers the test modules share: the repo root, a script run in a child process, and the check
that a failure is one `error:` line."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def python(*args, timeout=600, env=None):
  """`python ARGS...` (a script and its flags, or -m MODULE ...) in the repo root, output kept."""
  return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                        text=True, timeout=timeout, env=env)


def one_line(err, *parts):
  """Asserts that stderr `err` is one line starting with 'error: ' and holding every part;
  returns that line."""
  lines = [line for line in err.strip().splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), err[-3000:]
  for part in parts:
    assert part in lines[0], lines[0]
  return lines[0]
