"""Behavior learning in imagination (Section 3.2): actor and critic on imagined trajectories.

Index conventions follow upstream DreamerV2 (spec d.2, d.6 [Rec]): an imagined sequence (made by
WorldModel.imagine) holds H + 1 states s_0 (the start) ... s_H; action k >= 1 was sampled at
s_{k-1}; lambda-returns R_0 ... R_{H-1}. The diagrams at actor_loss and critic_loss show what lines
up.
"""

import tensorflow as tf

from common import choices
from common import nets
from common import tfutils

sg = tf.stop_gradient


def lambda_return(reward, value, discount, bootstrap, lambda_):
  """R_k = r_k + d_k [(1 - lambda) v_{k+1} + lambda R_{k+1}], R_L = bootstrap (time-major, float32).

  The target of the critic's Eq. 4 and the objective of the actor's Eq. 5 (V^lambda of DreamerV1).
  """
  next_value = tf.concat([value[1:], bootstrap[None]], 0)
  inputs = reward + discount * (1 - lambda_) * next_value
  return tf.scan(lambda agg, cur: cur[0] + cur[1] * lambda_ * agg, (inputs, discount), bootstrap,
                 reverse=True)


class ActorCritic(tfutils.Module):
  """Stochastic actor p(a | s) and deterministic critic v(s) with a slow target copy."""

  def __init__(self, config, actions, discrete, precision=None):
    self.config = config
    p = tfutils.as_precision(config.precision if precision is None else precision)
    actor = dict(config.actor)
    if actor['dist'] == 'auto':
      actor['dist'] = 'onehot' if discrete else 'trunc_normal'
    self.actor = nets.MLP(**actor, actions=actions, precision=p, name='actor')
    self.critic = nets.MLP(**config.critic, precision=p, name='critic')
    self.slow_critic = nets.MLP(**config.critic, precision=p, name='slow_critic')
    # The critic whose values make the lambda-return targets and the reinforce baseline (spec d.5).
    self._target_critic = self.slow_critic if config.slow_target else self.critic
    self.actor_opt = tfutils.Optimizer('actor', **config.actor_opt, precision=p)
    self.critic_opt = tfutils.Optimizer('critic', **config.critic_opt, precision=p)
    self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name='critic_updates')
    grad = config.actor_grad
    if grad == 'auto':
      grad = 'reinforce' if discrete else 'dynamics'
    if grad not in choices.ACTOR_GRADS or grad == 'auto':
      raise ValueError(f'actor_grad must be one of {choices.ACTOR_GRADS}, got {grad!r}')
    self._grad = grad

  def build(self, feat_size, dtype):
    feat = tf.zeros([1, feat_size], dtype)
    for net in (self.actor, self.critic, self.slow_critic):
      net(feat)
    self.actor_opt.build(self.actor.trainable_variables)
    self.critic_opt.build(self.critic.trainable_variables)

  def train_step(self, world_model, start, is_terminal):
    """One actor and one critic update from imagined rollouts of every start state.

    start: posterior states (B, T, ...), used as constants; is_terminal: (B, T).
    """
    self._update_slow_target()
    with tf.GradientTape() as actor_tape:
      seq, target, value, actor_loss, metrics = self.imagine_and_score(world_model, start,
                                                                       is_terminal)
    with tf.GradientTape() as critic_tape:
      with tf.name_scope('critic'):
        critic_loss = self.critic_loss(seq, target)
    metrics.update(self.actor_opt.minimize(actor_tape, actor_loss, self.actor.trainable_variables))
    metrics.update(self.critic_opt.minimize(critic_tape, critic_loss,
                                            self.critic.trainable_variables))
    metrics.update(reward_mean=tf.reduce_mean(seq['reward']), critic_target=tf.reduce_mean(target),
                   critic_slow=tf.reduce_mean(value))
    return metrics

  def imagine_and_score(self, world_model, start, is_terminal):
    """Imagined rollouts of every start state (constants), their lambda-return targets, the target
    critic's values and the actor's loss (Eq. 5) with its metrics."""
    start = tfutils.map_structure(lambda x: sg(tf.reshape(x, [-1] + x.shape[2:].as_list())), start)
    with tf.name_scope('imagine'):   # names the parts in profiles, as in WorldModel.loss
      seq = world_model.imagine(self.actor, start, tf.reshape(is_terminal, [-1]),
                                self.config.imag_horizon)
    with tf.name_scope('target'):
      target, value = self.target(seq)
    with tf.name_scope('actor'):
      actor_loss, metrics = self.actor_loss(seq, target, value)
    return seq, target, value, actor_loss, metrics

  def actor_gradient(self, world_model, start, is_terminal):
    """The gradient of the actor's loss, flattened, and the mean lambda-return target, without an
    update (for analyses of how the gradient varies with the imagination's samples)."""
    with tf.GradientTape() as tape:
      _, target, _, loss, _ = self.imagine_and_score(world_model, start, is_terminal)
    grads = tape.gradient(loss, self.actor.trainable_variables)
    return tf.concat([tf.reshape(g, [-1]) for g in grads], 0), tf.reduce_mean(target)

  def target(self, seq):
    """Lambda-returns from the slow critic (spec d.4): targets for s_0 ... s_{H-1}."""
    value = tf.cast(self._target_critic(seq['feat']).mode(), tf.float32)
    target = lambda_return(seq['reward'][:-1], value[:-1], seq['discount'][:-1], value[-1],
                           self.config.discount_lambda)
    return target, value[:-1]

  def actor_loss(self, seq, target, value):
    """Eq. 5: -eta_d V^lambda (dynamics backprop) - eta_e H[a | s], weighted by seq['weight'].

    value: the target critic's v(s_0) ... v(s_{H-1}), the reinforce baseline. With H = 3, [x] in
    the loss:
      states      s_0      s_1      s_2      s_3
      actions     0        a_1      a_2      a_3       a_k was sampled from pi(s_{k-1})
      targets     R_0      [R_1]    [R_2]              R_k = r_k + d_k ((1 - lambda) v_k+1
                                                             + lambda R_k+1)
      baselines   [v_0]    [v_1]    v_2                slow critic; reinforce: R_k+1 - v_k
      policy      [pi_0]   [pi_1]                      entropy; reinforce: log pi_k(a_k+1)
      weights     [w_0]    [w_1]    w_2      w_3
    so step k = 0 ... H-2 scores the action taken at s_k by the return R_{k+1} of where it led.
    """
    policy = self.actor(sg(seq['feat'][:-2]))
    if self._grad == 'dynamics':
      objective = target[1:]
    else:
      advantage = sg(target[1:] - value[:-1])
      action = sg(tf.cast(seq['action'][1:-1], tf.float32))
      objective = policy.log_prob(action) * advantage
      if self._grad == 'both':
        mix = self.config.actor_grad_mix
        objective = mix * target[1:] + (1 - mix) * objective
    entropy = policy.entropy()
    objective += self.config.actor_ent * entropy
    loss = -tf.reduce_mean(seq['weight'][:-2] * objective)
    return loss, {'actor_ent': tf.reduce_mean(entropy)}

  def critic_loss(self, seq, target):
    """Eq. 4: regression of v(s_k) on sg(R_k), weighted like the actor (both codes do). With H = 3:
      states      s_0      s_1      s_2      s_3
      critic      [v_0]    [v_1]    [v_2]              v_xi(s_k), regressed on
      targets     [R_0]    [R_1]    [R_2]              (s_3 only bootstraps R_2)
      weights     [w_0]    [w_1]    [w_2]
    """
    dist = self.critic(sg(seq['feat'][:-1]))
    return -tf.reduce_mean(seq['weight'][:-1] * dist.log_prob(sg(target)))

  def _update_slow_target(self):
    """Hard copy of the critic every `slow_target_update` updates, starting at update 0
    (spec d.5)."""
    if self.config.slow_target:
      def update():
        mix = tf.where(self.updates == 0, 1.0, self.config.slow_target_fraction)
        for source, target in zip(self.critic.variables, self.slow_critic.variables):
          target.assign(mix * source + (1 - mix) * target)
      tf.cond(self.updates % self.config.slow_target_update == 0, update, lambda: None)
    self.updates.assign_add(1)
