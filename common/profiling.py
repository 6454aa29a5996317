"""Where a training step's time goes: TensorFlow profiler op times grouped into the step's parts.

The step names its parts with name scopes (WorldModel.loss, ActorCritic.train_step,
Optimizer.minimize); gradient ops carry their forward op's scope under `gradient_tape/`, and loop
bodies keep the scope of their loop, so every op's name says its part and direction.
"""

import collections
import pathlib
import re
import tempfile
import time

import tensorflow as tf

# In step order; `imagine` holds the actor's and the dynamics' ops of the rollout and the reward
# head on it; its backward pass is the dynamics backpropagation of the actor's gradient.
PARTS = ('encoder', 'dynamics', 'decoder', 'reward', 'discount', 'kl', 'model_opt', 'imagine',
         'target', 'actor', 'critic', 'actor_opt', 'critic_opt')
_GRADIENT = re.compile(r'^gradient_tape(_\d+)?/')


def part_of(name):
  """(part, 'forward' | 'backward') of an op name; part 'other' outside the named scopes."""
  direction = 'forward'
  stripped = _GRADIENT.sub('', name)
  if stripped != name:
    direction = 'backward'
  part = stripped.split('/', 1)[0]
  if part.endswith('_opt'):
    direction = 'update'
  return (part if part in PARTS else 'other'), direction


def _op_events(space):
  """(op name, seconds) of every TensorFlow op the host ran (events named `name:Type`)."""
  for plane in space.planes:
    names = plane.event_metadata
    for line in plane.lines:
      for event in line.events:
        label = names[event.metadata_id].name
        if ':' in label and '::' not in label and not label.startswith('EagerLocalExecute'):
          yield label.rsplit(':', 1)[0], event.duration_ps / 1e12


def op_times(step, calls=2):
  """Runs step() `calls` times under the profiler; returns ({(part, direction): op seconds per
  call}, wall seconds per call). Op seconds of ops that ran side by side can sum past the wall."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  with tempfile.TemporaryDirectory() as logdir:
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(calls):
      step()
    wall = (time.perf_counter() - start) / calls
    tf.profiler.experimental.stop()
    times = collections.defaultdict(float)
    for path in pathlib.Path(logdir).rglob('*.xplane.pb'):
      space = xplane_pb2.XSpace()
      space.ParseFromString(path.read_bytes())
      for name, seconds in _op_events(space):
        times[part_of(name)] += seconds / calls
  return dict(times), wall


def table(times, wall, part_flops=None):
  """Lines of a breakdown: op seconds, share of all op time, GFLOP and GFLOP/s per part."""
  part_flops = part_flops or {}
  total = sum(times.values())
  order = {part: i for i, part in enumerate(PARTS + ('other',))}
  keys = sorted(set(times) | set(part_flops), key=lambda k: (order[k[0]], k[1]))
  lines = [f"{'part':<12}{'pass':<10}{'op s':>8}{'share':>8}{'GFLOP':>9}{'GFLOP/s':>9}"]
  for key in keys:
    seconds, gflop = times.get(key, 0.0), part_flops.get(key, 0) / 1e9
    rate = f'{gflop / seconds:9.0f}' if seconds and gflop else f"{'':>9}"
    lines.append(f'{key[0]:<12}{key[1]:<10}{seconds:8.3f}{seconds / total:8.1%}{gflop:9.1f}{rate}')
  lines.append(f"{'all ops':<22}{total:8.3f}{'':>8}{sum(part_flops.values()) / 1e9:9.1f}  "
               f'(wall {wall:.3f} s per step)')
  return lines
