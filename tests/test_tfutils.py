"""Precision and XLA switches, oneDNN default, variable collection and the optimizer."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import tfutils


def test_auto_precision_and_jit_resolve_by_device():
  has_gpu = bool(tf.config.list_physical_devices('GPU'))
  assert tfutils.resolve_precision('auto') == (16 if has_gpu else 32)
  assert tfutils.resolve_jit('auto') == has_gpu
  assert tfutils.resolve_precision('16') == 16 and tfutils.resolve_precision(32) == 32
  assert tfutils.resolve_precision('BF16') == 'bf16'
  assert tfutils.compute_dtype('bf16') == tf.bfloat16 and tfutils.policy('bf16') == 'mixed_bfloat16'
  assert tfutils.resolve_jit('False') is False and tfutils.resolve_jit(True) is True


@pytest.mark.parametrize('fn, value, message', [
    (tfutils.resolve_precision, '8', "precision must be 32, 16, bf16 or 'auto', got '8'"),
    (tfutils.resolve_jit, 'maybe', "jit must be True, False or 'auto', got 'maybe'"),
])
def test_bad_switch_values_name_the_valid_ones(fn, value, message):
  with pytest.raises(ValueError, match=message):
    fn(value)


@pytest.mark.parametrize('growth', [True, False])
def test_gpu_memory_growth_is_set_on_every_gpu(growth, monkeypatch):
  calls = []
  monkeypatch.setattr(tf.config, 'list_physical_devices', lambda kind=None: ['gpu0', 'gpu1'])
  monkeypatch.setattr(tf.config.experimental, 'set_memory_growth',
                      lambda device, value: calls.append((device, value)))
  tfutils.setup_gpus(memory_growth=growth)
  assert calls == [('gpu0', growth), ('gpu1', growth)]


@pytest.mark.parametrize('preset, expected', [(None, '1'), ('0', '0')])
def test_common_enables_onednn_unless_the_user_chose(preset, expected):
  env = {k: v for k, v in os.environ.items() if k != 'TF_ENABLE_ONEDNN_OPTS'}
  if preset is not None:
    env['TF_ENABLE_ONEDNN_OPTS'] = preset
  code = 'import os, common; print(os.environ["TF_ENABLE_ONEDNN_OPTS"])'
  out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
  assert out.stdout.strip() == expected


class _Pair(tfutils.Module):
  def __init__(self):
    self.first = keras.layers.Dense(3)
    self.nested = {'inner': [keras.layers.Dense(2)]}


def test_module_collects_keras_variables_in_order():
  module = _Pair()
  module.first(tf.zeros([1, 4]))
  module.nested['inner'][0](tf.zeros([1, 3]))
  shapes = [tuple(v.shape) for v in module.trainable_variables]
  assert shapes == [(4, 3), (3,), (3, 2), (2,)]
  assert len(module.variables) == 4


def test_weight_decay_is_decoupled_and_unscaled_by_the_learning_rate():
  # Spec h.36: with a zero gradient, one step multiplies every variable by (1 - wd).
  var = tf.Variable(np.arange(1.0, 5.0, dtype=np.float32))
  opt = tfutils.Optimizer('test', lr=1e-3, wd=0.1)
  opt.build([var])
  with tf.GradientTape() as tape:
    loss = 0.0 * tf.reduce_sum(var)
  metrics = opt.minimize(tape, loss, [var])
  np.testing.assert_allclose(var.numpy(), 0.9 * np.arange(1.0, 5.0), rtol=1e-6)
  assert float(metrics['test_grad_norm']) == 0.0


def test_missing_gradient_names_the_variable():
  used, unused = tf.Variable(1.0, name='used'), tf.Variable(2.0, name='unused')
  opt = tfutils.Optimizer('test', lr=1e-3)
  with tf.GradientTape() as tape:
    loss = used * 2.0
  with pytest.raises(ValueError, match='test: no gradient reaches'):
    opt.minimize(tape, loss, [used, unused])


def test_a_precision_is_resolved_once_into_one_value_every_part_takes():
  bf16 = tfutils.as_precision('bf16')
  assert (bf16.name, bf16.policy, bf16.dtype, bf16.loss_scaling) == (
      'bf16', 'mixed_bfloat16', tf.bfloat16, False)
  assert tfutils.as_precision(bf16) is bf16 and str(bf16) == 'bf16'
  assert tfutils.as_precision('16').loss_scaling and not tfutils.as_precision(32).loss_scaling
  import gymnasium
  from dreamerv2_vsg.agent import Agent
  from tests.conftest import make_config
  agent = Agent(make_config('vsg', precision='bf16'),
                {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)},
                {'action': gymnasium.spaces.Box(-1, 1, (2,), np.float32)})
  assert agent.wm.precision is agent.precision and agent.precision.name == 'bf16'
  assert agent.wm.dynamics._policy == 'mixed_bfloat16'
