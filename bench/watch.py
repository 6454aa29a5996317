"""What watching a run costs: the eval policy video and the gate summaries, beside a training step.

  python -m bench.watch --configs dmc vsg cpu [--frames 501] [--repeats 5]

Times, on the real agent built from the configs and a synthetic batch: logging one evaluation
episode's video to TensorBoard (`eval_policy`: GIF encoding and the event write, `--frames` 64x64
frames, 501 = a DMC episode at action repeat 2), the gate summaries of a log step (the traced
gate_report on 6 sequences, the picture, the histogram and their write), and a full training step.
Prints one line per figure; the last line is a JSON object of the medians in seconds.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time

from common import config as configlib


def median_time(fn, repeats):
  fn()  # the first call traces
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
  parser.add_argument('--frames', type=int, default=501)
  parser.add_argument('--repeats', type=int, default=5)
  args, rest = parser.parse_known_args(argv)
  config = configlib.parse_or_exit(rest, prog='python -m bench.watch')
  from common import quiet
  quiet.import_tensorflow()
  import gymnasium
  import numpy as np
  from common.logger import Logger
  from common.synthetic import random_batch
  from dreamerv2_vsg.agent import Agent

  size = tuple(config.render_size)
  agent = Agent(config, {'image': gymnasium.spaces.Box(0, 255, size + (3,), np.uint8)},
                {'action': gymnasium.spaces.Box(-1, 1, (6,), np.float32)})
  data = random_batch(config.dataset.batch, config.dataset.length, 6, image_shape=size + (3,))
  frames = np.random.default_rng(0).integers(0, 256, (args.frames,) + size + (3,), np.uint8)
  result = {'method': config.method}
  with tempfile.TemporaryDirectory() as logdir:
    logger = Logger(logdir, outputs=('tensorboard',))

    def video():
      logger.video('eval_policy', frames)
      logger.write()

    def gates():
      logger.summaries(agent.summaries(data, openl=False))
      logger.write()

    result['policy_video_s'] = median_time(video, args.repeats)
    if agent.wm.dynamics.gated:
      result['gate_summaries_s'] = median_time(gates, args.repeats)
    result['train_step_s'] = median_time(lambda: agent.train(data), args.repeats)
    logger.close()
  print(f"eval_policy video of {args.frames} frames: {result['policy_video_s']:.3f} s "
        "per evaluation")
  if 'gate_summaries_s' in result:
    print(f"gate summaries: {result['gate_summaries_s']:.3f} s per log step "
          f"({result['gate_summaries_s'] / result['train_step_s']:.1%} of a training step)")
  print(f"training step: {result['train_step_s']:.3f} s")
  print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == '__main__':
  main(sys.argv[1:])
