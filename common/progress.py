"""Progress lines for long runs: the phase, env step / total, env steps/s, updates/s and an ETA.

Plain lines (they read the same in a terminal and in a log file), printed when a phase starts and
then at most every `every` seconds, e.g.
  [progress] train | env step 12000/500000 (2.4%) | 31.5 env steps/s | 3.15 updates/s | ETA 4h18m
"""

import collections
import time


def duration(seconds):
  """'4h18m' (hours and minutes; '0h00m' under a minute)."""
  minutes = int(round(max(0.0, seconds) / 60))
  return f'{minutes // 60}h{minutes % 60:02d}m'


class Progress:

  def __init__(self, total, every=30.0, out=print, clock=time.monotonic):
    self.total, self.every, self._out, self._clock = total, every, out, clock
    self._phase, self._last = None, None  # (time, step, updates) of the last line

  def __call__(self, phase, step, updates, eta, eta_lower_bound=False, detail=''):
    """Prints a line if the phase changed or `every` seconds passed; eta in seconds."""
    now = self._clock()
    if phase == self._phase and now - self._last[0] < self.every:
      return False
    parts = [f'[progress] {phase}', f'env step {step}/{self.total} '
             f'({100 * step / max(self.total, 1):.1f}%)']
    last = self._last or (now, step, updates)
    elapsed = max(now - last[0], 1e-9)
    parts += [f'{(step - last[1]) / elapsed:.1f} env steps/s',
              f'{(updates - last[2]) / elapsed:.2f} updates/s']
    parts += [detail] if detail else []
    parts.append(f'ETA {duration(eta)}' + ('+ (a lower bound until updates are timed)'
                                           if eta_lower_bound else ''))
    self._out(' | '.join(parts), flush=True)
    self._phase, self._last = phase, (now, step, updates)
    return True


class Timings:
  """What a run measured in this process, and what follows from it (the ETA, done.json's timing).

  `seconds` holds the wall time spent collecting (policy, envs and updates together; per policy
  mode without the updates under `collect/MODE`), in updates (the first, which traces, also under
  `first_update`), in the policy and in evaluations; `counts` the env steps collected (per mode
  under `collected/MODE`), the updates and the evaluations.
  """

  def __init__(self):
    self.seconds, self.counts = collections.Counter(), collections.Counter()

  def per_env_step(self, mode=None):
    """Seconds per collected env step (envs and policy, without updates) in `mode`; by default
    with the training policy once it has run, else the random prefill's."""
    seconds, counts = self.seconds, self.counts
    mode = mode or ('train' if counts['collected/train'] else 'random')
    return seconds[f'collect/{mode}'] / counts[f'collected/{mode}'] if (
        counts[f'collected/{mode}']) else 0.0

  def per_update(self):
    """Seconds per update; the first update traces the training step, so it is left out once
    there are others. None before any update."""
    seconds, counts = self.seconds, self.counts
    if counts['update'] > 1:
      return (seconds['update'] - seconds['first_update']) / (counts['update'] - 1)
    return seconds['update'] if counts['update'] else None

  def eta(self, remaining, updates, evals):
    """(seconds, whether it is a lower bound) for `remaining` env steps with their `updates` and
    `evals` at the measured speeds; a lower bound while no update has been timed."""
    per_eval = self.seconds['eval'] / self.counts['eval'] if self.counts['eval'] else 0.0
    seconds = remaining * self.per_env_step() + updates * (self.per_update() or 0.0)
    return seconds + evals * per_eval, not self.counts['update']

  def timing(self):
    """The measured speeds (the ETA's inputs): seconds per collected env step with the training
    policy and in the random prefill, per update (the first, which traces, apart) and per
    evaluation."""
    seconds, counts = self.seconds, self.counts
    return {
        'per_env_step': self.per_env_step('train') or None,
        'per_prefill_step': self.per_env_step('random') or None,
        'per_update': self.per_update() if counts['update'] > 1 else None,
        'first_update': seconds['first_update'], 'updates': counts['update'],
        'per_eval': seconds['eval'] / counts['eval'] if counts['eval'] else None,
        'collected': counts['collected']}
