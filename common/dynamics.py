"""The latent dynamics of the world model, in one place: the RSSM of DreamerV1/V2 and VSG (Eq. 1),
SVSG (Eq. 6-8), KL balancing and SVSG's masked KL (Eq. 3, Section 4), the sparsity loss (Eq. 3), and
`make_dynamics`, which builds the one a config asks for. The recurrent cells they step (DreamerV2's
GRU, the VSG cell of Eq. 2) are layers, in common/nets.py.

Every dynamics model offers the interface of `Dynamics`: initial / observe / imagine / obs_step /
img_step / get_feat / get_dist / kl_loss. States are dicts of tensors: samples and recurrent states
in the compute dtype, distribution statistics and gate probabilities in float32.
"""

import keras
import tensorflow as tf

from common import choices
from common import dists
from common import nets
from common import tfutils

sg = tf.stop_gradient

LATENTS = choices.LATENTS

# Distribution statistics: what KL balancing stops. Samples, recurrent states and gates are never
# stopped there, so SVSG's masked KL trains the gate through both balanced terms (spec c.3).
STATS = ('mean', 'std', 'logit')
# What a gated cell adds to a state: the sampled update gate u and its probability u~ (Eq. 2).
GATES = ('gate', 'gate_prob')


def stop_stats(state):
  """The state with a stop-gradient on its distribution statistics only."""
  return {key: sg(value) if key in STATS else value for key, value in state.items()}


def sparsity_loss(gate_prob, prior, free):
  """Sparsity term of Eq. 3 before its scale alpha: KL[Bern(u~) || Bern(kappa)].

  Summed over the gated units, averaged over batch and time, then clamped below by `free` nats as in
  the reference code (spec b.5). Returns (loss, unclamped value).
  """
  value = tf.reduce_mean(tf.reduce_sum(dists.bernoulli_kl(gate_prob, prior), -1))
  return tf.maximum(value, tf.cast(free, tf.float32)), value


# ------------------------------------------------------------------------------------------------
# The shared interface: sequence loops and KL balancing

class Dynamics(tfutils.Module):
  """What RSSM, VSG and SVSG share: the sequence loops and KL balancing. `gated` says whether states
  carry the GATES (then the world model adds the sparsity loss of Eq. 3)."""

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

  def _zeros(self, batch, shape, dtype=None):
    return tf.zeros(tf.concat([[batch], shape], 0), dtype or self._dtype)

  def _gaussian(self, raw, min_std):
    """Diagonal Gaussian statistics, std = 2 sigmoid(x / 2) + min_std (spec a.6)."""
    mean, std = tf.split(tf.cast(raw, tf.float32), 2, -1)
    return {'mean': mean, 'std': dists.sigmoid2_std(std, min_std)}


# ------------------------------------------------------------------------------------------------
# RSSM (Eq. 1)

class RSSM(Dynamics):
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
    shared = {key: prior[key] for key in ('deter',) + GATES if key in prior}
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


# ------------------------------------------------------------------------------------------------
# SVSG (Eq. 6-8)

class SVSG(Dynamics):
  """Simple Variational Sparse Gating (Section 4), on any gated cell (the paper's: VSG).

  The state s_t (size S) is the only latent. The cell turns [s_{t-1}, i_t] into a candidate s~_t and
  a gate u_t (Eq. 7); the prior and posterior heads turn s~_t (and the image embedding o_t) into
  Gaussian candidates z^_t and z_t, and the same gate mixes each with s_{t-1} (Eq. 8). The state
  keeps the candidate distributions' statistics (`mean`, `std`) for the masked KL.
  """

  gated = True

  def __init__(self, size=1024, hidden=1024, cell='vsg', act='elu', min_std=0.1, update_bias=-1.0,
               layer_norm=False, mask_stop_grad=False, precision=32, gate='sample'):
    super().__init__(precision)
    self._size, self._min_std = size, min_std
    self._mask_stop_grad = mask_stop_grad
    self._img_in = self._dense(hidden, act, 'img_in')       # i_t from [s_{t-1}, a_{t-1}] (spec c.2)
    self._cell = nets.make_cell(cell, size, layer_norm, update_bias, precision, gate)
    if not self._cell.gated:
      raise ValueError(f'svsg needs a gated cell.type (one of {nets.gated_cells()}), got {cell!r}')
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
    stats = self._gaussian(self._img_stats(self._img_out(cand)), self._min_std)
    stoch = nets.mix(gate, self._sample(stats, sample), prev)                 # Eq. 8: s^_t
    return {'stoch': stoch, 'cand': cand, 'gate': gate, 'gate_prob': gate_prob, **stats}

  def _posterior(self, prev_state, prior, embed, sample):
    x = self._obs_out(tf.concat([prior['cand'], embed], -1))
    stats = self._gaussian(self._obs_stats(x), self._min_std)
    stoch = nets.mix(prior['gate'], self._sample(stats, sample), prev_state['stoch'])  # Eq. 8: s_t
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


def make_dynamics(config, precision=None):
  """The dynamics model a config asks for: the RSSM or SVSG, stepping the cell of `config.cell`."""
  precision = config.precision if precision is None else precision
  cell = config.cell
  cell = dict(cell=cell.type, layer_norm=cell.layer_norm, update_bias=cell.update_bias,
              gate=cell.gate, precision=precision)
  if config.dynamics == 'rssm':
    cfg = config.rssm
    return RSSM(deter=cfg.deter, hidden=cfg.hidden, stoch=cfg.stoch, classes=cfg.classes,
                latent=cfg.latent, act=cfg.act, min_std=cfg.min_std, **cell)
  if config.dynamics == 'svsg':
    if config.rssm.latent != 'gaussian':
      raise ValueError(f'svsg needs rssm.latent gaussian (the paper trains SVSG with Gaussian '
                       f'latents only), got {config.rssm.latent!r}')
    cfg = config.svsg
    return SVSG(size=cfg.size, hidden=cfg.hidden, act=cfg.act, min_std=cfg.min_std,
                mask_stop_grad=config.kl.mask_stop_grad, **cell)
  raise ValueError(f'dynamics must be one of {choices.DYNAMICS}, got {config.dynamics!r}')
