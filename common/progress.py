"""Progress lines for long runs: the phase, env step / total, env steps/s, updates/s and an ETA.

Plain lines (they read the same in a terminal and in a log file), printed when a phase starts and
then at most every `every` seconds, e.g.
  [progress] train | env step 12000/500000 (2.4%) | 31.5 env steps/s | 3.15 updates/s | ETA 4h18m
"""

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
