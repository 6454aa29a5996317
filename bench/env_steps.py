"""Times environment stepping: N worker processes stepped concurrently with uniform random actions.

  python -m bench.env_steps --task dmc_walker_walk --envs 1 2 --steps 500
      [--configs dmc] [--warmup 10]

Other flags go to the config parser like train.py's (--configs, --action_repeat, --render_size ...).
Prints one line per N with env frames per second (agent steps x action_repeat, summed over envs) and
agent steps per second, then, as its last line, one JSON object with the figures.
"""

import argparse
import json
import os
import platform
import sys
import time

import envs
from common import config as configlib


def measure(config, count, steps, warmup, seed=0):
  """Starts `count` workers, steps them `warmup` times untimed, then `steps` timed agent steps each
  (episode resets included, as in training). Returns the figures as a dict."""
  start = time.perf_counter()
  batch = envs.make_batch(config.task, config, count)
  try:
    batch.reset()
    startup = time.perf_counter() - start
    space = batch.act_space['action']
    space.seed(seed)
    resets = 0

    def step_all(n):
      nonlocal resets
      for _ in range(n):
        results = batch.step([{'action': space.sample()} for _ in range(count)])
        done = [i for i, obs in enumerate(results) if obs['is_last']]
        if done:
          batch.reset(done)
          resets += len(done)

    step_all(warmup)
    resets = 0
    start = time.perf_counter()
    step_all(steps)
    elapsed = time.perf_counter() - start
  finally:
    batch.close()
  agent_steps = count * steps
  return {'envs': count, 'agent_steps': agent_steps, 'seconds': round(elapsed, 3),
          'frames_per_s': round(agent_steps * config.action_repeat / elapsed, 1),
          'agent_steps_per_s': round(agent_steps / elapsed, 1), 'resets': resets,
          'startup_s': round(startup, 2)}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--envs', type=int, nargs='+', default=[1, 2], help='worker counts to time')
  parser.add_argument('--steps', type=int, default=500, help='timed agent steps per env')
  parser.add_argument('--warmup', type=int, default=10, help='untimed agent steps per env first')
  args, rest = parser.parse_known_args(argv)
  config = configlib.parse_or_exit(rest, prog='python -m bench.env_steps')
  try:
    envs.constructor(config.task, config)  # a bad task name fails here, before any worker starts
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from None
  results = []
  for count in args.envs:
    result = measure(config, count, args.steps, args.warmup)
    results.append(result)
    print(f"{config.task} envs {count}: {result['frames_per_s']:.0f} env frames/s, "
          f"{result['agent_steps_per_s']:.1f} agent steps/s ({result['agent_steps']} agent steps "
          f"in {result['seconds']:.2f} s, action repeat {config.action_repeat}, startup "
          f"{result['startup_s']:.2f} s)", flush=True)
  print(json.dumps({'task': config.task, 'action_repeat': config.action_repeat,
                    'render_size': list(config.render_size), 'steps': args.steps,
                    'cpus': os.cpu_count(), 'machine': platform.machine(),
                    'mujoco_gl': os.environ.get('MUJOCO_GL', 'egl'), 'results': results}))


if __name__ == '__main__':
  main(sys.argv[1:])
