"""Networks of the world model, where DreamerV2 keeps them: image encoder and decoder, MLP heads,
and the recurrent cells (DreamerV2's GRU, the paper's VSG cell of Eq. 2) with their registry.

The latent dynamics that step these cells (RSSM, SVSG) and their losses live beside this file in
common/dynamics.py.
"""

import keras
import numpy as np
import tensorflow as tf

from common import choices
from common import dists
from common import tfutils

# ------------------------------------------------------------------------------------------------
# Image encoder and decoder, heads

class Encoder(tfutils.Module):
  """CNN of DreamerV2 (spec a.2): stride-2 VALID convs of depth d, 2d, 4d, 8d with ELU;
  64 -> 2x2."""

  def __init__(self, depth=32, kernels=(4, 4, 4, 4), act='elu', precision=32):
    self._dtype = tfutils.compute_dtype(precision)
    last = len(kernels) - 1   # 6x6 -> 2x2: few output pixels, one matmul over its patches
    self._convs = [
        (PatchConv2D if i == last else keras.layers.Conv2D)(
            depth * 2 ** i, k, 2, activation=act, dtype=tfutils.policy(precision),
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
    return self.activation(tf.nn.bias_add(x, tf.cast(self.bias, x.dtype)))


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
    last = len(kernels) - 1   # 30x30 -> 64x64x3: few output channels, as sub-pixel convolution
    self._convs = [ExpandPixel(depths[0], kernels[0], acts[0], dtype=policy, name='dec_conv0')] + [
        (SubPixelConv2DTranspose if i == last else keras.layers.Conv2DTranspose)(
            d, k, 2, activation=a, dtype=policy, name=f'dec_conv{i}')
        for i, (d, k, a) in enumerate(zip(depths, kernels, acts)) if i > 0]

  def __call__(self, feat):
    """feat: (..., F) -> Independent Normal over (..., 64, 64, 3) with unit std."""
    x = self._dense(feat)
    x = tf.reshape(x, [-1, 1, 1, 32 * self._depth])
    for conv in self._convs:
      x = conv(x)
    mean = tfutils.unfold(x, feat.shape[:-1], tf.shape(feat)[:-1], keep=3)
    return dists.unit_normal(mean, len(self._shape))


class PatchConv2D(keras.layers.Conv2D):
  """A VALID Conv2D computed as one matmul over its input patches, for layers with few output
  pixels (the encoder's last: 6x6 -> 2x2). The same variables and function as keras Conv2D; on the
  Intel CPU oneDNN ran this layer's convolution and its gradients at ~100 GFLOP/s, a third of its
  matmul rate (bench/train_step.py --breakdown). The patches are one gather of the flattened pixels,
  so the backward pass is one segment sum (one strided slice per patch row cost ~40 ms more per
  step at `upstream_dmc` in slice gradients)."""

  def call(self, x):
    (kh, kw), (sh, sw) = self.kernel_size, self.strides
    height, width, channels = x.shape[1:]
    oh, ow = (height - kh) // sh + 1, (width - kw) // sw + 1
    pixels = [(sh * p + i) * width + sw * q + j                            # (oh ow kh kw,)
              for p in range(oh) for q in range(ow) for i in range(kh) for j in range(kw)]
    patches = tf.gather(tf.reshape(x, [-1, height * width, channels]), pixels, axis=1)
    kernel = tf.reshape(tf.cast(self.kernel, x.dtype), [-1, self.filters])  # (kh kw C, F)
    y = tf.matmul(tf.reshape(patches, [-1, kernel.shape[0]]), kernel)
    y = tf.reshape(y, [-1, oh, ow, self.filters])
    return self.activation(tf.nn.bias_add(y, tf.cast(self.bias, x.dtype)) if self.use_bias else y)


class SubPixelConv2DTranspose(keras.layers.Conv2DTranspose):
  """A stride-2 VALID Conv2DTranspose as a stride-1 convolution to the 4 output phases followed by
  depth_to_space (sub-pixel convolution), for layers with few output channels (the decoder's last:
  30x30x48 -> 64x64x3, where oneDNN's transposed convolution ran at ~35 GFLOP/s). Output pixel
  2u + i takes x[u - a] k[2a + i]: phase i of the kernel, flipped, correlated with the input padded
  by m - 1 (kernel 2m; an odd kernel gets a zero row and column). The same variables and
  function."""

  def call(self, x):
    (kh, kw), (sh, sw) = self.kernel_size, self.strides
    assert (sh, sw) == (2, 2) and self.padding == 'valid', 'stride-2 VALID layers only'
    kernel = tf.cast(self.kernel, x.dtype)                                  # (kh, kw, F, C)
    m, n = (kh + 1) // 2, (kw + 1) // 2
    kernel = tf.pad(kernel, [[0, 2 * m - kh], [0, 2 * n - kw], [0, 0], [0, 0]])
    filters, channels = kernel.shape[2], kernel.shape[3]
    kernel = tf.reverse(tf.reshape(kernel, [m, 2, n, 2, filters, channels]), [0, 2])
    kernel = tf.reshape(tf.transpose(kernel, [0, 2, 5, 1, 3, 4]), [m, n, channels, 4 * filters])
    y = tf.nn.conv2d(tf.pad(x, [[0, 0], [m - 1, m - 1], [n - 1, n - 1], [0, 0]]), kernel, 1,
                     'VALID')
    y = tf.nn.depth_to_space(y, 2)
    if (kh % 2, kw % 2) != (0, 0):   # an odd kernel's phases reach one pixel too far
      y = y[:, :2 * (x.shape[1] - 1) + kh, :2 * (x.shape[2] - 1) + kw]
    return self.activation(tf.nn.bias_add(y, tf.cast(self.bias, x.dtype)) if self.use_bias else y)


class VectorEncoder(tfutils.Module):
  """Dense layers with ELU over the concatenated vector observations (mlp_keys, as [U]'s encoder
  MLP); its output joins the CNN's embedding."""

  def __init__(self, layers=4, units=400, act='elu', precision=32):
    self._dtype = tfutils.compute_dtype(precision)
    self._layers = [keras.layers.Dense(units, activation=act, dtype=tfutils.policy(precision),
                                       name=f'enc_mlp{i}') for i in range(layers)]

  def __call__(self, vectors):
    x = tf.cast(vectors, self._dtype)
    for layer in self._layers:
      x = layer(x)
    return x


class MLP(tfutils.Module):
  """Dense layers with ELU, then a linear output read as a distribution.

  Heads (spec a.4): a scalar Normal(mean, 1) ('mse') or Bernoulli logit ('binary'); with `shape`,
  'mse' is a unit Normal over that shape (the vector observations of mlp_keys). Actor (spec d.7):
  'trunc_normal' over `actions` dimensions or 'onehot' over `actions` choices.
  """

  DISTS = ('mse', 'binary', 'trunc_normal', 'onehot')

  def __init__(self, layers=4, units=400, act='elu', dist='mse', min_std=0.1, actions=None,
               precision=32, name='mlp', shape=None):
    if dist not in self.DISTS:
      raise ValueError(f'{name}.dist must be one of {self.DISTS}, got {dist!r}')
    policy = tfutils.policy(precision)
    self._dist, self._min_std = dist, min_std
    self._layers = [keras.layers.Dense(units, activation=act, dtype=policy, name=f'{name}_{i}')
                    for i in range(layers)]
    self._shape = tuple(shape) if shape is not None else None
    size = {'trunc_normal': 2 * (actions or 0), 'onehot': actions}.get(
        dist, int(np.prod(self._shape)) if self._shape else 1)
    self._out = keras.layers.Dense(size, dtype=policy, name=f'{name}_out')

  def __call__(self, feat):
    x = feat
    for layer in self._layers:
      x = layer(x)
    out = self._out(x)
    if self._dist == 'mse' and self._shape is not None:
      out = tf.reshape(out, tf.concat([tf.shape(out)[:-1], self._shape], 0))
      return dists.unit_normal(out, len(self._shape))
    if self._dist == 'mse':
      return dists.unit_normal(tf.squeeze(out, -1), 0)
    if self._dist == 'binary':
      return dists.binary(tf.squeeze(out, -1))
    return dists.actor(self._dist, out, self._min_std)


# ------------------------------------------------------------------------------------------------
# Recurrent cells. The contract every cell keeps (RSSM and SVSG rely on nothing else):
#   cell.gated                -> whether it samples a Bernoulli update gate (Eq. 2)
#   cell(inputs, state)       -> (new_state, gates): gates is {} or {'gate': u, 'gate_prob': u~}
#   cell.gate(inputs, state)  -> (candidate, u, u~), gated cells only: for models that apply the
#                                gate themselves (SVSG gates its sampled state, Eq. 8)
# A new cell is a class here, its entry in CELLS, and its name (gated or not) in
# common/choices.py CELLS, which the config checks flags against (a test holds the two to agree).

class GRUCell(tfutils.Module):
  """GRU of DreamerV2 (spec a.5): one dense layer on [x, h], optional float32 layer norm.

  The reset gate multiplies the joint pre-activation of the candidate (tanh(v * (W_c [h, i] + b_c)),
  as in Eq. 2), and the update gate has a fixed bias of -1.
  """

  gated = False

  def __init__(self, size, layer_norm=True, update_bias=-1.0, precision=32):
    self.size = size
    self._update_bias = update_bias
    # The dense layer keeps its bias even with layer norm, as upstream does (spec i.20).
    self._layer = keras.layers.Dense(3 * size, dtype=tfutils.policy(precision), name='gru')
    self._norm = (keras.layers.LayerNormalization(epsilon=1e-3, dtype='float32', name='gru_norm')
                  if layer_norm else None)

  def candidate(self, inputs, state):
    """Returns the candidate state and the update-gate pre-activation (bias included)."""
    parts = self._layer(tf.concat([inputs, tf.cast(state, inputs.dtype)], -1))
    if self._norm is not None:
      parts = tf.cast(self._norm(tf.cast(parts, tf.float32)), parts.dtype)
    reset, cand, update = tf.split(parts, 3, -1)
    reset = tf.sigmoid(reset)                                   # v_t
    cand = tf.tanh(reset * cand)                                # h~_t
    return cand, update + tf.cast(self._update_bias, update.dtype)

  def __call__(self, inputs, state):
    cand, update = self.candidate(inputs, state)
    update = tf.sigmoid(update)
    return update * cand + (1 - update) * state, {}


class VSGCell(GRUCell):
  """The variational sparse gate of Eq. 2: the update gate is a Bernoulli sample.

  The gate probability u~ is computed and sampled in float32 (the reference code draws it in
  float16, spec b.3/i.1); the sample is cast to the state's dtype, so precision 32 works too.
  """

  gated = True

  def __init__(self, size, layer_norm=False, update_bias=-1.0, precision=32, soft=False):
    super().__init__(size, layer_norm, update_bias, precision)
    self.soft = soft

  def gate(self, inputs, state):
    """Returns (candidate, gate u, gate probability u~) for Eq. 2 and Eq. 7."""
    cand, update = self.candidate(inputs, state)
    gate_prob = tf.sigmoid(tf.cast(update, tf.float32))  # Eq. 2: u~_t = sigma(W_u [h, i] + b_u)
    if self.soft:      # [Ours] ablation (cell.gate soft): u_t = u~_t, the gate without its noise
      gate = gate_prob
    else:
      gate = dists.sample_bernoulli(gate_prob)  # Eq. 2: u_t ~ Bernoulli(u~_t), straight-through
    return cand, tf.cast(gate, cand.dtype), gate_prob

  def __call__(self, inputs, state):
    cand, gate, gate_prob = self.gate(inputs, state)
    return mix(gate, cand, state), {'gate': gate, 'gate_prob': gate_prob}


def mix(gate, new, old):
  """Eq. 2 (last line) and Eq. 8: u * new + (1 - u) * old; a closed gate copies `old` exactly."""
  return gate * new + (1 - gate) * old


CELLS = {'gru': GRUCell, 'vsg': VSGCell}


GATE_MODES = choices.GATE_MODES


def gated_cells():
  """Names of the CELLS with a Bernoulli update gate, for error messages."""
  return sorted(k for k, c in CELLS.items() if c.gated)


def make_cell(kind, size, layer_norm=False, update_bias=-1.0, precision=32, gate='sample'):
  """A cell of CELLS; `gate` ('sample' as in Eq. 2, or 'soft') applies to gated cells only."""
  if kind not in CELLS:
    raise ValueError(f"cell.type must be one of {sorted(CELLS)}, got {kind!r}")
  if gate not in GATE_MODES:
    raise ValueError(f"cell.gate must be one of {GATE_MODES}, got {gate!r}")
  extra = {}
  if CELLS[kind].gated:
    extra['soft'] = gate == 'soft'
  elif gate != 'sample':
    raise ValueError(f"cell.gate {gate!r} needs a gated cell.type (one of {gated_cells()}), "
                     f"got {kind!r}")
  return CELLS[kind](size, layer_norm=layer_norm, update_bias=update_bias, precision=precision,
                     **extra)
