"""Networks of the world model: image encoder and decoder, MLP heads, and the dynamics factory.

The dynamics models themselves live beside this file and are re-exported here, so `nets.RSSM`,
`nets.SVSG`, `nets.GRUCell` and `nets.VSGCell` are where a DreamerV2 reader looks for them:
  common/cells.py  GRU and VSG cells (Eq. 2, Eq. 7) and the sparsity loss (Eq. 3)
  common/rssm.py   RSSM with either cell (Eq. 1), KL balancing (Eq. 3)
  common/svsg.py   SVSG (Eq. 6-8) and its masked KL
"""

import keras
import tensorflow as tf

from common import dists
from common import tfutils
from common.cells import GRUCell, VSGCell  # noqa: F401  (re-exported)
from common.rssm import RSSM
from common.svsg import SVSG


class Encoder(tfutils.Module):
  """CNN of DreamerV2 (spec a.2): stride-2 VALID convs of depth d, 2d, 4d, 8d with ELU; 64 -> 2x2."""

  def __init__(self, depth=32, kernels=(4, 4, 4, 4), act='elu', precision=32):
    self._dtype = tfutils.compute_dtype(precision)
    self._convs = [
        keras.layers.Conv2D(depth * 2 ** i, k, 2, activation=act, dtype=tfutils.policy(precision),
                            name=f'enc_conv{i}') for i, k in enumerate(kernels)]

  def __call__(self, image):
    """image: (..., 64, 64, C) in [-0.5, 0.5] -> embedding (..., 32 d)."""
    lead = image.shape[:-3]
    x = tf.reshape(tf.cast(image, self._dtype), [-1] + image.shape[-3:].as_list())
    for conv in self._convs:
      x = conv(x)
    return tfutils.unfold(x, lead, tf.shape(image)[:-3])


class ExpandPixel(keras.layers.Layer):
  """Conv2DTranspose of a 1x1 input (the decoder's first layer), computed as one matmul.

  On a 1x1 map each kernel tap writes its own output pixel, so the layer is exactly a dense map to
  k x k x filters values plus a per-channel bias: the same parameters, the same initial distribution
  (Glorot-uniform with the transposed convolution's fans) and the same function. TF's CPU kernel for
  the transposed convolution took ~1 s per training step on this layer alone at depth 48; the matmul
  takes ~0.15 s.
  """

  def __init__(self, filters, kernel, activation=None, **kwargs):
    super().__init__(**kwargs)
    self.filters, self.kernel_size = filters, kernel
    self.activation = keras.activations.get(activation)

  def build(self, input_shape):
    channels, taps = int(input_shape[-1]), self.kernel_size ** 2
    limit = (6.0 / (taps * self.filters + taps * channels)) ** 0.5
    self.kernel = self.add_weight(
        shape=(channels, taps * self.filters), name='kernel',
        initializer=keras.initializers.RandomUniform(-limit, limit))
    self.bias = self.add_weight(shape=(self.filters,), initializer='zeros', name='bias')

  def call(self, x):
    x = tf.reshape(x, [-1, self.kernel.shape[0]])
    x = tf.matmul(x, tf.cast(self.kernel, x.dtype))
    x = tf.reshape(x, [-1, self.kernel_size, self.kernel_size, self.filters])
    return self.activation(x + tf.cast(self.bias, x.dtype))


class Decoder(tfutils.Module):
  """Transposed CNN of DreamerV2 (spec a.3): dense to 1x1x32d, then 5, 13, 30, 64 pixels.

  The output is the mean of a unit-variance Gaussian over all pixels (Eq. 3 image log loss).
  """

  def __init__(self, shape=(64, 64, 3), depth=32, kernels=(5, 5, 6, 6), act='elu', precision=32):
    self._shape = tuple(shape)
    self._depth = depth
    policy = tfutils.policy(precision)
    self._dense = keras.layers.Dense(32 * depth, dtype=policy, name='dec_dense')
    depths = [4 * depth, 2 * depth, depth, shape[-1]]
    acts = [act] * (len(kernels) - 1) + [None]
    self._convs = [ExpandPixel(depths[0], kernels[0], acts[0], dtype=policy, name='dec_conv0')] + [
        keras.layers.Conv2DTranspose(d, k, 2, activation=a, dtype=policy, name=f'dec_conv{i}')
        for i, (d, k, a) in enumerate(zip(depths, kernels, acts)) if i > 0]

  def __call__(self, feat):
    """feat: (..., F) -> Independent Normal over (..., 64, 64, 3) with unit std."""
    x = self._dense(feat)
    x = tf.reshape(x, [-1, 1, 1, 32 * self._depth])
    for conv in self._convs:
      x = conv(x)
    mean = tfutils.unfold(x, feat.shape[:-1], tf.shape(feat)[:-1], keep=3)
    return dists.unit_normal(mean, len(self._shape))


class MLP(tfutils.Module):
  """Dense layers with ELU, then a linear output read as a distribution.

  Heads (spec a.4): a scalar Normal(mean, 1) ('mse') or Bernoulli logit ('binary'). Actor (spec d.7):
  'trunc_normal' over `actions` dimensions or 'onehot' over `actions` choices.
  """

  DISTS = ('mse', 'binary', 'trunc_normal', 'onehot')

  def __init__(self, layers=4, units=400, act='elu', dist='mse', min_std=0.1, actions=None,
               precision=32, name='mlp'):
    if dist not in self.DISTS:
      raise ValueError(f'{name}.dist must be one of {self.DISTS}, got {dist!r}')
    policy = tfutils.policy(precision)
    self._dist, self._min_std = dist, min_std
    self._layers = [keras.layers.Dense(units, activation=act, dtype=policy, name=f'{name}_{i}')
                    for i in range(layers)]
    size = {'trunc_normal': 2 * (actions or 0), 'onehot': actions}.get(dist, 1)
    self._out = keras.layers.Dense(size, dtype=policy, name=f'{name}_out')

  def __call__(self, feat):
    x = feat
    for layer in self._layers:
      x = layer(x)
    out = self._out(x)
    if self._dist == 'mse':
      return dists.unit_normal(tf.squeeze(out, -1), 0)
    if self._dist == 'binary':
      return dists.binary(tf.squeeze(out, -1))
    return dists.actor(self._dist, out, self._min_std)


LATENTS = ('categorical', 'gaussian')


def make_dynamics(config, precision=None):
  """The dynamics model a config asks for: RSSM (GRU or VSG cell) or SVSG."""
  precision = config.precision if precision is None else precision
  rssm = config.rssm
  if rssm.latent not in LATENTS:
    raise ValueError(f'rssm.latent must be one of {LATENTS}, got {rssm.latent!r}')
  common = dict(hidden=rssm.hidden, act=rssm.act, std_act=rssm.std_act, min_std=rssm.min_std,
                update_bias=rssm.update_bias, precision=precision)
  if config.dynamics == 'rssm':
    discrete = rssm.classes if rssm.latent == 'categorical' else 0
    return RSSM(deter=rssm.deter, stoch=rssm.stoch, discrete=discrete, cell=rssm.cell,
                layer_norm=rssm.layer_norm, **common)
  if config.dynamics == 'svsg':
    if rssm.cell != 'vsg' or rssm.latent != 'gaussian':
      raise ValueError(f'svsg needs rssm.cell vsg and rssm.latent gaussian (the paper trains SVSG with '
                       f'Gaussian latents only), got cell {rssm.cell!r}, latent {rssm.latent!r}')
    return SVSG(size=rssm.deter, layer_norm=rssm.layer_norm, mask_stop_grad=config.kl.mask_stop_grad,
                **common)
  raise ValueError(f"dynamics must be 'rssm' or 'svsg', got {config.dynamics!r}")
