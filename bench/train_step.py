"""Times training steps of the real model, built from configs.yaml, on a synthetic batch.

  python -m bench.train_step --configs dmc vsg --steps 20 [--warmup 2] [any train.py flag]

Prints one line per figure and, as its last line, one JSON object with at least median_s, min_s,
max_s, first_call_s and peak_rss_mb, and a figure that carries across machines: the step's FLOPs
(matmuls and convolutions, counted from the traced graph by common/flops.py), its achieved GFLOP/s
and `fraction_of_peak`, their fraction of this machine's float32 matmul peak measured in the same
run (`--no_peak` skips the peak measurement). `--breakdown` adds where the time goes: TF
profiler op time and FLOPs per part of the step (encoder, dynamics, decoder, heads, KL, imagination,
target, actor, critic, optimizers; forward and backward), from common/profiling.py. `--part agent`
(default) times the full training step: world model, imagination, actor and critic;
`--part world_model` times the world-model update alone.
"""

import argparse
import json
import pathlib
import platform
import resource
import statistics
import sys
import time

from common import config as configlib  # sets oneDNN before TensorFlow loads
from common.synthetic import random_batch  # the synthetic batch the tests use too


def cpu_name():
  """The CPU model as lscpu names it (timings name the CPU they were taken on)."""
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
  parser.add_argument('--steps', type=int, default=20, help='timed steps after warm-up')
  parser.add_argument('--warmup', type=int, default=2, help='untimed steps after the first call')
  parser.add_argument('--action_dim', type=int, default=6, help='6 as walker; 12 as quadruped')
  parser.add_argument('--part', choices=('agent', 'world_model'), default='agent')
  parser.add_argument('--policy_steps', type=int, default=50, help='timed policy calls (1 env)')
  parser.add_argument('--no_peak', action='store_true',
                      help='skip the matmul/conv peak measurement')
  parser.add_argument('--breakdown', action='store_true', help='op time and FLOPs per part')
  args, rest = parser.parse_known_args(argv)
  config = configlib.parse_or_exit(rest, prog='python -m bench.train_step')

  import gymnasium
  import numpy as np
  import tensorflow as tf
  from common import flops, profiling, tfutils
  from dreamerv2_vsg.agent import Agent

  tfutils.setup_gpus(config.gpu_memory_growth)
  if config.deterministic:   # as the training loop does: what --deterministic True costs per step
    import keras
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
  obs_space = {'image': gymnasium.spaces.Box(0, 255, tuple(config.render_size) + (3,), np.uint8)}
  act_space = {'action': gymnasium.spaces.Box(-1, 1, (args.action_dim,), np.float32)}
  agent = Agent(config, obs_space, act_space)
  agent.build()
  model = agent.wm
  data = random_batch(config.dataset.batch, config.dataset.length, args.action_dim,
                    image_shape=tuple(config.render_size) + (3,))
  data = {k: tf.constant(v) for k, v in data.items()}
  if args.part == 'agent':
    step, traced = (lambda: agent.train(data)['model_loss']), agent._train
  else:
    traced = tfutils.TracedFunction(model.train_step, name='world_model.train')
    step = lambda: float(traced(data)[1]['model_loss'])
  start = time.perf_counter()
  step()
  first = time.perf_counter() - start
  for _ in range(args.warmup):
    step()
  times = []
  for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)

  obs = {'image': data['image'][:1, 0].numpy(), 'is_first': data['is_first'][:1, 0].numpy()}
  policy_times, state = [], None
  for _ in range(args.policy_steps and args.policy_steps + 1):   # the first call traces
    start = time.perf_counter()
    _, state = agent.policy(obs, state)
    policy_times.append(time.perf_counter() - start)
  policy_times = policy_times[1:]
  # the timed trace: no retrace
  counted = flops.count_function(traced, data, part=profiling.part_of)
  rss = peak_rss_mb()
  device_mb = (tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**20
               if tf.config.list_physical_devices('GPU') else None)
  breakdown = profiling.op_times(step) if args.breakdown else None
  peak = None if args.no_peak else flops.peaks()   # after the RSS reading: its buffers are ~0.3 GB

  result = {
      'part': args.part, 'method': config.method, 'dynamics': config.dynamics,
      'batch': config.dataset.batch, 'length': config.dataset.length,
      'deter': config.rssm.deter, 'deterministic': bool(config.deterministic),
      'precision': model.precision.name, 'jit': tfutils.resolve_jit(config.jit),
      'steps': len(times), 'median_s': round(statistics.median(times), 4),
      'min_s': round(min(times), 4), 'max_s': round(max(times), 4),
      'first_call_s': round(first, 2), 'traces': traced.traces,
      'peak_rss_mb': round(rss), 'peak_device_mb': device_mb and round(device_mb),
      'params': int(sum(
          v.numpy().size for v in (agent.trainable_variables if args.part == 'agent'
                                   else model.trainable_variables))),
      'machine': f'{cpu_name()}, TF {tf.__version__}',
      'gflop': round(counted['dense'] / 1e9, 1), 'other_gflop': round(counted['other'] / 1e9, 2),
  }
  if peak:
    result.update(peak, **flops.summary(counted, result['median_s'], peak))
  print(f"{config.method} {args.part} training step, batch {result['batch']}x{result['length']}, "
        f"deter {result['deter']}, precision {result['precision']}, jit {result['jit']}: "
        f"median {result['median_s']:.3f} s, min {result['min_s']:.3f}, max {result['max_s']:.3f} "
        f"over {len(times)} steps")
  if policy_times:
    result.update(policy_median_s=round(statistics.median(policy_times), 5),
                  policy_min_s=round(min(policy_times), 5),
                  policy_max_s=round(max(policy_times), 5))
    print(f"policy step (1 env, sampling): median {result['policy_median_s'] * 1e3:.1f} ms, min "
          f"{result['policy_min_s'] * 1e3:.1f}, max {result['policy_max_s'] * 1e3:.1f} over "
          f"{len(policy_times)} calls")
  if peak:
    print(f"{result['gflop']:.1f} GFLOP of matmuls and convolutions per step (from the graph; "
          f"{result['other_gflop']:.2f} more in elementwise ops): {result['achieved_gflops']:.0f} "
          f"GFLOP/s = {result['fraction_of_peak']:.2f} of this CPU's float32 matmul peak "
          f"({result['matmul_gflops']:.0f} GFLOP/s; convolution {result['conv_gflops']:.0f}); "
          f"the FLOP limit is {result['limit_s']:.3f} s")
  print(f"first call (trace + compile + step): {result['first_call_s']:.1f} s; "
        f"traces: {result['traces']}; peak RSS {result['peak_rss_mb']} MB")
  if breakdown:
    print('\n'.join(profiling.table(*breakdown, counted['by_part'])))
    result['breakdown'] = {f'{part}/{direction}': {
        'op_s': round(seconds, 4),
        'gflop': round(counted['by_part'].get((part, direction), 0) / 1e9, 2)}
        for (part, direction), seconds in breakdown[0].items()}
  print(json.dumps(result))


if __name__ == '__main__':
  main(sys.argv[1:])
