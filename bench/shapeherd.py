"""Times ShapeHerd in one process with a random policy and 64x64 observations.

  python -m bench.shapeherd --steps 5000 [--task shapeherd] [--repeats 3]

Prints env steps/s for the raw gymnasium env (the observation drawn at every env step) and for the
training stack (envs.make(..., parallel=False): action repeat 4 and the wrappers; every env step is
drawn there too), each the median of `repeats` timed runs of `steps` env steps with episode resets
included, then, as its last line, one JSON object with the figures.
"""

import argparse
import json
import platform
import statistics
import time

import numpy as np

import envs
from envs import shapeherd
from envs import shapeherd_tasks
from common import config as configlib


def time_raw(task, steps, seed):
  env = shapeherd.ShapeHerd(**shapeherd_tasks.parse_task(task))
  actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 2)).astype(np.float32)
  env.reset(seed=seed)
  start = time.perf_counter()
  for action in actions:
    _, _, terminated, truncated, _ = env.step(action)
    if terminated or truncated:
      env.reset()
  return steps / (time.perf_counter() - start)


def time_wrapped(task, steps, seed):
  config = configlib.parse(['--configs', 'shapeherd'])  # action repeat 4, 3000 env steps [P]
  env = envs.make(task, config, parallel=False)
  repeat = config.action_repeat
  agent_steps = max(1, steps // repeat)
  actions = np.random.default_rng(seed).uniform(-1, 1, (agent_steps, 2)).astype(np.float32)
  env.reset()
  start = time.perf_counter()
  for action in actions:
    if env.step({'action': action})['is_last']:
      env.reset()
  elapsed = time.perf_counter() - start
  env.close()
  # env steps (the last repeat of an episode may be cut)
  return agent_steps * repeat / elapsed, repeat


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=5000, help='timed env steps per run')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--task', default='shapeherd')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  time_raw(args.task, 200, args.seed)  # warm up imports and caches
  raw = [time_raw(args.task, args.steps, args.seed + i) for i in range(args.repeats)]
  wrapped = [time_wrapped(args.task, args.steps, args.seed + i) for i in range(args.repeats)]
  repeat = wrapped[0][1]
  wrapped = [w for w, _ in wrapped]
  result = {
      'task': args.task, 'steps': args.steps, 'repeats': args.repeats,
      'raw_env_steps_per_s': round(statistics.median(raw), 1),
      'wrapped_env_steps_per_s': round(statistics.median(wrapped), 1),
      'wrapped_agent_steps_per_s': round(statistics.median(wrapped) / repeat, 1),
      'action_repeat': repeat, 'observation': [64, 64, 3], 'drawn_every_env_step': True,
      'python': platform.python_version(), 'machine': platform.machine(),
  }
  print(f'raw env ({args.task}, random policy, 64x64 drawn every env step): '
        f'{result["raw_env_steps_per_s"]:.0f} env steps/s (median of {args.repeats}: '
        f'{", ".join(f"{x:.0f}" for x in raw)})')
  print(f'training stack (envs.make parallel=False, action repeat {repeat}): '
        f'{result["wrapped_env_steps_per_s"]:.0f} env steps/s = '
        f'{result["wrapped_agent_steps_per_s"]:.0f} agent steps/s (median of {args.repeats}: '
        f'{", ".join(f"{x:.0f}" for x in wrapped)})')
  print(json.dumps(result))


if __name__ == '__main__':
  main()
