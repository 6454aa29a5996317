"""Trains a world-model agent: python train.py --configs dmc vsg --task dmc_walker_walk --logdir DIR

Configs compose left to right (defaults < domain < method < debug < flags); see configs.yaml. The
loop (dreamerv2_vsg/loop.py) is DreamerV2's: prefill with random actions, pretrain, then one update
every `train_every` agent steps, evaluation every `eval_every` env steps, checkpoints every
`checkpoint_every` env steps and at exit. Running the same command on an existing logdir resumes it;
a finished run (done.json) is left alone. All step counts are env steps.

Whatever stops a run (the end, SIGTERM, SIGHUP, Ctrl-C, an env worker that died or hung, a
non-finite loss, a full disk) ends in one line saying why, with the last good checkpoint and every
finished episode kept; bad flags and values stop before anything is written.
"""

import errno
import json
import pathlib
import signal
import sys

from common import config as configlib
from common import files
from common import rundir
from common.rundir import CONFIG, DONE, HARMLESS, fail, finished_at


def main(argv=None):
  sys.stdout = files.PipeSafe(sys.stdout)  # `train.py | head` must not stop training
  config = configlib.parse_or_exit(argv, prog='train.py')
  import envs
  try:
    envs.constructor(config.task, config)  # validates task and settings; starts nothing
  except ValueError as e:
    fail(e)
  if config.require_gpu:  # before anything is written: a run that would train on the CPU stops
    from common import device, quiet
    quiet.import_tensorflow(config.verbose)
    if not device.describe()['gpu']:
      fail(f"--require_gpu True: {device.describe()['text']}")
  logdir = pathlib.Path(config.logdir).expanduser()
  try:
    logdir.mkdir(parents=True, exist_ok=True)
    lock = files.DirectoryLock(logdir)  # one train.py per logdir; held until this process ends
  except files.LockedError as e:
    fail(e)
  except OSError as e:
    fail(f'cannot use {logdir} as the logdir ({e.strerror or e}); choose another --logdir')
  changes = check_resume(logdir, config)
  done = finished_at(logdir)
  if done is not None and done >= config.steps:
    print(f'{logdir}: finished at env step {done} ({DONE}); nothing to do (raise --steps to train '
          f'further)', flush=True)
    return
  if changes:
    print(f'resuming with changed settings: {changes}', flush=True)
  fresh = not (logdir / CONFIG).exists()
  starts = [] if fresh else start_lines(logdir / CONFIG)
  try:
    (logdir / DONE).unlink(missing_ok=True)
    config.save(logdir / CONFIG)
  except OSError as e:
    fail(f'cannot write to {logdir} ({e.strerror or e}); choose another --logdir')
  stop_on_signals()

  from common import device, quiet
  quiet.import_tensorflow(config.verbose)  # only once the flags and the task are good
  info = say_device(config)
  try:
    record_start(logdir / CONFIG, info, starts)
  except OSError as e:
    fail(f'cannot write to {logdir} ({e.strerror or e}); choose another --logdir')
  from common import checkpoint
  from dreamerv2_vsg import loop as looplib
  from envs.parallel import WorkerError
  try:
    loop = looplib.Loop(config)
  except (checkpoint.CheckpointError, ValueError) as e:  # a checkpoint or setting that cannot work
    if fresh:  # nothing ran: the corrected command must not be refused as "other settings"
      (logdir / CONFIG).unlink(missing_ok=True)
    fail(e)
  try:
    with loop:
      loop.run()
  except (looplib.Diverged, WorkerError) as e:
    fail(e, code=1)
  except Stopped as e:
    fail(f'{e}; the checkpoint is saved, rerun the same command to resume', code=e.code)
  except OSError as e:
    if not any(error.errno == errno.ENOSPC for error in chain(e)):
      raise
    name = next(error.filename for error in chain(e) if error.errno == errno.ENOSPC)
    fail(f'no space left on device writing {name}; the last checkpoint and the saved episodes are '
         f'intact: free some space and rerun the same command to resume', code=1)
  # Only after the final checkpoint: a finished run is one that a rerun need not touch.
  files.write_atomic(logdir / DONE, lambda f: f.write(json.dumps(
      {'step': loop.step, 'steps': config.steps, 'timing': loop.timing()}).encode()))
  lock.release()


def say_device(config):
  """The first line of a run: the device, precision and jit as resolved, the versions; and once, a
  note when a full-size model is about to train on a CPU."""
  from common import device, tfutils
  info = device.describe()
  print(f"device: {info['text']}; precision {tfutils.resolve_precision(config.precision)} "
        f"({config.precision}), jit {tfutils.resolve_jit(config.jit)} ({config.jit}); TensorFlow "
        f"{info['tensorflow']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}", flush=True)
  if not info['gpu'] and device.full_sized(config):
    print(f'note: a full-size model (deter {config.rssm.deter}, batch {config.dataset.batch} x '
          f'{config.dataset.length}, the `dmc` size) on a CPU: its first timed ETA (after '
          f'pretraining) says how long, typically weeks; add the `cpu` config (--configs ... cpu) '
          'for the model sized for a CPU (50K env steps in hours)', flush=True)
  return info


def start_lines(path):
  """The '# started ...' comment lines of a saved config.yaml (one per earlier start)."""
  try:
    return [line for line in path.read_text().splitlines(keepends=True)
            if line.startswith('# started ')]
  except (OSError, UnicodeDecodeError):
    return []


def record_start(path, info, earlier=()):
  """Prepends comment lines to config.yaml: those of earlier starts, then one on this start (time,
  commit, versions, device); loading the config ignores comments."""
  import datetime
  from common import device
  body = ''.join(line for line in path.read_text().splitlines(keepends=True)
                 if not line.startswith('# started '))
  header = list(earlier)
  now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
  header.append(f"# started {now}: commit {device.commit()}, TensorFlow {info['tensorflow']}, "
                f"CUDA {info['cuda']}, cuDNN {info['cudnn']}, device {info['text']}\n")
  files.write_atomic(path, lambda f: f.write((''.join(header) + body).encode()))


def check_resume(logdir, config):
  """Refuses to resume a run with settings that break it (one line naming the keys and both values);
  returns the harmless changes as text, keys new since the run began among them (shown as
  `(none) -> value`). The saved config is read with renamed keys upgraded (configlib.upgrade), so
  runs from before a rename resume. Nothing is written before this."""
  try:
    saved = rundir.saved_settings(logdir)
  except rundir.RunDirError as e:
    fail(e)
  if saved is None:
    return ''
  new = config.flat
  changed = {key: (saved.get(key, '(none)'), new.get(key, '(none)'))
             for key in set(saved) | set(new) if saved.get(key) != new.get(key)}
  show = lambda keys: ', '.join(f'{key} {changed[key][0]} -> {changed[key][1]}' for key in keys)
  # A key the saved config lacks came into the code after the run began: the run takes today's
  # value.
  added = set(new) - set(saved)
  # SVSG's own keys do not touch an RSSM run (old configs hold them borrowed from rssm.*).
  unused = {key for key in changed if key.startswith('svsg.')
            and 'svsg' not in (saved.get('dynamics'), new.get('dynamics'))}
  breaking = sorted(key for key in changed
                    if key not in HARMLESS and key not in added and key not in unused)
  if breaking:
    fail(f'{logdir} holds a run with other settings: {show(breaking)}; rerun with the saved values '
         f'(its config.yaml) or choose another --logdir')
  return show(sorted(key for key in changed if key != 'logdir'))


class Stopped(BaseException):
  """A signal asked the run to stop (a BaseException, like KeyboardInterrupt, so nothing on the way
  swallows it)."""

  def __init__(self, signum):
    super().__init__(f'stopped by {signal.Signals(signum).name}')
    self.code = 128 + signum


def stop_on_signals():
  """SIGTERM and SIGHUP (pre-emption, a closed terminal) and Ctrl-C stop the run through the same
  path as its end: checkpoint, then exit. Repeats are ignored, so they cannot cut the save short."""
  stopping = []

  def handler(signum, frame):
    if stopping:  # a handler, not SIG_IGN: CPython reports a signal it finds ignored as an error
      return
    stopping.append(signum)
    raise Stopped(signum) if signum != signal.SIGINT else KeyboardInterrupt

  for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, handler)


def chain(error):
  """The exception and the ones it was raised during or from."""
  while error is not None:
    yield error
    error = error.__cause__ or error.__context__


def run(argv=None):
  try:
    main(argv)
  except KeyboardInterrupt:
    print('error: interrupted (Ctrl-C); the checkpoint is saved, rerun the same command to resume',
          file=sys.stderr, flush=True)
    raise SystemExit(130) from None


if __name__ == '__main__':
  run(sys.argv[1:])
