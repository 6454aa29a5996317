"""What a run costs, from measured speeds: hours, runs per device, a grid's device-hours, replay RAM
and disk. TF-free arithmetic for doctor.py (tested in tests/test_doctor.py).

The wall-time model is the loop's own ETA (common/progress.py `Timings.eta`, as `Loop.eta` calls
it) applied to a whole run:
  seconds = collected env steps x s per env step (envs and policy)
          + updates x s per update + evaluations x s per evaluation
with updates = pretrain + (steps - prefill) / (action_repeat x train_every) x train_steps and an
evaluation at every multiple of eval_every plus one at the end (loop.Every(aligned=True)).
"""

import math

# One stored agent step: a 64x64x3 uint8 image, and float32 action, reward, discount and flags.
IMAGE_BYTES = 64 * 64 * 3


def schedule(config):
  """The keys of a config the budget reads, as plain numbers."""
  return {key: float(getattr(config, key)) for key in (
      'steps', 'prefill', 'pretrain', 'train_every', 'train_steps', 'action_repeat', 'eval_every',
      'eval_eps', 'time_limit')} | {'capacity': float(config.replay.capacity),
                                     'image_bytes': float(math.prod(config.render_size) * 3)}


def updates(plan, steps=None):
  """Training updates of a run to `steps` env steps (default plan['steps'])."""
  steps = plan['steps'] if steps is None else steps
  trained = max(0.0, steps - plan['prefill'])
  return (plan['pretrain']
          + trained / (plan['action_repeat'] * plan['train_every']) * plan['train_steps'])


def evaluations(plan, steps=None):
  steps = plan['steps'] if steps is None else steps
  return (math.floor(steps / plan['eval_every']) if plan['eval_every'] else 0) + 1


def run_seconds(plan, per_env_step, per_update, per_eval, steps=None):
  """Wall seconds of one run: {total, collect, update, eval} (the model in the module docstring)."""
  steps = plan['steps'] if steps is None else steps
  parts = {'collect': steps * per_env_step, 'update': updates(plan, steps) * per_update,
           'eval': evaluations(plan, steps) * per_eval}
  return {'total': sum(parts.values()), **parts}


def eval_seconds(plan, per_env_step):
  """One evaluation: eval_eps episodes of time_limit env steps at the collection speed."""
  return plan['eval_eps'] * plan['time_limit'] * per_env_step


def replay_bytes(plan, steps=None, step_bytes=None):
  """RAM of the in-memory replay at `steps`: the newest min(capacity, agent steps) steps."""
  steps = plan['steps'] if steps is None else steps
  step_bytes = step_bytes or plan['image_bytes'] + 64
  return min(plan['capacity'], steps / plan['action_repeat']) * step_bytes


def disk_bytes(plan, bytes_per_agent_step, steps=None):
  """Disk of a run's episodes at `steps` (every episode is kept; checkpoints are small beside
  it)."""
  steps = plan['steps'] if steps is None else steps
  return steps / plan['action_repeat'] * bytes_per_agent_step


def runs_per_device(device_bytes, run_bytes, headroom=0.9):
  """How many runs of peak `run_bytes` fit in `device_bytes` (keeping 10% free); at least 1."""
  if not device_bytes or not run_bytes:
    return 1
  return max(1, int(device_bytes * headroom // run_bytes))


def grid(runs, hours_per_run, per_device, devices=1):
  """{runs, device_hours, wall_hours}: wall time with `per_device` runs sharing each device, which
  assumes runs on one device do not slow each other (an optimistic bound: they share its
  compute)."""
  device_hours = runs * hours_per_run / per_device
  return {'runs': runs, 'device_hours': device_hours,
          'wall_hours': device_hours / max(1, devices)}
