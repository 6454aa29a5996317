"""The world model: encoder, dynamics (RSSM, VSG or SVSG), heads, and the joint loss of Eq. 3."""

import numpy as np
import tensorflow as tf

from common import dynamics
from common import nets
from common import tfutils

sg = tf.stop_gradient

# Metric names of the head losses; `decoder` is DreamerV2's name for the image head.
HEAD_METRICS = {'decoder': 'image_loss', 'reward': 'reward_loss', 'discount': 'discount_loss'}
REWARD_TRANSFORMS = {'identity': tf.identity, 'tanh': tf.tanh, 'sign': tf.sign}


class WorldModel(tfutils.Module):
  """Learns p(x_t, r_t, gamma_t | s_t) and the latent dynamics from replayed sequences.

  Batches are dicts of (B, T, ...) arrays: `image` uint8, `action` float, `reward` float, `is_first`
  and `is_terminal` bool, and one float array per vector observation of `vector_shapes` ({key:
  shape}: the obs keys config.mlp_keys selects), which an MLP encodes beside the CNN and a head per
  key predicts. `train(data)` runs one optimizer step and returns (posterior, metrics).
  """

  def __init__(self, config, image_shape=(64, 64, 3), vector_shapes=None, precision=None):
    self.config = config
    self.precision = tfutils.as_precision(config.precision if precision is None else precision)
    self.dtype = self.precision.dtype
    if config.clip_rewards not in REWARD_TRANSFORMS:
      raise ValueError(f'clip_rewards must be one of {sorted(REWARD_TRANSFORMS)}, '
                       f'got {config.clip_rewards!r}')
    p = self.precision
    self.encoder = nets.Encoder(**config.encoder, precision=p)
    self.vector_shapes = {key: tuple(shape) for key, shape in sorted((vector_shapes or {}).items())}
    self.mlp_keys = tuple(self.vector_shapes)
    if self.mlp_keys:
      self.vector_encoder = nets.VectorEncoder(**config.mlp, precision=p)
      # Vector heads belong to the decoder: grad_heads' `decoder` covers them too.
      self.vector_heads = {key: nets.MLP(**config.mlp, shape=shape, precision=p, name=f'dec_{key}')
                           for key, shape in self.vector_shapes.items()}
    self.dynamics = dynamics.make_dynamics(config, precision=p)
    self.heads = {'decoder': nets.Decoder(image_shape, **config.decoder, precision=p),
                  'reward': nets.MLP(**config.reward_head, precision=p, name='reward')}
    if config.pred_discount:
      self.heads['discount'] = nets.MLP(**config.discount_head, precision=p, name='discount')
    unknown = set(config.grad_heads) - set(self.heads)
    if unknown:
      raise ValueError(f'grad_heads {sorted(unknown)} are not heads of this model; '
                       f'valid: {sorted(self.heads)}')
    self.opt = tfutils.Optimizer('model', **config.model_opt, precision=p)
    self._image_shape = tuple(image_shape)
    self._built = False

  def preprocess(self, data):
    """Pixels to [-0.5, 0.5], transformed rewards, discount targets (1 - terminal) gamma
    (spec a.1)."""
    data = dict(data)
    data['image'] = self.preprocess_image(data['image'])
    for key in self.mlp_keys:
      data[key] = tf.cast(data[key], self.dtype)
    data['action'] = tf.cast(data['action'], self.dtype)
    data['reward'] = REWARD_TRANSFORMS[self.config.clip_rewards](
        tf.cast(data['reward'], tf.float32))
    data['discount'] = (1.0 - tf.cast(data['is_terminal'], tf.float32)) * self.config.discount
    return data

  def preprocess_image(self, image):
    """uint8 pixels to [-0.5, 0.5] in the compute dtype."""
    return tf.cast(image, self.dtype) / 255.0 - 0.5

  def encode(self, data):
    """The embedding of preprocessed observations (..., E): the CNN's, and the vector MLP's beside
    it when there are mlp_keys."""
    embed = self.encoder(data['image'])
    if not self.mlp_keys:
      return embed
    vectors = tf.concat([tf.reshape(data[k], tf.concat([tf.shape(data[k])[:-len(shape)], [-1]], 0))
                         for k, shape in self.vector_shapes.items()], -1)
    return tf.concat([embed, tf.cast(self.vector_encoder(vectors), embed.dtype)], -1)

  def loss(self, data, state=None):
    """Eq. 3: image, reward (and discount) log losses + beta KL + alpha sparsity. Returns
    (loss, posterior, metrics); losses are float32 scalars, averaged over batch and time."""
    cfg = self.config
    data = self.preprocess(data)
    # Name scopes name the parts in profiles (bench/train_step.py --breakdown); gradients inherit
    # them.
    with tf.name_scope('encoder'):
      embed = self.encode(data)
    with tf.name_scope('dynamics'):
      post, prior = self.dynamics.observe(embed, data['action'], data['is_first'], state)
    with tf.name_scope('kl'):
      kl_loss, kl_value = self.dynamics.kl_loss(post, prior, cfg.kl.balance, cfg.kl.free)
    feat = self.dynamics.get_feat(post)
    targets = {'decoder': data['image'], 'reward': data['reward'], 'discount': data['discount']}
    metrics = {'kl_loss': kl_loss, 'kl': tf.reduce_mean(kl_value)}
    loss = cfg.loss_scales.kl * kl_loss                                          # beta KL
    for name, head in self.heads.items():
      with tf.name_scope(name):
        dist = head(feat if name in cfg.grad_heads else sg(feat))
        head_loss = -tf.reduce_mean(dist.log_prob(tf.cast(targets[name], tf.float32)))
      metrics[HEAD_METRICS[name]] = head_loss
      loss += cfg.loss_scales.get(name, 1.0) * head_loss                          # -ln p(x|s) ...
    for key in self.mlp_keys:                    # the vector part of the observation likelihood
      with tf.name_scope(f'dec_{key}'):
        dist = self.vector_heads[key](feat if 'decoder' in cfg.grad_heads else sg(feat))
        head_loss = -tf.reduce_mean(dist.log_prob(tf.cast(data[key], tf.float32)))
      metrics[f'{key}_loss'] = head_loss
      loss += cfg.loss_scales.get('decoder', 1.0) * head_loss
    if self.dynamics.gated:
      sparsity, sparsity_kl = dynamics.sparsity_loss(post['gate_prob'], cfg.sparsity.prior,
                                                 cfg.sparsity.free)
      # alpha KL[u~ || kappa]
      sparsity = cfg.loss_scales.sparsity * sparsity
      loss += sparsity
      metrics.update(sparsity_loss=sparsity, sparsity_kl=sparsity_kl,
                     gate_prob=tf.reduce_mean(post['gate_prob']),
                     gate_open_rate=tf.reduce_mean(tf.cast(post['gate'], tf.float32)))
    metrics['prior_ent'] = tf.reduce_mean(self.dynamics.get_dist(prior).entropy())
    metrics['post_ent'] = tf.reduce_mean(self.dynamics.get_dist(post).entropy())
    return loss, post, metrics

  def build(self, action_dim):
    """Creates every variable (layers and optimizer slots) eagerly on a tiny batch, so the traced
    training step never creates variables. Runs no update."""
    if self._built:
      return
    batch = {'image': np.zeros((1, 2) + self._image_shape, np.uint8),
             'action': np.zeros((1, 2, action_dim), np.float32),
             'reward': np.zeros((1, 2), np.float32),
             'is_first': np.array([[True, False]]), 'is_terminal': np.zeros((1, 2), bool),
             **{key: np.zeros((1, 2) + shape, np.float32)
                for key, shape in self.vector_shapes.items()}}
    self.loss(batch)
    self.opt.build(self.trainable_variables)
    self._built = True

  def train_step(self, data, state=None):
    """One optimizer step of the world model on a batch; returns (posterior, metrics). Untraced:
    the agent traces it inside its whole training step (build() first)."""
    with tf.GradientTape() as tape:
      loss, post, metrics = self.loss(data, state)
    metrics.update(self.opt.minimize(tape, loss, self.trainable_variables))
    return post, metrics

  def imagine(self, policy, start, is_terminal, horizon):
    """Rolls the prior H steps from N start states with actions from `policy` (time-major).

    policy(feat) -> action distribution; it sees stop-gradient features, so the actor learns only
    through the values along the rollout (dynamics backpropagation, Eq. 5). start: states (N, ...);
    is_terminal: (N,) for the first discount. Returns feat, action (action k was sampled at state
    k - 1; action 0 is zero), reward (the reward head's mode), discount and weight, each (H + 1, N).
    """
    dyn = self.dynamics
    feat = dyn.get_feat(start)
    first_action = tf.zeros_like(tf.cast(policy(feat).mode(), feat.dtype))

    def step(prev, _):
      state, _, feat = prev
      action = tf.cast(policy(sg(feat)).sample(), feat.dtype)
      state = dyn.img_step(state, action)
      return state, action, dyn.get_feat(state)

    states, actions, feats = tf.scan(step, tf.range(horizon), (start, first_action, feat))
    stack = lambda first, rest: tf.concat([first[None], rest], 0)
    seq = {'feat': stack(feat, feats), 'action': stack(first_action, actions)}
    seq['reward'] = tf.cast(self.heads['reward'](seq['feat']).mode(), tf.float32)
    if 'discount' in self.heads:
      disc = tf.cast(self.heads['discount'](seq['feat']).mean(), tf.float32)
      # The first state is real: its discount comes from the data (spec d.3).
      true_first = (1.0 - tf.cast(is_terminal, tf.float32)) * self.config.discount
      disc = tf.concat([true_first[None], disc[1:]], 0)
    else:
      disc = self.config.discount * tf.ones(tf.shape(seq['feat'])[:-1], tf.float32)
    seq['discount'] = disc
    # Weight of step k: the probability of reaching it, prod_{j<k} d_j (a stop-gradient constant).
    seq['weight'] = sg(tf.math.cumprod(tf.concat([tf.ones_like(disc[:1]), disc[:-1]], 0), 0))
    return seq

  def posterior(self, data):
    """Posterior states (B, T, ...) of a raw batch (uint8 images), sampled as in training."""
    data = self.preprocess(data)
    post, _ = self.dynamics.observe(self.encode(data), data['action'], data['is_first'])
    return post

  def gate_report(self, data, count=6):
    """What the gates of a gated model did on `count` replayed sequences (posterior, spec b.7):
    unit_open_rate (D,) each unit's open rate over them, units_time (T, D) the gates of the first
    sequence, always_closed the mean number of units that stayed closed through a whole sequence,
    prob_time_std how much a unit's gate probability u~ moves over a sequence (std over time, mean
    over units and sequences): near 0, the gates ignore their inputs and act as a fixed-rate random
    mask."""
    post = self.posterior({k: v[:count] for k, v in data.items()})
    gate = tf.cast(post['gate'], tf.float32)                     # (B, T, D)
    closed = tf.cast(tf.reduce_max(gate, 1) == 0, tf.float32)    # (B, D): never opened
    return {'unit_open_rate': tf.reduce_mean(gate, [0, 1]), 'units_time': gate[0],
            'always_closed': tf.reduce_mean(tf.reduce_sum(closed, -1)),
            'prob_time_std': tf.reduce_mean(tf.math.reduce_std(post['gate_prob'], 1))}

  def open_loop(self, data, context=5):
    """Observes `context` steps, then imagines the rest from the recorded actions (spec a.9).
    `data` is preprocessed; returns the features (B, T, F): posteriors, then priors."""
    dyn = self.dynamics
    observed = {key: data[key][:, :context] for key in ('image',) + self.mlp_keys}
    post, _ = dyn.observe(self.encode(observed), data['action'][:, :context],
                          data['is_first'][:, :context])
    start = {k: v[:, -1] for k, v in post.items()}
    prior = dyn.imagine(data['action'][:, context:], start)
    return tf.concat([dyn.get_feat(post), dyn.get_feat(prior)], 1)

  def openl_video(self, data, context=5, count=6):
    """Open-loop prediction (spec a.9): observe `context` frames, imagine the rest from the recorded
    actions, decode. Returns (T, H, 3 W, C) float frames in [0, 1]: truth | model | error."""
    data = self.preprocess({k: v[:count] for k, v in data.items()})
    model = tf.cast(self.heads['decoder'](self.open_loop(data, context)).mode(), tf.float32) + 0.5
    truth = tf.cast(data['image'], tf.float32) + 0.5
    error = (model - truth + 1) / 2
    video = tf.concat([truth, model, error], 3)                  # (B, T, H, 3W, C)
    video = tf.concat(tf.unstack(video, axis=0), 1)              # batch side by side vertically
    return tf.clip_by_value(video, 0.0, 1.0)

  def openl_errors(self, data, context=5):
    """What the model predicts open loop (as open_loop) against the truth, per step (B, T):
    `reward` the reward head's mode, `image_mse` the decoder's squared error per pixel in [0, 1]
    units (the first `context` steps are posterior reconstructions)."""
    data = self.preprocess(data)
    feat = self.open_loop(data, context)
    image = tf.cast(self.heads['decoder'](feat).mode(), tf.float32)
    mse = tf.reduce_mean(tf.square(image - tf.cast(data['image'], tf.float32)), [2, 3, 4])
    return {'reward': tf.cast(self.heads['reward'](feat).mode(), tf.float32), 'image_mse': mse}
