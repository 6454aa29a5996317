"""FLOPs of a traced step, counted from its graph, and this machine's float32 peaks, measured.

The count walks the concrete function's graph and every function it calls (tf.scan/while bodies,
their gradients, nested calls), skipping ops no output depends on (TensorFlow prunes them before it
runs a graph), multiplying a loop body by its trip count (its
`maximum_iterations` constant, which the gradient loop shares with its forward loop). It counts the
dense-compute ops that bound a step's time on a CPU (matmuls and convolutions, forward and backward)
with TensorFlow's own per-op FLOP statistics (2 per multiply-add), and reports elementwise ops
apart: they are memory-bound, and a fraction of a matmul peak means nothing for them.
"""

import time

import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.framework import tensor_util
from tensorflow.python.profiler.internal import flops_registry  # noqa: F401  (registers statistics)
from tensorflow.python.util import deprecation

DENSE = ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Conv2D',
         'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNative')
LOOPS = ('While', 'StatelessWhile')
CALLS = ('PartitionedCall', 'StatefulPartitionedCall')


class Uncountable(ValueError):
  pass


def _conv_backprop_flops(op):
  """Exact FLOPs of a convolution's input or filter gradient: as many multiply-adds as the forward
  convolution (TF's registry estimates them from the image size over the stride, ~6% more for our
  4x4 stride-2 VALID layers)."""
  kernel = op.inputs[1] if op.type == 'Conv2DBackpropInput' else op.outputs[0]
  out_backprop = op.inputs[2]
  if not (kernel.shape.is_fully_defined() and out_backprop.shape.is_fully_defined()):
    return None
  kh, kw, depth_in, _ = kernel.shape.as_list()
  return 2 * out_backprop.shape.num_elements() * kh * kw * depth_in


def _op_flops(graph, op):
  if op.type in ('Conv2DBackpropInput', 'Conv2DBackpropFilter'):
    return _conv_backprop_flops(op)
  try:
    return tf_ops.get_stats_for_node_def(graph, op.node_def, 'flops').value or 0
  except (ValueError, KeyError, TypeError):
    return None   # no statistic registered, or shapes unknown


def _trip_count(op):
  count = tensor_util.constant_value(op.inputs[1])
  if count is None or count < 0:
    raise Uncountable(f'loop {op.name} has no constant maximum_iterations; cannot count its FLOPs')
  return int(count)


def live_ops(graph):
  """The ops the function's outputs and side effects depend on: TensorFlow prunes the rest before
  running (e.g. the weight gradient of a layer whose input gradient alone is used)."""
  roots = ([t.op for t in getattr(graph, 'outputs', [])]
           + list(getattr(graph, 'control_outputs', [])))
  if not roots:
    return set(graph.get_operations())
  live, stack = set(), roots
  while stack:
    op = stack.pop()
    if op not in live:
      live.add(op)
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
  return live


def count(graph, functions=None, part=None):
  """{'dense': FLOPs of matmuls and convolutions, 'other': of the other ops with a statistic,
  'by_type': {op type: FLOPs}, 'by_part': {part(op name): dense FLOPs} (with a `part` function),
  'unknown_shape': dense ops skipped for unknown shapes}."""
  functions = functions if functions is not None else {}
  functions.update(getattr(graph, '_functions', {}))
  total = {'dense': 0, 'other': 0, 'by_type': {}, 'by_part': {}, 'unknown_shape': 0}

  def add(inner, times):
    for key in ('dense', 'other', 'unknown_shape'):
      total[key] += inner[key] * times
    for group in ('by_type', 'by_part'):
      for key, value in inner[group].items():
        total[group][key] = total[group].get(key, 0) + value * times

  live = live_ops(graph)
  for op in graph.get_operations():
    if op not in live:
      continue
    if op.type in LOOPS:
      add(count(functions[op.get_attr('body').name].graph, functions, part), _trip_count(op))
    elif op.type in CALLS or op.type == 'If' or op.type == 'StatelessIf':
      names = [op.get_attr('f').name] if op.type in CALLS else [op.get_attr('then_branch').name]
      for name in names:   # of a conditional, the branch taken in a normal step: `then`
        add(count(functions[name].graph, functions, part), 1)
    else:
      flops = _op_flops(graph, op)
      if flops is None:
        total['unknown_shape'] += op.type in DENSE
        continue
      if flops:
        total['dense' if op.type in DENSE else 'other'] += flops
        total['by_type'][op.type] = total['by_type'].get(op.type, 0) + flops
        if part and op.type in DENSE:
          key = part(op.name)
          total['by_part'][key] = total['by_part'].get(key, 0) + flops
  return total


def count_function(function, *args, part=None):
  """FLOPs of one call of a tf.function (or TracedFunction) with these arguments."""
  function = getattr(function, '_fn', function)
  with deprecation.silence():   # the registry's statistics use a TF1 shape helper
    return count(function.get_concrete_function(*args).graph, part=part)


def best_seconds(fn, repeats):
  """The fastest of `repeats` calls of fn, after one untimed warm-up call (oneDNN primitive
  creation)."""
  fn()
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def _best_rate(fn, flops, repeats):
  return flops / best_seconds(fn, repeats)


def peaks(matmul_size=4096, repeats=10):
  """This machine's float32 GFLOP/s: a square matmul, and a 4x4 stride-2 convolution the size of
  the DMC encoder's second layer (batch 800 of 31x31x48 -> 14x14x96), best of `repeats`."""
  a = tf.random.normal([matmul_size, matmul_size])
  b = tf.random.normal([matmul_size, matmul_size])
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
  images = tf.random.normal([800, 31, 31, 48])
  kernel = tf.random.normal([4, 4, 48, 96])
  conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(images, kernel, 2, 'VALID')))
  conv_flops = 2 * 800 * 14 * 14 * 96 * 4 * 4 * 48
  return {'matmul_gflops': round(_best_rate(matmul, 2 * matmul_size ** 3, repeats) / 1e9, 1),
          'conv_gflops': round(_best_rate(conv, conv_flops, repeats) / 1e9, 1)}


def summary(flops, seconds, peak):
  """Achieved GFLOP/s of the dense ops and their fraction of the matmul peak."""
  achieved = flops['dense'] / seconds / 1e9
  return {'gflop': round(flops['dense'] / 1e9, 1), 'other_gflop': round(flops['other'] / 1e9, 2),
          'achieved_gflops': round(achieved, 1),
          'fraction_of_peak': round(achieved / peak['matmul_gflops'], 3),
          'limit_s': round(flops['dense'] / 1e9 / peak['matmul_gflops'], 3)}

