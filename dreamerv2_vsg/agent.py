"""The agent: a world model plus an actor-critic trained in its imagination (DreamerV2 with
VSG/SVSG)."""

import re

import numpy as np
import tensorflow as tf

from common import tfutils
from dreamerv2_vsg.behavior import ActorCritic
from dreamerv2_vsg.world_model import WorldModel


class Agent(tfutils.Module):
  """Acts with `policy` and learns with `train`, both traced once for fixed batch shapes.

  obs_space / act_space: dicts of gymnasium Boxes as the environments give them; `discrete` says
  whether the action space is one-hot.
  """

  def __init__(self, config, obs_space, act_space, discrete=False):
    self.config = config
    self.action_dim = int(act_space['action'].shape[0])
    self.discrete = discrete
    self.precision = tfutils.as_precision(config.precision)   # resolved once, for every part
    self.wm = WorldModel(config, image_shape=tuple(obs_space['image'].shape),
                         vector_shapes=vector_keys(obs_space, config.mlp_keys),
                         precision=self.precision)
    self.behavior = ActorCritic(config, self.action_dim, discrete, precision=self.precision)
    self._policy = tfutils.TracedFunction(self._policy_step, name='agent.policy')
    self._train = tfutils.TracedFunction(self._train_step, jit=config.jit, name='agent.train')
    self._report = tfutils.TracedFunction(self.wm.openl_video, name='agent.report')
    self._gate_report = tfutils.TracedFunction(self.wm.gate_report, name='agent.gate_report')
    self._openl_errors = tfutils.TracedFunction(self.wm.openl_errors, name='agent.openl_errors')
    self._actor_gradient = tfutils.TracedFunction(self._actor_gradient_step,
                                                  name='agent.actor_gradient')
    self._built = False

  def build(self):
    """Creates every variable eagerly (networks and optimizer slots); runs no update."""
    if self._built:
      return
    self.wm.build(self.action_dim)
    feat = self.wm.dynamics.get_feat(self.wm.dynamics.initial(1))
    self.behavior.build(int(feat.shape[-1]), feat.dtype)
    self._built = True

  def initial_state(self, batch):
    return (self.wm.dynamics.initial(batch), tf.zeros([batch, self.action_dim], self.wm.dtype))

  def policy(self, obs, state=None, mode='train'):
    """Actions for a batch of observations: sampled in 'train', the mode in 'eval' (spec e.5).

    The state carries (latent, previous action); `is_first` in obs resets it inside the posterior
    step, so environments that restart need nothing else.
    """
    self.build()
    obs = {k: tf.convert_to_tensor(obs[k]) for k in ('image', 'is_first') + self.wm.mlp_keys}
    if state is None:
      state = self.initial_state(int(obs['image'].shape[0]))
    action, state = self._policy(obs, state, tf.constant(mode == 'eval'))
    return action.numpy(), state

  def _policy_step(self, obs, state, evaluate):
    latent, prev_action = state
    embed = self.wm.encode({'image': self.wm.preprocess_image(obs['image']),
                            **{k: tf.cast(obs[k], self.wm.dtype) for k in self.wm.mlp_keys}})
    latent, _ = self.wm.dynamics.obs_step(latent, prev_action, embed, obs['is_first'])
    dist = self.behavior.actor(self.wm.dynamics.get_feat(latent))
    action = tf.cond(evaluate, dist.mode, dist.sample)
    return tf.cast(action, tf.float32), (latent, tf.cast(action, self.wm.dtype))

  def train(self, data):
    """One update of world model, actor and critic on a replay batch; returns numpy metrics."""
    self.build()
    metrics = self._train(tensors(data))
    return {k: float(v) for k, v in metrics.items()}

  def _train_step(self, data):
    post, metrics = self.wm.train_step(data)
    metrics.update(self.behavior.train_step(self.wm, post, data['is_terminal']))
    return metrics

  def report(self, data):
    """Open-loop video prediction frames (T, H, W, C) in [0, 1] for the logger."""
    self.build()
    return self._report(tensors(data)).numpy()

  def gate_report(self, data):
    """WorldModel.gate_report as numpy arrays, or None for a model without gates."""
    if not self.wm.dynamics.gated:
      return None
    self.build()
    report = self._gate_report(tensors(data))
    return {k: v.numpy() for k, v in report.items()}

  def summaries(self, data, prefix='train', openl=True):
    """What the logger shows of the model on a batch, by name (the logger writes each by its rank):
    the open-loop video `PREFIX_openl` (unless not `openl`), and for a gated model what its gates
    did (gate_report)."""
    out = {f'{prefix}_openl': self.report(data)} if openl else {}
    gates = self.gate_report(data)
    if gates is not None:
      out.update(gate_unit_open_rate=gates['unit_open_rate'],
                 gate_units_time=gate_picture(gates['units_time']),
                 gate_always_closed=gates['always_closed'],
                 gate_prob_time_std=gates['prob_time_std'])
    return out

  def openl_errors(self, data):
    """WorldModel.openl_errors as numpy arrays."""
    self.build()
    errors = self._openl_errors(tensors(data))
    return {k: v.numpy() for k, v in errors.items()}

  def actor_gradient(self, data):
    """The actor's loss gradient (flattened) on imagination from a batch's posterior states, and the
    mean lambda-return target, as numpy; no update. Each call draws new imagination samples."""
    self.build()
    grad, target = self._actor_gradient(tensors(data))
    return grad.numpy(), float(target)

  def _actor_gradient_step(self, data):
    post = self.wm.posterior(data)
    return self.behavior.actor_gradient(self.wm, post, data['is_terminal'])

  @property
  def checkpoint_variables(self):
    """Everything a resumed run needs, in a stable order: networks, optimizer states, counters."""
    return (self.wm.variables + self.wm.opt.variables + self.behavior.variables
            + self.behavior.actor_opt.variables + self.behavior.critic_opt.variables
            + [self.behavior.updates])


NOT_OBSERVATIONS = ('image', 'reward', 'is_first', 'is_last', 'is_terminal')


def vector_keys(obs_space, pattern):
  """{key: shape} of the observation keys `pattern` selects (re.match, as upstream's mlp_keys):
  not the image, reward, flags or log_ keys; a selected key must be a 1-D float Box."""
  keys = {}
  for key, space in obs_space.items():
    if key in NOT_OBSERVATIONS or key.startswith('log_') or not re.match(pattern, key):
      continue
    shape, dtype = tuple(getattr(space, 'shape', ()) or ()), getattr(space, 'dtype', None)
    if len(shape) != 1 or dtype is None or not np.issubdtype(dtype, np.floating):
      raise ValueError(f'--mlp_keys {pattern!r} selects the observation {key!r} of shape {shape} '
                       f'and dtype {dtype}; it encodes 1-D float vectors only')
    keys[key] = shape
  return keys


def tensors(data):
  """A batch dict of arrays as tensors, the input of the traced functions."""
  return {k: tf.convert_to_tensor(v) for k, v in data.items()}


def gate_picture(units_time, min_width=256, min_height=128):
  """The gates (T, D) as a picture of units (rows) x time (columns), white where a unit updated;
  each step and unit is scaled up to whole pixels so short sequences and few units stay visible."""
  gates = np.asarray(units_time, np.float32).T                  # (D, T)
  rows, cols = gates.shape
  sy, sx = -(-min_height // rows), -(-min_width // cols)         # ceil
  picture = np.kron(gates, np.ones((sy, sx), np.float32))
  return (picture * 255).round().astype(np.uint8)[..., None]


def random_actions(batch, action_dim, discrete, rng):
  """Uniform random actions for prefill: uniform in [-1, 1]^A, or uniform one-hot."""
  if discrete:
    return np.eye(action_dim, dtype=np.float32)[rng.integers(0, action_dim, batch)]
  return rng.uniform(-1, 1, (batch, action_dim)).astype(np.float32)
