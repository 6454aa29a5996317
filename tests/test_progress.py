"""common/progress.py: the ETA and timing from measured seconds and counts, and progress lines."""

import pytest

from common.progress import Progress, Timings, duration


def test_the_eta_leaves_the_traced_first_update_out_and_is_a_lower_bound_until_one_ran():
  timings = Timings()
  timings.seconds.update({'collect/random': 10.0})
  timings.counts.update({'collected/random': 100})
  assert timings.eta(50, 10, 0) == (pytest.approx(5.0), True)     # 0.1 s per env step, no update
  timings.seconds.update({'update': 32.0, 'first_update': 30.0, 'eval': 6.0,
                          'collect/train': 4.0})
  timings.counts.update({'update': 5, 'eval': 2, 'collected/train': 20})
  # 0.2 s per env step with the policy, (32 - 30) / 4 = 0.5 s per update, 3 s per evaluation.
  assert timings.eta(50, 10, 2) == (pytest.approx(50 * 0.2 + 10 * 0.5 + 2 * 3.0), False)
  timing = timings.timing()
  assert timing['per_update'] == 0.5 and timing['first_update'] == 30.0
  assert timing['per_env_step'] == 0.2 and timing['per_prefill_step'] == 0.1
  assert timing['per_eval'] == 3.0 and timing['updates'] == 5


def test_progress_prints_on_a_new_phase_or_after_its_interval():
  lines, now = [], [0.0]
  progress = Progress(1000, every=30, out=lambda line, flush: lines.append(line),
                      clock=lambda: now[0])
  assert progress('prefill', 0, 0, 60, eta_lower_bound=True)
  now[0] = 10.0
  assert not progress('prefill', 100, 0, 50)
  assert progress('train', 200, 4, 3600)
  assert lines[-1] == ('[progress] train | env step 200/1000 (20.0%) | 20.0 env steps/s | '
                       '0.40 updates/s | ETA 1h00m')
  assert lines[0].endswith('ETA 0h01m+ (a lower bound until updates are timed)')
  assert duration(59 * 60 + 40) == '1h00m' and duration(-5) == '0h00m'
