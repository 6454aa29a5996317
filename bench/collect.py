"""Times collection as train.py does it: the agent's policy acting in N parallel environments.

  python -m bench.collect --configs dmc vsg --task dmc_walker_walk --envs_list 1 2 --steps 200

For each N, runs the training loop (dreamerv2_vsg/loop.py) in a temporary logdir with N worker
environments and lets the real agent (untrained weights: acting costs the same) collect with its
sampling policy, without training updates. Prints env frames/s (agent steps x action_repeat,
summed over envs), the policy's share of the time, and as its last line a JSON object with the
figures.
"""

import argparse
import json
import sys
import time

from common import config as configlib


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
  parser.add_argument('--envs_list', type=int, nargs='+', default=[1, 2])
  parser.add_argument('--steps', type=int, default=200, help='timed agent steps per env')
  args, rest = parser.parse_known_args(argv)
  config = configlib.parse_or_exit(rest, prog='python -m bench.collect')

  import tempfile
  from dreamerv2_vsg.loop import Loop

  results = []
  for count in args.envs_list:
    with tempfile.TemporaryDirectory() as logdir, \
        Loop(config.update(envs=count, logdir=logdir)) as loop:
      loop.collect(10 * count, update=False)                 # warm-up: trace the policy, start envs
      loop.seconds.clear()
      start = time.perf_counter()
      loop.collect(args.steps * count, update=False)
      seconds = time.perf_counter() - start
      policy_time = loop.seconds['policy']
    frames = args.steps * count * config.action_repeat / seconds
    results.append({'envs': count, 'frames_per_s': round(frames, 1),
                    'agent_steps_per_s': round(args.steps * count / seconds, 1),
                    'policy_share': round(policy_time / seconds, 2)})
    print(f'{config.method} acting on {config.task} with {count} env(s): '
          f'{frames:.0f} env frames/s, {args.steps * count / seconds:.1f} agent steps/s, '
          f'policy {policy_time / seconds:.0%} of the time', flush=True)
  print(json.dumps({'task': config.task, 'method': config.method, 'deter': config.rssm.deter,
                    'results': results}))


if __name__ == '__main__':
  main(sys.argv[1:])
