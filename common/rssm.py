"""Latent dynamics: the shared interface, and the RSSM with a GRU or a VSG cell (Eq. 1 and Eq. 2).

Every dynamics model offers initial / observe / imagine / obs_step / img_step / get_feat / get_dist /
kl_loss. States are dicts of tensors: samples and recurrent states in the compute dtype, distribution
statistics and gate probabilities in float32.
"""

import keras
import tensorflow as tf

from common import cells
from common import dists
from common import tfutils

sg = tf.stop_gradient

# Distribution statistics: what KL balancing stops. Samples, recurrent states and gates are never
# stopped there, so SVSG's masked KL trains the gate through both balanced terms (spec c.3).
STATS = ('mean', 'std', 'logit')


def stop_stats(state):
  """The state with a stop-gradient on its distribution statistics only."""
  return {key: sg(value) if key in STATS else value for key, value in state.items()}


class Dynamics(tfutils.Module):
  """What RSSM, VSG and SVSG share: the sequence loops, KL balancing and the sparsity loss."""

  gated = False

  def __init__(self, precision):
    self._policy = tfutils.policy(precision)
    self._dtype = tfutils.compute_dtype(precision)

  def _dense(self, units, act=None, name=None):
    return keras.layers.Dense(units, activation=act, dtype=self._policy, name=name)

  def observe(self, embed, action, is_first, state=None, sample=True):
    """Posterior and prior states for (B, T, ...) inputs; `is_first` resets the state inside."""
    if state is None:
      state = self.initial(tf.shape(action)[0])
    inputs = tfutils.swap_time((embed, action, is_first))

    def step(carry, inp):
      return self.obs_step(carry[0], inp[1], inp[0], inp[2], sample)

    post, prior = tfutils.scan(step, inputs, (state, state))
    return tfutils.swap_time(post), tfutils.swap_time(prior)

  def imagine(self, action, state=None, sample=True):
    """Prior states for (B, T, A) actions, starting from `state`."""
    if state is None:
      state = self.initial(tf.shape(action)[0])
    prior = tfutils.scan(lambda prev, act: self.img_step(prev, act, sample),
                         tfutils.swap_time(action), state)
    return tfutils.swap_time(prior)

  def obs_step(self, prev_state, prev_action, embed, is_first, sample=True):
    """One posterior step; where is_first is set, starts from the zero state and a zero action."""
    keep = 1.0 - tf.cast(is_first, tf.float32)
    prev_state = tfutils.map_structure(lambda x: tfutils.mask_batch(x, keep), prev_state)
    prev_action = tfutils.mask_batch(tf.cast(prev_action, self._dtype), keep)
    prior = self.img_step(prev_state, prev_action, sample)
    return self._posterior(prev_state, prior, tf.cast(embed, self._dtype), sample), prior

  def kl_loss(self, post, prior, balance=0.8, free=0.0):
    """Balanced KL of DreamerV2 with free nats on the batch mean (spec a.8), the KL term of Eq. 3.

    loss = (1 - balance) max(mean KL[q || sg(p)], free) + balance max(mean KL[sg(q) || p], free).
    Returns (loss, value) where value is the mean KL[q || p] per step (the reported `kl`).
    """
    value = self._kl(post, stop_stats(prior))
    rhs = self._kl(stop_stats(post), prior)
    free = tf.cast(free, tf.float32)
    lhs_loss = tf.maximum(tf.reduce_mean(value), free)
    rhs_loss = tf.maximum(tf.reduce_mean(rhs), free)
    return (1 - balance) * lhs_loss + balance * rhs_loss, value

  def _kl(self, post, prior):
    return dists.tfd.kl_divergence(self.get_dist(post), self.get_dist(prior))

  def sparsity_loss(self, state, prior, free):
    """The unscaled sparsity term of Eq. 3 (see cells.sparsity_loss); only for gated models."""
    return cells.sparsity_loss(state['gate_prob'], prior, free)

  def _zeros(self, batch, shape, dtype=None):
    return tf.zeros(tf.concat([[batch], shape], 0), dtype or self._dtype)

  def _gaussian(self, raw, std_act, min_std):
    mean, std = tf.split(tf.cast(raw, tf.float32), 2, -1)
    if std_act != 'sigmoid2':
      raise ValueError(f"rssm.std_act must be 'sigmoid2', got {std_act!r}")
    return {'mean': mean, 'std': dists.sigmoid2_std(std, min_std)}


class RSSM(Dynamics):
  """Recurrent state-space model of DreamerV1/V2 and VSG (Eq. 1).

  h_t = f(h_{t-1}, z_{t-1}, a_{t-1}) is a GRU (DreamerV1/V2) or the VSG cell of Eq. 2; the stochastic
  z_t is a diagonal Gaussian (discrete = 0) or `stoch` categoricals of `discrete` classes.
  """

  def __init__(self, deter=1024, hidden=1024, stoch=32, discrete=32, cell='gru', layer_norm=True,
               act='elu', std_act='sigmoid2', min_std=0.1, update_bias=-1.0, precision=32):
    super().__init__(precision)
    self._deter, self._stoch, self._discrete = deter, stoch, discrete
    self._std_act, self._min_std = std_act, min_std
    self.gated = cell == 'vsg'
    stats = stoch * discrete if discrete else 2 * stoch
    self._img_in = self._dense(hidden, act, 'img_in')
    self._cell = cells.make_cell(cell, deter, layer_norm, update_bias, precision)
    self._img_out = self._dense(hidden, act, 'img_out')
    self._img_stats = self._dense(stats, name='img_stats')
    self._obs_out = self._dense(hidden, act, 'obs_out')
    self._obs_stats = self._dense(stats, name='obs_stats')

  def initial(self, batch):
    state = {'deter': self._zeros(batch, [self._deter])}
    if self._discrete:
      state['logit'] = self._zeros(batch, [self._stoch, self._discrete], tf.float32)
      state['stoch'] = self._zeros(batch, [self._stoch, self._discrete])
    else:
      state['mean'] = self._zeros(batch, [self._stoch], tf.float32)
      state['std'] = self._zeros(batch, [self._stoch], tf.float32)
      state['stoch'] = self._zeros(batch, [self._stoch])
    if self.gated:
      state['gate'] = self._zeros(batch, [self._deter])
      state['gate_prob'] = self._zeros(batch, [self._deter], tf.float32)
    return state

  def img_step(self, prev_state, prev_action, sample=True):
    """Prior step: h_t from the recurrent model, then z^_t ~ p(z^_t | h_t) (Eq. 1)."""
    prev_stoch = prev_state['stoch']
    if self._discrete:
      prev_stoch = tfutils.reshape_tail(prev_stoch, 2, [self._stoch * self._discrete])
    x = self._img_in(tf.concat([prev_stoch, tf.cast(prev_action, self._dtype)], -1))
    state = {}
    if self.gated:
      deter, state['gate'], state['gate_prob'] = self._cell(x, prev_state['deter'])   # Eq. 2
    else:
      deter = self._cell(x, prev_state['deter'])
    stats = self._stats(self._img_stats(self._img_out(deter)))
    return {**state, **stats, 'deter': deter, 'stoch': self._sample(stats, sample)}

  def _posterior(self, prev_state, prior, embed, sample):
    """z_t ~ q(z_t | h_t, x_t); prior and posterior share h_t and the gates."""
    x = self._obs_out(tf.concat([prior['deter'], embed], -1))
    stats = self._stats(self._obs_stats(x))
    shared = {key: prior[key] for key in ('deter', 'gate', 'gate_prob') if key in prior}
    return {**shared, **stats, 'stoch': self._sample(stats, sample)}

  def get_feat(self, state):
    stoch = state['stoch']
    if self._discrete:
      stoch = tfutils.reshape_tail(stoch, 2, [self._stoch * self._discrete])
    return tf.concat([tf.cast(stoch, self._dtype), state['deter']], -1)

  def get_dist(self, state):
    if self._discrete:
      return dists.tfd.Independent(dists.OneHotDist(logits=state['logit'], dtype=tf.float32), 1)
    return dists.tfd.Independent(dists.tfd.Normal(state['mean'], state['std']), 1)

  def _stats(self, raw):
    if self._discrete:
      return {'logit': tfutils.reshape_tail(tf.cast(raw, tf.float32), 1, [self._stoch, self._discrete])}
    return self._gaussian(raw, self._std_act, self._min_std)

  def _sample(self, stats, sample):
    dist = self.get_dist(stats)
    return tf.cast(dist.sample() if sample else dist.mode(), self._dtype)
