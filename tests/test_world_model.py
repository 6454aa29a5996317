"""World model: networks' shapes, the joint loss of Eq. 3, and that a training step trains
everything."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import nets
from common import tfutils
from common.synthetic import random_batch
from dreamerv2_vsg.world_model import WorldModel
from tests.conftest import METHODS, make_config

BASE_METRICS = {'model_loss', 'image_loss', 'reward_loss', 'kl_loss', 'kl', 'model_grad_norm'}
GATE_METRICS = {'sparsity_loss', 'gate_prob', 'gate_open_rate'}


def traced_train(model, action_dim=3, jit=False):
  """The world-model update alone, traced as the agent traces its whole step."""
  model.build(action_dim)
  return tfutils.TracedFunction(model.train_step, jit=jit, name='world_model.train')


def test_encoder_and_decoder_sizes():
  # Spec h.20/h.21: 64 -> 31 -> 14 -> 6 -> 2 and 1 -> 5 -> 13 -> 30 -> 64.
  encoder = nets.Encoder(depth=4)
  embed = encoder(tf.zeros([2, 3, 64, 64, 3]))
  assert embed.shape.as_list() == [2, 3, 32 * 4]
  x = tf.zeros([1, 64, 64, 3])
  sizes = []
  for conv in encoder._convs:
    x = conv(x)
    sizes.append(x.shape[1])
  assert sizes == [31, 14, 6, 2]
  decoder = nets.Decoder((64, 64, 3), depth=4)
  dist = decoder(tf.zeros([2, 3, 10]))
  assert dist.mean().shape.as_list() == [2, 3, 64, 64, 3] and dist.event_shape == [64, 64, 3]
  x = tf.reshape(decoder._dense(tf.zeros([1, 10])), [1, 1, 1, -1])
  sizes = []
  for conv in decoder._convs:
    x = conv(x)
    sizes.append(x.shape[1])
  assert sizes == [5, 13, 30, 64]


def test_preprocess_maps_pixels_and_discounts():
  model = WorldModel(make_config('dreamerv2'))
  data = random_batch()
  data['image'][0, 0, 0, 0] = [0, 255, 0]
  data['is_terminal'][0, 3] = True
  out = model.preprocess(data)
  np.testing.assert_allclose(out['image'].numpy()[0, 0, 0, 0], [-0.5, 0.5, -0.5])
  assert (out['discount'].numpy()[0, 3] == 0.0
          and out['discount'].numpy()[0, 2] == pytest.approx(0.99))


@pytest.mark.parametrize('method', METHODS)
def test_one_training_step_changes_every_trainable_variable(method):
  # Free nats 0: otherwise a KL below the threshold rightly sends no gradient to the prior head.
  model = WorldModel(make_config('shapeherd', method, kl__free=0.0))
  data = random_batch(action_dim=2)
  model.build(2)
  parts = {'encoder': model.encoder, 'dynamics': model.dynamics, **model.heads}
  assert set(parts) == {'encoder', 'dynamics', 'decoder', 'reward', 'discount'}
  before = {name: [v.numpy().copy() for v in part.trainable_variables]
            for name, part in parts.items()}
  post, metrics = traced_train(model, 2)(data)
  for name, part in parts.items():
    assert part.trainable_variables, name
    for var, old in zip(part.trainable_variables, before[name]):
      assert not np.array_equal(var.numpy(), old), f'{name}: {var.path} did not change'
  expected = BASE_METRICS | {'discount_loss'} | (GATE_METRICS if model.dynamics.gated else set())
  assert expected <= set(metrics)
  for key, value in metrics.items():
    assert value.dtype == tf.float32 and value.shape == () and np.isfinite(value.numpy()), key


def test_loss_is_the_weighted_sum_of_its_terms():
  config = make_config('dmc', 'vsg')
  model = WorldModel(config)
  tf.random.set_seed(0)
  loss, _, m = model.loss(random_batch())
  expected = (m['image_loss'] + config.loss_scales.reward * m['reward_loss']
              + config.loss_scales.kl * m['kl_loss'] + m['sparsity_loss'])
  assert float(loss) == pytest.approx(float(expected), rel=1e-6)
  # alpha * max(KL[u~ || kappa] summed over units, free nats)
  assert float(m['sparsity_loss']) == pytest.approx(
      config.loss_scales.sparsity * max(float(m['sparsity_kl']), config.sparsity.free), rel=1e-6)
  assert 0.0 < float(m['gate_open_rate']) < 1.0 and 0.0 < float(m['gate_prob']) < 1.0


@pytest.mark.parametrize('method', ['dreamerv2', 'svsg'])
def test_mixed_precision_step_keeps_float32_losses(method):
  model = WorldModel(make_config(method, precision=16, kl__free=0.0))
  data = random_batch()
  model.build(3)
  before = [v.numpy().copy() for v in model.trainable_variables]
  train = traced_train(model)
  for _ in range(5):  # the first steps may overflow and be skipped while the loss scale settles
    post, metrics = train(data)
  for var, old in zip(model.trainable_variables, before):
    assert not np.array_equal(var.numpy(), old), var.path
  assert metrics['model_loss'].dtype == tf.float32 and np.isfinite(metrics['model_loss'].numpy())
  assert 'model_loss_scale' in metrics
  assert post['stoch'].dtype == tf.float16
  assert all(v.dtype == tf.float32 for v in model.trainable_variables)


@pytest.mark.slow  # XLA compiles the training step
def test_xla_step_traces_once_and_learns(caplog):
  model = WorldModel(make_config('vsg', jit=True))
  data = random_batch(batch=4, length=10)
  data['image'][:] = 230  # a learnable target: the decoder's mean moves towards it every step
  losses, train = [], traced_train(model, jit=True)
  with caplog.at_level(logging.WARNING):
    for _ in range(8):
      losses.append(float(train(data)[1]['image_loss']))
  assert train.traces == 1
  assert 'traced 2 times' not in caplog.text
  assert losses[-1] < losses[0] - 5.0   # about 2 nats per step here


def test_retrace_is_reported(caplog):
  model = WorldModel(make_config('dreamerv2'))
  train = traced_train(model)
  with caplog.at_level(logging.WARNING):
    train(random_batch(length=5))
    train(random_batch(length=6))
  assert train.traces == 2
  assert 'world_model.train traced 2 times' in caplog.text


def test_unknown_grad_head_is_a_clear_error():
  with pytest.raises(ValueError, match=r"grad_heads \['discount'\] are not heads of this model"):
    WorldModel(make_config('dmc', 'dreamerv2').update({'grad_heads': ['decoder', 'discount']}))


@pytest.mark.parametrize('precision', [32, 16])
def test_decoder_first_layer_equals_a_transposed_convolution(precision):
  policy = {32: 'float32', 16: 'mixed_float16'}[precision]
  layer = nets.ExpandPixel(6, 5, 'elu', dtype=policy)
  conv = keras.layers.Conv2DTranspose(6, 5, 2, activation='elu', dtype=policy)
  x = tf.random.normal([3, 1, 1, 8])
  layer(x), conv(x)
  kernel, bias = conv.get_weights()                 # (5, 5, filters, channels), (filters,)
  layer.set_weights([np.transpose(kernel, [3, 0, 1, 2]).reshape(8, -1), bias + 0.1])
  conv.set_weights([kernel, bias + 0.1])
  tolerance = {32: 1e-5, 16: 1e-2}[precision]
  np.testing.assert_allclose(layer(x).numpy().astype(np.float32),
                             conv(x).numpy().astype(np.float32), atol=tolerance)
  # Same parameter count and the same initial spread as the transposed convolution's Glorot init.
  assert sum(v.numpy().size for v in layer.weights) == sum(v.numpy().size for v in conv.weights)
  big = nets.ExpandPixel(64, 5)
  big(tf.zeros([1, 1, 1, 256]))
  limit = np.sqrt(6 / (25 * 64 + 25 * 256))
  values = big.kernel.numpy()
  assert (values.max() <= limit and values.min() >= -limit
          and values.std() > 0.5 * limit / np.sqrt(3))


@pytest.mark.parametrize('precision', [32, 16])
@pytest.mark.parametrize('kind, shape', [
    ('patch', (6, 6, 16)), ('patch', (7, 5, 4)),          # the encoder's last layer; odd sizes
    ('subpixel', (30, 30, 8)), ('subpixel', (5, 7, 6))])  # the decoder's last layer; odd kernel
def test_rewritten_conv_layers_equal_keras_layers_with_their_weights(precision, kind, shape):
  """Same variables, same outputs and same gradients as the Keras layers they stand in for."""
  policy = {32: 'float32', 16: 'mixed_float16'}[precision]
  if kind == 'patch':
    ours, theirs = (cls(5, 4, 2, activation='elu', dtype=policy)
                    for cls in (nets.PatchConv2D, keras.layers.Conv2D))
  else:
    kernel = 6 if shape[0] == 30 else 5
    ours, theirs = (cls(3, kernel, 2, dtype=policy)
                    for cls in (nets.SubPixelConv2DTranspose, keras.layers.Conv2DTranspose))
  x = tf.random.normal((2,) + shape)
  ours(x), theirs(x)
  assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
  theirs.set_weights([w + 0.05 for w in theirs.get_weights()])   # a non-zero bias too
  ours.set_weights(theirs.get_weights())
  results = []
  for layer in (ours, theirs):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = tf.cast(layer(x), tf.float32)
      loss = tf.reduce_sum(y * tf.sin(tf.range(tf.size(y), dtype=tf.float32)[:y.shape[-1]]))
    results.append([y] + tape.gradient(loss, [x] + layer.trainable_weights))
  tolerance = {32: 1e-4, 16: 5e-2}[precision]
  assert results[0][0].shape == results[1][0].shape
  for a, b in zip(*results):
    np.testing.assert_allclose(tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy(),
                               atol=tolerance * max(1.0, float(tf.reduce_max(tf.abs(b)))))


def test_vector_observations_are_encoded_and_predicted():
  # mlp_keys: an MLP encodes the vectors beside the CNN and a head per key predicts them (issue 27).
  model = WorldModel(make_config('dmc', 'vsg', kl__free=0.0), vector_shapes={'position': (2,),
                                                                               'velocity': (3,)})
  assert model.mlp_keys == ('position', 'velocity')
  data = random_batch(action_dim=2)
  rng = np.random.default_rng(1)
  data['position'] = rng.normal(size=(2, 5, 2)).astype(np.float32)
  data['velocity'] = rng.normal(size=(2, 5, 3)).astype(np.float32)
  model.build(2)
  image_only = nets.Encoder(**make_config('dmc', 'vsg').encoder)(tf.zeros([1, 64, 64, 3]))
  embed = model.encode(model.preprocess(data))
  assert embed.shape[-1] == image_only.shape[-1] + make_config('dmc', 'vsg').mlp.units
  parts = {'vector_encoder': model.vector_encoder, **model.vector_heads}
  before = {name: [v.numpy().copy() for v in part.trainable_variables]
            for name, part in parts.items()}
  _, metrics = traced_train(model, 2)(data)
  for name, part in parts.items():
    for var, old in zip(part.trainable_variables, before[name]):
      assert not np.array_equal(var.numpy(), old), f'{name}: {var.path} did not change'
  assert {'position_loss', 'velocity_loss'} <= set(metrics)
  # The vector heads are unit Normals over each key's shape: loss = 0.5 |x - mean|^2 + const.
  dist = model.vector_heads['velocity'](model.dynamics.get_feat(model.posterior(data)))
  assert dist.event_shape == [3] and dist.batch_shape == [2, 5]


def test_mlp_keys_select_vector_observations_and_refuse_other_shapes():
  import gymnasium
  from dreamerv2_vsg.agent import vector_keys
  space = {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8),
           'position': gymnasium.spaces.Box(-1, 1, (2,), np.float32),
           'velocity': gymnasium.spaces.Box(-1, 1, (2,), np.float32),
           'map': gymnasium.spaces.Box(0, 1, (4, 4), np.float32),
           'log_scored': gymnasium.spaces.Box(0, 9, (), np.float32)}
  assert vector_keys(space, '$^') == {}
  assert vector_keys(space, 'position|velocity') == {'position': (2,), 'velocity': (2,)}
  assert vector_keys(space, 'pos') == {'position': (2,)}            # re.match, as upstream
  with pytest.raises(ValueError,
                     match=r"--mlp_keys '.\*' selects the observation 'map' of shape \(4, 4\)"):
    vector_keys(space, '.*')
