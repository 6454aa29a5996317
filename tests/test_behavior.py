"""Behavior learning (Section 3.2): lambda-returns, imagination, slow critic, what each update
trains."""

import gymnasium
import numpy as np
import pytest
import tensorflow as tf

from common.synthetic import random_batch
from dreamerv2_vsg.agent import Agent
from dreamerv2_vsg.behavior import lambda_return
from tests.conftest import METHODS, make_config


@pytest.mark.parametrize('lam, expected', [(0.5, [3.97, 4.6]), (1.0, [5.14, 4.6]),
                                           (0.0, [2.8, 4.6])])
def test_lambda_return_two_steps(lam, expected):
  # Spec h.28: r = [1, 1], v = [0, 2], bootstrap 4, d = 0.9.
  got = lambda_return(tf.constant([1.0, 1.0]), tf.constant([0.0, 2.0]), tf.constant([0.9, 0.9]),
                      tf.constant(4.0), lam)
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_lambda_return_three_steps_batched():
  reward = tf.constant([[1.0], [2.0], [3.0]])
  value = tf.constant([[0.5], [1.0], [1.5]])
  got = lambda_return(reward, value, tf.fill([3, 1], 0.99), tf.constant([2.0]), 0.95)
  np.testing.assert_allclose(got.numpy()[:, 0], [7.40534, 6.75794, 4.98], rtol=1e-5)


def _agent(method='vsg', actions=2, **flags):
  config = make_config(method, **flags)
  obs_space = {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
  act_space = {'action': gymnasium.spaces.Box(-1, 1, (actions,), np.float32)}
  agent = Agent(config, obs_space, act_space)
  agent.build()
  return config, agent


def test_imagination_shapes_and_weights():
  config, agent = _agent()
  data = random_batch(batch=2, length=4, action_dim=2)
  post, _ = agent.wm.train_step({k: tf.constant(v) for k, v in data.items()})
  start = {k: tf.reshape(v, [-1] + v.shape[2:].as_list()) for k, v in post.items()}
  seq = agent.wm.imagine(agent.behavior.actor, start, tf.zeros([8]), config.imag_horizon)
  horizon = config.imag_horizon
  assert seq['feat'].shape[:2] == [horizon + 1, 8]
  assert seq['action'].shape == [horizon + 1, 8, 2]
  np.testing.assert_array_equal(seq['action'][0].numpy(), 0.0)
  actions = seq['action'][1:].numpy()
  assert np.all(np.abs(actions) <= 1 - 1e-6)     # spec h.31: truncated-normal samples stay inside
  # Spec h.29: without a discount head the weights are gamma^k.
  np.testing.assert_allclose(seq['weight'][:, 0].numpy(), 0.99 ** np.arange(horizon + 1), rtol=1e-5)


def test_update_trains_actor_and_critic_but_not_the_world_model():
  config, agent = _agent('svsg', kl__free=0.0)
  data = random_batch(batch=2, length=4, action_dim=2)
  tensors = {k: tf.constant(v) for k, v in data.items()}
  post, _ = agent.wm.train_step(tensors)
  wm_before = [v.numpy().copy() for v in agent.wm.variables]
  actor_before = [v.numpy().copy() for v in agent.behavior.actor.trainable_variables]
  critic_before = [v.numpy().copy() for v in agent.behavior.critic.trainable_variables]
  metrics = agent.behavior.train_step(agent.wm, post, tensors['is_terminal'])
  for var, old in zip(agent.wm.variables, wm_before):   # spec h.33
    np.testing.assert_array_equal(var.numpy(), old, err_msg=var.path)
  for var, old in zip(agent.behavior.actor.trainable_variables, actor_before):
    assert not np.array_equal(var.numpy(), old), var.path
  for var, old in zip(agent.behavior.critic.trainable_variables, critic_before):
    assert not np.array_equal(var.numpy(), old), var.path
  assert {'actor_loss', 'critic_loss', 'actor_ent'} <= set(metrics)


def test_slow_critic_copies_every_few_updates():
  config, agent = _agent('dreamerv2', slow_target_update=3)
  behavior = agent.behavior
  data = random_batch(batch=2, length=4, action_dim=2)
  tensors = {k: tf.constant(v) for k, v in data.items()}
  post, _ = agent.wm.train_step(tensors)
  same = lambda: all(np.array_equal(a.numpy(), b.numpy()) for a, b in
                     zip(behavior.critic.variables, behavior.slow_critic.variables))
  history = []
  for update in range(7):
    slow_before = [v.numpy().copy() for v in behavior.slow_critic.variables]
    behavior.train_step(agent.wm, post, tensors['is_terminal'])
    copied = not all(np.array_equal(a, b.numpy())
                     for a, b in zip(slow_before, behavior.slow_critic.variables))
    history.append(copied)
  # Spec h.32: copies at update counts 0, 3, 6 (before the critic step of that update).
  assert history == [True, False, False, True, False, False, True]
  assert int(behavior.updates.numpy()) == 7
  assert not same()   # the critic moved on after the last copy


def test_agent_full_step_and_policy():
  config, agent = _agent('vsg')
  data = random_batch(batch=config.dataset.batch, length=config.dataset.length, action_dim=2)
  metrics = agent.train(data)
  for key in ('model_loss', 'image_loss', 'reward_loss', 'kl_loss', 'kl', 'sparsity_loss',
              'gate_prob', 'gate_open_rate', 'actor_loss', 'critic_loss', 'actor_ent'):
    assert np.isfinite(metrics[key]), key
  obs = {'image': data['image'][:, 0], 'is_first': data['is_first'][:, 0]}
  action, state = agent.policy(obs, mode='train')
  again, _ = agent.policy(obs, state, mode='eval')
  assert action.shape == (config.dataset.batch, 2) and np.all(np.abs(action) <= 1)
  assert agent._policy.traces == 1
  video = agent.report(data)
  assert video.shape[0] == config.dataset.length and video.shape[-1] == 3
  assert 0.0 <= video.min() and video.max() <= 1.0


@pytest.mark.slow  # ten whole agent steps (every method at 16 and bf16)
@pytest.mark.parametrize('precision', ['16', 'bf16'])
@pytest.mark.parametrize('method', METHODS)
def test_agent_step_and_policy_at_mixed_precision(method, precision):
  config, agent = _agent(method, precision=precision, kl__free=0.0)
  compute = {'16': tf.float16, 'bf16': tf.bfloat16}[precision]
  data = random_batch(batch=2, length=4, action_dim=2)
  behavior = agent.behavior   # every optimized variable; the slow critic only copies the critic
  variables = (agent.wm.trainable_variables + behavior.actor.trainable_variables
               + behavior.critic.trainable_variables)
  before = [v.numpy().copy() for v in variables]
  # float16: steps whose gradients overflow are skipped (their grad norm is inf) while each loss
  # scale settles, the world model's and the critic's on steps of their own.
  for _ in range(10):
    metrics = agent.train(data)
    finite = all(np.isfinite(value) for value in metrics.values())
    if finite and all(not np.array_equal(v.numpy(), old) for v, old in zip(variables, before)):
      break
  for var, old in zip(variables, before):
    assert not np.array_equal(var.numpy(), old), var.path
    assert var.dtype == tf.float32, var.path
  assert all(np.isfinite(value) for value in metrics.values()), metrics
  assert ('model_loss_scale' in metrics) == (precision == '16')   # bfloat16 needs no loss scaling
  assert agent._train.traces == 1
  obs = {'image': data['image'][:, 0], 'is_first': data['is_first'][:, 0]}
  for mode in ('train', 'eval'):
    action, (latent, prev_action) = agent.policy(obs, mode=mode)
    assert action.dtype == np.float32 and np.all(np.abs(action) <= 1), action
    assert prev_action.dtype == compute


@pytest.mark.parametrize('grad', ['reinforce', 'both'])
def test_reinforce_gradients_train_the_actor(grad):
  config, agent = _agent('dreamerv2', actor_grad=grad)
  data = random_batch(batch=2, length=4, action_dim=2)
  tensors = {k: tf.constant(v) for k, v in data.items()}
  post, _ = agent.wm.train_step(tensors)
  before = [v.numpy().copy() for v in agent.behavior.actor.trainable_variables]
  metrics = agent.behavior.train_step(agent.wm, post, tensors['is_terminal'])
  assert np.isfinite(float(metrics['actor_loss']))
  changed = [not np.array_equal(v.numpy(), old)
             for v, old in zip(agent.behavior.actor.trainable_variables, before)]
  assert all(changed)
