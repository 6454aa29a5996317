"""common/flops.py: FLOPs counted from traced graphs equal hand counts (loops, gradients, pruning,
convolutions), and the agent's step is counted whole."""

import gymnasium
import numpy as np
import pytest
import tensorflow as tf

from common import flops, profiling
from common.synthetic import random_batch
from dreamerv2_vsg.agent import Agent
from tests.conftest import make_config
from tests.helpers import python


def spec(*shape):
  return tf.TensorSpec(shape, tf.float32)


def test_a_scan_and_its_gradient_count_every_iteration():
  def step(x, w):
    with tf.GradientTape() as tape:
      tape.watch(w)
      ys = tf.scan(lambda h, xt: tf.tanh(tf.matmul(h, w) + xt), x, initializer=tf.zeros([4, 8]))
      loss = tf.reduce_sum(ys)
    return tape.gradient(loss, w)
  counted = flops.count_function(tf.function(step), spec(7, 4, 8), spec(8, 8))
  # 7 iterations of a 4x8 @ 8x8 matmul, and in the gradient loop one for dh and one for dw.
  assert counted['dense'] == 7 * 3 * (2 * 4 * 8 * 8)
  assert counted['by_type'] == {**counted['by_type'], 'MatMul': 7 * 3 * 2 * 4 * 8 * 8}
  assert counted['other'] > 0 and counted['unknown_shape'] == 0


def test_ops_no_output_needs_are_not_counted():
  def step(a, b):
    unused = tf.matmul(a, b)   # noqa: F841  (pruned by TensorFlow before it runs)
    return tf.matmul(a, a)
  counted = flops.count_function(tf.function(step), spec(16, 16), spec(16, 32))
  assert counted['dense'] == 2 * 16 * 16 * 16


def test_input_gradient_alone_skips_the_weight_gradient():
  w = tf.Variable(tf.ones([8, 8]))
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(tf.matmul(x, w))
    return loss, tape.gradient(loss, x)
  counted = flops.count_function(tf.function(step), spec(4, 8))
  assert counted['dense'] == 2 * (2 * 4 * 8 * 8)   # forward and dx, not dw


@pytest.mark.parametrize('transpose', [False, True])
def test_a_convolution_and_both_its_gradients_count_as_three_forward_passes(transpose):
  kernel = tf.Variable(tf.random.normal([4, 4, 3, 8] if not transpose else [4, 4, 8, 3]))
  def step(images):
    with tf.GradientTape() as tape:
      tape.watch(images)
      if transpose:   # a decoder layer: 15x15x3 -> 32x32x8
        out = tf.nn.conv2d_transpose(images, kernel, [2, 32, 32, 8], 2, 'VALID')
      else:           # an encoder layer: 32x32x3 -> 15x15x8
        out = tf.nn.conv2d(images, kernel, 2, 'VALID')
      loss = tf.reduce_sum(out)
    return loss, tape.gradient(loss, [images, kernel])
  counted = flops.count_function(tf.function(step), spec(2, 15, 15, 3) if transpose else
                                 spec(2, 32, 32, 3))
  forward = 2 * (2 * 15 * 15 * 8) * (4 * 4 * 3) if not transpose else \
      2 * (2 * 15 * 15 * 3) * (4 * 4 * 8)
  assert counted['dense'] == 3 * forward
  assert set(counted['by_type']) >= {'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'}


def test_a_loop_without_a_constant_trip_count_is_refused():
  def step(x, n):
    return tf.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, tf.matmul(y, y)), (0, x))[1]
  with pytest.raises(flops.Uncountable, match='maximum_iterations'):
    flops.count_function(tf.function(step), spec(4, 4), tf.TensorSpec([], tf.int32))


def test_summary_is_the_fraction_of_the_matmul_peak():
  result = flops.summary({'dense': 300e9, 'other': 1e9}, 2.0, {'matmul_gflops': 200.0})
  assert result == {'gflop': 300.0, 'other_gflop': 1.0, 'achieved_gflops': 150.0,
                    'fraction_of_peak': 0.75, 'limit_s': 1.5}


@pytest.fixture(scope='module')
def agent_and_batch():
  obs_space = {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
  act_space = {'action': gymnasium.spaces.Box(-1, 1, (2,), np.float32)}
  agent = Agent(make_config('vsg'), obs_space, act_space)
  agent.build()
  return agent, {k: tf.constant(v)
                 for k, v in random_batch(batch=2, length=4, action_dim=2).items()}


def test_the_agent_step_counts_every_part(agent_and_batch):
  agent, data = agent_and_batch
  whole = flops.count_function(agent._train, data, part=profiling.part_of)
  world_model = flops.count_function(tf.function(agent.wm.train_step), data)
  assert whole['unknown_shape'] == 0 and world_model['unknown_shape'] == 0
  # the behaviour part (imagination, actor, critic) adds FLOPs; convolutions are all world model
  assert whole['dense'] > world_model['dense']
  for kind in ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'):
    assert whole['by_type'][kind] == world_model['by_type'][kind]
  assert sum(whole['by_part'].values()) == whole['dense']
  assert whole['by_part'].get(('other', 'forward'), 0) == 0   # every matmul is in a named part
  for key in [('encoder', 'forward'), ('encoder', 'backward'), ('decoder', 'backward'),
              ('dynamics', 'forward'), ('imagine', 'forward'), ('imagine', 'backward'),
              ('actor', 'backward'), ('critic', 'forward'), ('target', 'forward')]:
    assert whole['by_part'][key] > 0, key


def test_the_profile_times_every_part_of_the_step(agent_and_batch):
  agent, data = agent_and_batch
  agent.train(data)
  times, wall = profiling.op_times(lambda: agent.train(data))
  for key in [('encoder', 'forward'), ('encoder', 'backward'), ('dynamics', 'forward'),
              ('decoder', 'forward'), ('kl', 'forward'), ('model_opt', 'update'),
              ('imagine', 'forward'), ('imagine', 'backward'), ('actor', 'backward'),
              ('critic', 'backward'), ('critic_opt', 'update')]:
    assert times[key] > 0, key
  other = sum(s for (part, _), s in times.items() if part == 'other')
  assert other < 0.1 * sum(times.values()) and wall > 0
  lines = profiling.table(times, wall)
  assert lines[1].startswith('encoder') and 'wall' in lines[-1]


def test_op_names_give_part_and_pass():
  assert profiling.part_of('gradient_tape/decoder/dec_conv2_1/conv_transpose/Conv2D') == (
      'decoder', 'backward')
  assert profiling.part_of('imagine/scan/while/body/_639/imagine/scan/while/Softmax') == (
      'imagine', 'forward')
  assert profiling.part_of('model_opt/Adam/update') == ('model_opt', 'update')
  assert profiling.part_of('Cast') == ('other', 'forward')


def test_peaks_are_positive_rates():
  peak = flops.peaks(matmul_size=256, repeats=2)
  assert set(peak) == {'matmul_gflops', 'conv_gflops'} and min(peak.values()) > 0


@pytest.mark.slow  # the benchmark in a child process
def test_train_step_benchmark_prints_flops_and_breakdown():
  import json
  done = python('-m', 'bench.train_step', '--configs', 'dmc', 'vsg', 'debug', '--steps', '1',
                '--warmup', '0', '--policy_steps', '1', '--no_peak', '--breakdown')
  assert done.returncode == 0, done.stderr[-2000:]
  result = json.loads(done.stdout.strip().splitlines()[-1])
  assert result['traces'] == 1 and result['gflop'] > 0 and result['machine']
  assert result['breakdown']['encoder/backward']['gflop'] > 0
  assert 'part        pass' in done.stdout
