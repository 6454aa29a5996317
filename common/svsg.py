"""SVSG: a single stochastic Gaussian state, sparsely updated by the VSG gate (Section 4, Eq. 6-8)."""

import tensorflow as tf

from common import cells
from common import dists
from common import rssm


class SVSG(rssm.Dynamics):
  """Simple Variational Sparse Gating.

  The state s_t (size S) is the only latent. The VSG cell turns [s_{t-1}, i_t] into a candidate s~_t and
  a gate u_t (Eq. 7); the prior and posterior heads turn s~_t (and the image embedding o_t) into
  Gaussian candidates z^_t and z_t, and the same gate mixes each with s_{t-1} (Eq. 8). The state keeps
  the candidate distributions' statistics (`mean`, `std`) for the masked KL.
  """

  gated = True

  def __init__(self, size=1024, hidden=1024, act='elu', std_act='sigmoid2', min_std=0.1,
               update_bias=-1.0, layer_norm=False, mask_stop_grad=False, precision=32):
    super().__init__(precision)
    self._size, self._std_act, self._min_std = size, std_act, min_std
    self._mask_stop_grad = mask_stop_grad
    self._img_in = self._dense(hidden, act, 'img_in')       # i_t from [s_{t-1}, a_{t-1}] (spec c.2)
    self._cell = cells.VSGCell(size, layer_norm=layer_norm, update_bias=update_bias,
                               precision=precision)
    self._img_out = self._dense(hidden, act, 'img_out')     # f_prior
    self._img_stats = self._dense(2 * size, name='img_stats')
    self._obs_out = self._dense(hidden, act, 'obs_out')     # f_post
    self._obs_stats = self._dense(2 * size, name='obs_stats')

  def initial(self, batch):
    zeros = lambda dtype=None: self._zeros(batch, [self._size], dtype)
    return {'stoch': zeros(), 'cand': zeros(), 'gate': zeros(),
            'mean': zeros(tf.float32), 'std': zeros(tf.float32), 'gate_prob': zeros(tf.float32)}

  def img_step(self, prev_state, prev_action, sample=True):
    prev = prev_state['stoch']
    x = self._img_in(tf.concat([prev, tf.cast(prev_action, self._dtype)], -1))
    cand, gate, gate_prob = self._cell.gate(x, prev)                     # Eq. 7
    stats = self._gaussian(self._img_stats(self._img_out(cand)), self._std_act, self._min_std)
    stoch = cells.mix(gate, self._sample(stats, sample), prev)           # Eq. 8: s^_t
    return {'stoch': stoch, 'cand': cand, 'gate': gate, 'gate_prob': gate_prob, **stats}

  def _posterior(self, prev_state, prior, embed, sample):
    x = self._obs_out(tf.concat([prior['cand'], embed], -1))
    stats = self._gaussian(self._obs_stats(x), self._std_act, self._min_std)
    stoch = cells.mix(prior['gate'], self._sample(stats, sample), prev_state['stoch'])  # Eq. 8: s_t
    return {'stoch': stoch, 'cand': prior['cand'], 'gate': prior['gate'],
            'gate_prob': prior['gate_prob'], **stats}

  def get_feat(self, state):
    return state['stoch']

  def get_dist(self, state):
    """The candidate distribution (z_t or z^_t), before gating."""
    return dists.tfd.Independent(dists.tfd.Normal(state['mean'], state['std']), 1)

  def _kl(self, post, prior):
    """Masked KL (Section 4): sum over the units the gate updated of the per-unit Normal KL.

    The gate is a straight-through sample, so unless `mask_stop_grad` the KL also trains the gate
    probabilities, as in the reference code (spec c.3, i.5).
    """
    per_unit = dists.tfd.kl_divergence(dists.tfd.Normal(post['mean'], post['std']),
                                       dists.tfd.Normal(prior['mean'], prior['std']))
    mask = tf.cast(post['gate'], tf.float32)
    if self._mask_stop_grad:
      mask = tf.stop_gradient(mask)
    return tf.reduce_sum(mask * per_unit, -1)

  def _sample(self, stats, sample):
    dist = dists.tfd.Normal(stats['mean'], stats['std'])
    return tf.cast(dist.sample() if sample else dist.mean(), self._dtype)
