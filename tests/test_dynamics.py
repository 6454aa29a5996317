"""The dynamics interface shared by RSSM, VSG and SVSG: shapes, resets, gates and KLs."""

import numpy as np
import pytest
import tensorflow as tf

from common import dists
from common.dynamics import Dynamics, make_dynamics
from tests.conftest import METHODS, make_config

tfd = dists.tfd
B, T, A, E = 3, 4, 2, 12


def _model(method, precision=32, **flags):
  config = make_config(method, precision=precision, **flags)
  return config, make_dynamics(config)


def _inputs(seed=0, first=True):
  rng = np.random.default_rng(seed)
  embed = tf.constant(rng.normal(size=(B, T, E)), tf.float32)
  action = tf.constant(rng.uniform(-1, 1, (B, T, A)), tf.float32)
  is_first = np.zeros((B, T), bool)
  is_first[:, 0] = first
  return embed, action, tf.constant(is_first)


def _expected_shapes(config):
  rssm = config.rssm
  if config.dynamics == 'svsg':
    s = config.svsg.size
    return {k: [s] for k in ('stoch', 'cand', 'gate', 'mean', 'std', 'gate_prob')}, s
  shapes = {'deter': [rssm.deter]}
  if rssm.latent == 'categorical':
    shapes.update(stoch=[rssm.stoch, rssm.classes], logit=[rssm.stoch, rssm.classes])
    feat = rssm.stoch * rssm.classes + rssm.deter
  else:
    shapes.update(stoch=[rssm.stoch], mean=[rssm.stoch], std=[rssm.stoch])
    feat = rssm.stoch + rssm.deter
  if config.cell.type == 'vsg':
    shapes.update(gate=[rssm.deter], gate_prob=[rssm.deter])
  return shapes, feat


@pytest.mark.parametrize('precision', [32, 16])
@pytest.mark.parametrize('method', METHODS)
def test_observe_and_imagine_shapes_and_dtypes(method, precision):
  config, dyn = _model(method, precision)
  compute = {16: tf.float16, 32: tf.float32}[precision]
  float32_keys = {'logit', 'mean', 'std', 'gate_prob'}
  embed, action, is_first = _inputs()
  post, prior = dyn.observe(embed, action, is_first)
  imagined = dyn.imagine(action, {k: v[:, -1] for k, v in post.items()})
  shapes, feat_size = _expected_shapes(config)
  for states in (post, prior, imagined):
    assert set(states) == set(shapes)
    for key, value in states.items():
      assert value.shape.as_list() == [B, T] + shapes[key], key
      assert value.dtype == (tf.float32 if key in float32_keys else compute), key
  feat = dyn.get_feat(post)
  assert feat.shape.as_list() == [B, T, feat_size] and feat.dtype == compute
  assert np.all(np.isfinite(feat.numpy().astype(np.float32)))
  kl_loss, kl_value = dyn.kl_loss(post, prior, 0.8, 0.0)
  assert kl_loss.dtype == tf.float32 and kl_loss.shape == () and kl_value.shape == (B, T)


@pytest.mark.parametrize('method', METHODS)
def test_is_first_starts_from_the_zero_state_and_zero_action(method):
  _, dyn = _model(method)
  embed, action, _ = _inputs()
  dyn.observe(embed, action, _inputs()[2])                 # build the layers
  rng = np.random.default_rng(3)
  carried = {k: tf.constant(rng.uniform(0.1, 1.0, v.shape), v.dtype)
             for k, v in dyn.initial(B).items()}
  reset = np.array([True, False, True])
  tf.random.set_seed(7)
  post, prior = dyn.obs_step(carried, action[:, 0], embed[:, 0], tf.constant(reset))
  tf.random.set_seed(7)
  fresh_post, fresh_prior = dyn.obs_step(dyn.initial(B), tf.zeros_like(action[:, 0]), embed[:, 0],
                                         tf.zeros(B, bool))
  for key in post:
    got, want = post[key].numpy(), fresh_post[key].numpy()
    np.testing.assert_array_equal(got[reset], want[reset], err_msg=key)
  # The element that did not reset continues from its carried state instead.
  stats = 'logit' if 'logit' in post else 'mean'
  assert not np.allclose(post[stats].numpy()[1], fresh_post[stats].numpy()[1])


@pytest.mark.parametrize('method', ['vsg', 'vsg_gaussian', 'svsg'])
def test_closed_gates_copy_the_previous_state_exactly(method):
  config, dyn = _model(method, cell__update_bias=-1e4)
  embed, action, is_first = _inputs()
  post, prior = dyn.observe(embed, action, is_first)
  assert float(tf.reduce_max(post['gate'])) == 0.0
  key = 'stoch' if config.dynamics == 'svsg' else 'deter'
  for states in (post, prior):
    for t in range(1, T):
      np.testing.assert_array_equal(states[key][:, t].numpy(), post[key][:, t - 1].numpy())
  # The first step starts from the zero state, so a closed gate keeps it at zero.
  np.testing.assert_array_equal(post[key][:, 0].numpy(), 0.0)


def test_svsg_masked_kl_is_zero_with_closed_gates_and_gives_no_gradient():
  config, dyn = _model('svsg', cell__update_bias=-1e4)
  embed, action, is_first = _inputs()
  dyn.observe(embed, action, is_first)
  variables = dyn.trainable_variables
  with tf.GradientTape() as tape:
    post, prior = dyn.observe(embed, action, is_first)
    loss, value = dyn.kl_loss(post, prior, 0.8, 1.0)
  np.testing.assert_array_equal(value.numpy(), 0.0)
  assert float(loss) == pytest.approx(1.0)       # the free-nats constant, 0.2 + 0.8 (spec h.12)
  grads = tape.gradient(loss, variables, unconnected_gradients='zero')
  assert all(float(tf.reduce_sum(tf.abs(g))) == 0.0 for g in grads)


def test_svsg_open_gates_take_the_candidate_samples_and_mask_nothing():
  config, dyn = _model('svsg', cell__update_bias=1e4)
  embed, action, is_first = _inputs()
  post, prior = dyn.observe(embed, action, is_first, sample=False)
  np.testing.assert_array_equal(post['gate'].numpy(), 1.0)
  np.testing.assert_array_equal(post['stoch'].numpy(), post['mean'].numpy())    # mode of z_t
  np.testing.assert_array_equal(prior['stoch'].numpy(), prior['mean'].numpy())  # mode of z^_t
  masked = dyn._kl(post, prior)
  plain = Dynamics._kl(dyn, post, prior)     # the unmasked KL of the same Gaussians
  np.testing.assert_allclose(masked.numpy(), plain.numpy(), rtol=1e-6)


def test_svsg_masked_kl_sums_the_updated_units_only():
  config, dyn = _model('svsg')
  embed, action, is_first = _inputs()
  post, prior = dyn.observe(embed, action, is_first)
  gate = post['gate'].numpy()
  assert 0 < gate.mean() < 1
  mean_q, std_q, mean_p, std_p = (post['mean'].numpy(), post['std'].numpy(),
                                  prior['mean'].numpy(), prior['std'].numpy())
  per_unit = (np.log(std_p / std_q) + (std_q ** 2 + (mean_q - mean_p) ** 2) / (2 * std_p ** 2)
              - 0.5)
  np.testing.assert_allclose(dyn._kl(post, prior).numpy(), (gate * per_unit).sum(-1), rtol=1e-4)


@pytest.mark.parametrize('mask_stop_grad, factor', [(False, 1.0), (True, 0.0)])
def test_svsg_gate_gets_the_full_per_unit_kl_gradient(mask_stop_grad, factor):
  # Spec h.15 / c.3: both balanced terms (0.2 + 0.8) multiply the un-stopped straight-through gate,
  # so d loss / d u~ is the per-unit KL over the B T it is averaged over; 0 with mask_stop_grad.
  config, dyn = _model('svsg', kl__mask_stop_grad=mask_stop_grad)
  rng = np.random.default_rng(0)
  shape = (B, T, config.svsg.size)
  gate_prob = tf.Variable(tf.ones(shape))                       # all gates open: u = 1 exactly
  stats = lambda: {'mean': tf.constant(rng.normal(size=shape), tf.float32),
                   'std': tf.constant(rng.uniform(0.5, 1.5, shape), tf.float32)}
  post, prior = stats(), stats()
  with tf.GradientTape() as tape:
    gate = dists.sample_bernoulli(gate_prob)
    post.update(gate=gate, gate_prob=gate_prob)
    prior.update(gate=gate, gate_prob=gate_prob)
    loss, _ = dyn.kl_loss(post, prior, 0.8, 0.0)
  np.testing.assert_array_equal(gate.numpy(), 1.0)
  per_unit = tfd.kl_divergence(tfd.Normal(post['mean'], post['std']),
                               tfd.Normal(prior['mean'], prior['std'])).numpy()
  grad = tape.gradient(loss, gate_prob, unconnected_gradients='zero').numpy()
  np.testing.assert_allclose(grad, factor * per_unit / (B * T), rtol=1e-5, atol=1e-9)


def test_kl_balancing_weights_prior_and_posterior_gradients():
  # Spec h.25: value = max(mean KL, free); the prior gets 0.8 and the posterior 0.2 of the gradient.
  config, dyn = _model('dreamerv1')
  rng = np.random.default_rng(0)
  post = {'mean': tf.Variable(rng.normal(size=(B, T, 4)), dtype=tf.float32),
          'std': tf.constant(rng.uniform(0.5, 1.5, (B, T, 4)), tf.float32)}
  prior = {'mean': tf.Variable(rng.normal(size=(B, T, 4)), dtype=tf.float32),
           'std': tf.constant(rng.uniform(0.5, 1.5, (B, T, 4)), tf.float32)}
  with tf.GradientTape(persistent=True) as tape:
    loss, value = dyn.kl_loss(post, prior, 0.8, 0.0)
    plain = tf.reduce_mean(dyn._kl(post, prior))
  assert float(loss) == pytest.approx(float(plain), rel=1e-6)
  for state, weight in ((prior, 0.8), (post, 0.2)):
    np.testing.assert_allclose(tape.gradient(loss, state['mean']),
                               weight * tape.gradient(plain, state['mean']), rtol=1e-5, atol=1e-8)
  with tf.GradientTape() as tape:
    clamped, _ = dyn.kl_loss(post, prior, 0.8, 1e3)
  assert float(clamped) == pytest.approx(1e3)
  grad = tape.gradient(clamped, post['mean'], unconnected_gradients='zero')
  assert not np.any(grad.numpy())


def test_gaussian_std_stays_in_its_range():
  config, dyn = _model('dreamerv1')
  raw = tf.constant(np.linspace(-50, 50, 40).reshape(1, 40), tf.float32)
  std = dyn._gaussian(raw, 0.1)['std'].numpy()
  assert std.min() >= 0.1 and std.max() <= 2.1 + 1e-6


def test_svsg_rejects_categorical_latents():
  with pytest.raises(ValueError, match='svsg needs rssm.latent gaussian'):
    _model('svsg', rssm__latent='categorical')
