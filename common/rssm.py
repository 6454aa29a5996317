"""The RSSM of DreamerV1/V2 and VSG (Eq. 1), on any recurrent cell of common/nets.py."""

import tensorflow as tf

from common import dists
from common import nets
from common import tfutils

LATENTS = ('categorical', 'gaussian')


class RSSM(nets.Dynamics):
  """Recurrent state-space model of DreamerV1/V2 and VSG (Eq. 1).

  h_t = f(h_{t-1}, z_{t-1}, a_{t-1}) is a recurrent cell: DreamerV2's GRU, or the VSG cell of Eq. 2
  (any cell of nets.CELLS; a gated cell's gates join the state). The stochastic z_t is `stoch`
  categoricals of `classes` classes (latent 'categorical', DreamerV2) or a diagonal Gaussian of size
  `stoch` (latent 'gaussian', DreamerV1).
  """

  def __init__(self, deter=1024, hidden=1024, stoch=32, classes=32, latent='categorical',
               cell='gru', layer_norm=True, act='elu', min_std=0.1, update_bias=-1.0,
               precision=32, gate='sample'):
    super().__init__(precision)
    if latent not in LATENTS:
      raise ValueError(f'rssm.latent must be one of {LATENTS}, got {latent!r}')
    self._deter, self._stoch, self._min_std = deter, stoch, min_std
    self._classes = classes if latent == 'categorical' else 0
    self._cell = nets.make_cell(cell, deter, layer_norm, update_bias, precision, gate)
    self.gated = self._cell.gated
    stats = stoch * self._classes if self._classes else 2 * stoch
    self._img_in = self._dense(hidden, act, 'img_in')
    self._img_out = self._dense(hidden, act, 'img_out')
    self._img_stats = self._dense(stats, name='img_stats')
    self._obs_out = self._dense(hidden, act, 'obs_out')
    self._obs_stats = self._dense(stats, name='obs_stats')

  def initial(self, batch):
    state = {'deter': self._zeros(batch, [self._deter])}
    if self._classes:
      state['logit'] = self._zeros(batch, [self._stoch, self._classes], tf.float32)
      state['stoch'] = self._zeros(batch, [self._stoch, self._classes])
    else:
      state['mean'] = self._zeros(batch, [self._stoch], tf.float32)
      state['std'] = self._zeros(batch, [self._stoch], tf.float32)
      state['stoch'] = self._zeros(batch, [self._stoch])
    if self.gated:
      state['gate'] = self._zeros(batch, [self._deter])
      state['gate_prob'] = self._zeros(batch, [self._deter], tf.float32)
    return state

  @property
  def cell(self):
    return self._cell

  def cell_input(self, prev_state, prev_action):
    """The recurrent cell's input x_t from z_{t-1} and a_{t-1}."""
    prev_stoch = prev_state['stoch']
    if self._classes:
      prev_stoch = tfutils.reshape_tail(prev_stoch, 2, [self._stoch * self._classes])
    return self._img_in(tf.concat([prev_stoch, tf.cast(prev_action, self._dtype)], -1))

  def img_step(self, prev_state, prev_action, sample=True):
    """Prior step: h_t from the recurrent model, then z^_t ~ p(z^_t | h_t) (Eq. 1)."""
    x = self.cell_input(prev_state, prev_action)
    deter, gates = self._cell(x, prev_state['deter'])          # GRU, or Eq. 2 for a gated cell
    stats = self._stats(self._img_stats(self._img_out(deter)))
    return {**gates, **stats, 'deter': deter, 'stoch': self._sample(stats, sample)}

  def _posterior(self, prev_state, prior, embed, sample):
    """z_t ~ q(z_t | h_t, x_t); prior and posterior share h_t and the gates."""
    x = self._obs_out(tf.concat([prior['deter'], embed], -1))
    stats = self._stats(self._obs_stats(x))
    shared = {key: prior[key] for key in ('deter',) + nets.GATES if key in prior}
    return {**shared, **stats, 'stoch': self._sample(stats, sample)}

  def get_feat(self, state):
    stoch = state['stoch']
    if self._classes:
      stoch = tfutils.reshape_tail(stoch, 2, [self._stoch * self._classes])
    return tf.concat([tf.cast(stoch, self._dtype), state['deter']], -1)

  def get_dist(self, state):
    if self._classes:
      return dists.tfd.Independent(dists.OneHotDist(logits=state['logit'], dtype=tf.float32), 1)
    return dists.tfd.Independent(dists.tfd.Normal(state['mean'], state['std']), 1)

  def _stats(self, raw):
    if self._classes:
      return {'logit': tfutils.reshape_tail(tf.cast(raw, tf.float32), 1,
                                            [self._stoch, self._classes])}
    return self._gaussian(raw, self._min_std)

  def _sample(self, stats, sample):
    dist = self.get_dist(stats)
    return tf.cast(dist.sample() if sample else dist.mode(), self._dtype)
