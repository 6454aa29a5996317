"""Environments in worker processes: Worker (one env) and Batch (several, stepped concurrently).

Why processes: MuJoCo rendering segfaults in a process that has imported TensorFlow, and a render
costs ~15 ms of CPU, so N workers on N cores also step N times faster. Workers are started with
the 'spawn' context (a fresh interpreter: nothing, TensorFlow included, is inherited), build their
env from a picklable constructor, and exit when closed or when the parent goes away.
"""

import multiprocessing
import pickle
import signal
import sys
import time
import traceback
import types

import numpy as np


class WorkerError(RuntimeError):
  """The worker process died (a segfault, an OOM kill, os._exit), closed its pipe, or did not answer
  within its timeout."""


class Worker:
  """An env in its own process, with the env API plus step_async()/reset_async() and result().

  Exceptions raised in the worker are raised here with the same type and message; the worker's
  traceback is attached as a note. One call may be in flight at a time. A call (building the env
  included) that gets no answer within `timeout` seconds raises WorkerError: a hung env stops the
  run instead of hanging it.
  """

  def __init__(self, ctor, name='env', timeout=None):
    context = multiprocessing.get_context('spawn')
    self.name, self.timeout = name, timeout
    self._conn, child = context.Pipe()
    self._process = context.Process(target=_serve, args=(child, ctor), name=name, daemon=True)
    _start_without_main(self._process, ctor)
    child.close()
    self._spaces = None  # the worker sends them once its env is built; see _ready()
    self._waiting = False
    self._closed = False

  @property
  def obs_space(self):
    return self._ready()[0]

  @property
  def act_space(self):
    return self._ready()[1]

  def reset(self):
    self.reset_async()
    return self.result()

  def step(self, action):
    self.step_async(action)
    return self.result()

  def reset_async(self):
    self._send('reset')

  def step_async(self, action):
    self._send('step', action)

  def invoke(self, method, *args):
    """Calls env.method(*args) in the worker and returns its result (e.g. render, frame_rate)."""
    self._send(method, *args)
    return self.result()

  def call(self, fn, *args):
    """Runs the picklable fn(*args) in the worker and returns its result (tests, diagnostics)."""
    self._send('call', fn, *args)
    return self.result()

  def result(self):
    """The result of the call in flight (blocks until the worker answers)."""
    if not self._waiting:
      raise RuntimeError(f'{self.name}: result() without a step_async() or reset_async() in flight')
    self._waiting = False
    return self._receive()

  def close(self):
    if self._closed:
      return
    self._closed = True
    try:
      self._conn.send(('close', ()))
    except (OSError, ValueError):
      pass
    self._process.join(5)
    if self._process.is_alive():
      self._process.terminate()
      self._process.join(1)
    if self._process.is_alive():  # stopped or ignoring SIGTERM: multiprocessing's exit would wait
      self._process.kill()
      self._process.join()
    self._conn.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def __del__(self):
    try:
      self.close()
    except Exception:
      pass

  def _ready(self):
    if self._spaces is None:
      # the worker's first message: (obs_space, act_space) or an error
      self._spaces = self._receive()
    return self._spaces

  def _send(self, method, *args):
    if self._closed:
      raise RuntimeError(f'{self.name} is closed')
    if self._waiting:
      raise RuntimeError(f'{self.name}: a call is already in flight; '
                         'collect it with result() first')
    self._ready()
    try:
      self._conn.send((method, args))
    except (BrokenPipeError, ConnectionResetError, OSError):
      self._process.join(1)
      raise WorkerError(f'{self.name} worker died with exit code '
                        f'{self._process.exitcode}') from None
    self._waiting = True

  def _receive(self):
    # poll() returns as soon as a message is there; the timeout only paces the liveness check.
    # A slice counts at most 1 s: time this process spent stopped (SIGSTOP, Ctrl-Z, a suspended
    # machine; its workers were stopped too) is not time the worker failed to answer in.
    waited, last = 0.0, time.monotonic()
    while not self._conn.poll(0.5):
      now = time.monotonic()
      waited, last = waited + min(now - last, 1.0), now
      if not self._process.is_alive():
        raise WorkerError(f'{self.name} worker died with exit code {self._process.exitcode}')
      if self.timeout and waited > self.timeout:
        raise WorkerError(f'{self.name} worker did not answer within {self.timeout:g} s '
                          '(env_timeout); its env hangs')
    try:
      status, payload = self._conn.recv()
    except (EOFError, OSError):
      self._process.join(1)
      raise WorkerError(f'{self.name} worker died with exit code '
                        f'{self._process.exitcode}') from None
    if status == 'error':
      error, trace = payload
      error.add_note(f'raised in the {self.name} worker process:\n{trace}')
      raise error
    return payload


class Batch:
  """Several Workers stepped concurrently: all requests are sent first, then all results collected.

  A list of envs (len, index, iterate) with reset(indices=None) and step(actions), where actions is
  a list of {'action': array}, one per env, or one dict of arrays with a leading batch axis.
  """

  def __init__(self, envs):
    self.envs = list(envs)

  def __len__(self):
    return len(self.envs)

  def __getitem__(self, index):
    return self.envs[index]

  def __iter__(self):
    return iter(self.envs)

  @property
  def obs_space(self):
    return self.envs[0].obs_space

  @property
  def act_space(self):
    return self.envs[0].act_space

  def reset(self, indices=None):
    """Resets the given envs (all by default) concurrently; returns their obs in that order."""
    indices = range(len(self.envs)) if indices is None else list(indices)
    for i in indices:
      self.envs[i].reset_async()
    return _collect([self.envs[i] for i in indices])

  def step(self, actions):
    if isinstance(actions, dict):
      actions = [{k: np.asarray(v)[i] for k, v in actions.items()} for i in range(len(self.envs))]
    if len(actions) != len(self.envs):
      raise ValueError(f'got {len(actions)} actions for {len(self.envs)} envs')
    for env, action in zip(self.envs, actions):
      env.step_async(action)
    return _collect(self.envs)

  def close(self):
    for env in self.envs:
      env.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _collect(envs):
  """Every env's result, so that one env's error leaves no call in flight; then the first error."""
  results, error = [], None
  for env in envs:
    try:
      results.append(env.result())
    except Exception as e:
      error = error or e
  if error:
    raise error
  return results


def _start_without_main(process, ctor):
  """Starts a spawn process without re-running the parent's main script in it.

  Spawn imports the parent's __main__ file in the child (as __mp_main__); a script that imports
  TensorFlow at top level would load TF into the worker and its renders would crash. The worker
  needs nothing from __main__ unless the constructor lives there, so hide it while starting.
  """
  func = getattr(ctor, 'func', ctor)
  if getattr(func, '__module__', None) == '__main__':
    process.start()
    return
  main = sys.modules['__main__']
  sys.modules['__main__'] = types.ModuleType('__main__')
  try:
    process.start()
  finally:
    sys.modules['__main__'] = main


def _pack(error):
  """(exception, traceback text) that survives pickling back to the parent."""
  trace = ''.join(traceback.format_exception(error))
  try:
    pickle.loads(pickle.dumps(error))
  except Exception:
    error = RuntimeError(f'{type(error).__name__}: {error}')
  return error, trace


def _serve(conn, ctor):
  """The worker's main loop. Ctrl-C goes to the whole process group; the parent decides to stop."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    env = ctor()
    conn.send(('ok', (env.obs_space, env.act_space)))
  except Exception as e:
    conn.send(('error', _pack(e)))
    return
  try:
    while True:
      try:
        method, args = conn.recv()
      except (EOFError, OSError):  # the parent closed the pipe or died
        break
      if method == 'close':
        break
      try:
        result = args[0](*args[1:]) if method == 'call' else getattr(env, method)(*args)
        conn.send(('ok', result))
      except Exception as e:
        conn.send(('error', _pack(e)))
  except (BrokenPipeError, OSError):
    pass
  finally:
    env.close()
