"""Recurrent cells: DreamerV2's GRU and the paper's sparsely gated VSG cell (Eq. 2 and Eq. 7)."""

import keras
import tensorflow as tf

from common import dists
from common import tfutils


class GRUCell(tfutils.Module):
  """GRU of DreamerV2 (spec a.5): one dense layer on [x, h], optional float32 layer norm.

  The reset gate multiplies the joint pre-activation of the candidate (tanh(v * (W_c [h, i] + b_c)),
  as in Eq. 2), and the update gate has a fixed bias of -1.
  """

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
    return update * cand + (1 - update) * state


class VSGCell(GRUCell):
  """The variational sparse gate of Eq. 2: the update gate is a Bernoulli sample.

  The gate probability u~ is computed and sampled in float32 (the reference code draws it in float16,
  spec b.3/i.1); the sample is cast to the state's dtype, so precision 32 works too.
  """

  def gate(self, inputs, state):
    """Returns (candidate, sampled gate u, gate probability u~) for Eq. 2 and Eq. 7."""
    cand, update = self.candidate(inputs, state)
    gate_prob = tf.sigmoid(tf.cast(update, tf.float32))        # Eq. 2: u~_t = sigma(W_u [h, i] + b_u)
    gate = dists.sample_bernoulli(gate_prob)                   # Eq. 2: u_t ~ Bernoulli(u~_t), straight-through
    return cand, tf.cast(gate, cand.dtype), gate_prob

  def __call__(self, inputs, state):
    cand, gate, gate_prob = self.gate(inputs, state)
    return mix(gate, cand, state), gate, gate_prob


def mix(gate, new, old):
  """Eq. 2 (last line) and Eq. 8: u * new + (1 - u) * old; a closed gate copies `old` exactly."""
  return gate * new + (1 - gate) * old


def sparsity_loss(gate_prob, prior, free):
  """Sparsity term of Eq. 3 before its scale alpha: KL[Bern(u~) || Bern(kappa)].

  Summed over the gated units, averaged over batch and time, then clamped below by `free` nats as in
  the reference code (spec b.5). Returns (loss, unclamped value).
  """
  value = tf.reduce_mean(tf.reduce_sum(dists.bernoulli_kl(gate_prob, prior), -1))
  return tf.maximum(value, tf.cast(free, tf.float32)), value


def make_cell(kind, size, layer_norm, update_bias, precision):
  cells = {'gru': GRUCell, 'vsg': VSGCell}
  if kind not in cells:
    raise ValueError(f"rssm.cell must be one of {sorted(cells)}, got {kind!r}")
  return cells[kind](size, layer_norm=layer_norm, update_bias=update_bias, precision=precision)
