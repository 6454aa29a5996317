"""Straight-through samplers, the VSG cell (Eq. 2) and the sparsity loss (Eq. 3)."""

import numpy as np
import pytest
import tensorflow as tf

from common import dists
from common import nets as cells
from common.synthetic import random_batch
from common.dynamics import make_dynamics, sparsity_loss
from dreamerv2_vsg.world_model import WorldModel
from tests.conftest import make_config


def test_bernoulli_sample_is_binary_with_identity_gradient():
  preact = tf.constant(np.linspace(-3, 3, 1000), tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(preact)
    probs = tf.sigmoid(preact)
    sample = dists.sample_bernoulli(probs)
  assert set(np.unique(sample.numpy())) <= {0.0, 1.0}
  np.testing.assert_allclose(tape.gradient(sample, probs).numpy(), 1.0)
  p = probs.numpy()
  np.testing.assert_allclose(tape.gradient(sample, preact).numpy(), p * (1 - p), rtol=1e-5)


def test_bernoulli_sample_mean_approaches_probability():
  tf.random.set_seed(1)
  probs = tf.fill([100_000], 0.3)
  assert abs(float(tf.reduce_mean(dists.sample_bernoulli(probs))) - 0.3) < 0.01


def test_onehot_sample_is_onehot_with_softmax_gradient():
  logits = tf.constant(np.random.default_rng(0).normal(size=(6, 4, 5)), tf.float32)
  weights = tf.constant(np.random.default_rng(1).normal(size=(6, 4, 5)), tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(logits)
    sample = dists.OneHotDist(logits=logits, dtype=tf.float32).sample()
    loss = tf.reduce_sum(sample * weights)
    reference = tf.reduce_sum(tf.nn.softmax(logits) * weights)
  values = sample.numpy()
  assert set(np.unique(values)) <= {0.0, 1.0}
  np.testing.assert_array_equal(values.sum(-1), 1.0)
  np.testing.assert_allclose(tape.gradient(loss, logits), tape.gradient(reference, logits),
                             atol=1e-6)


def test_bernoulli_kl_matches_hand_computation():
  kl = lambda p, q: p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
  probs = np.array([0.5, 0.3, 0.4, 1 / (1 + np.e)], np.float32)
  got = dists.bernoulli_kl(tf.constant(probs), 0.4).numpy()
  np.testing.assert_allclose(got, kl(probs.astype(np.float64), 0.4), atol=1e-6)
  np.testing.assert_allclose(got[:2], [0.02041, 0.02160], atol=1e-5)   # spec h.8
  assert got[2] == pytest.approx(0.0, abs=1e-7)


def test_sparsity_loss_is_minimal_at_the_gate_prior():
  grid = np.linspace(0.05, 0.95, 91).astype(np.float32)
  values = [float(sparsity_loss(tf.fill([2, 3, 8], p), 0.4, 0.0)[1]) for p in grid]
  assert grid[int(np.argmin(values))] == pytest.approx(0.4, abs=1e-6)
  assert min(values) == pytest.approx(0.0, abs=1e-5)


def test_sparsity_loss_at_initial_gate_probability():
  # Spec h.9: u~ = sigmoid(-1) gives 0.037669 nats per unit; summed over 1024 units and scaled by
  # 0.1.
  probs = tf.fill([4, 5, 1024], float(tf.sigmoid(-1.0)))
  loss, value = sparsity_loss(probs, 0.4, 0.1)
  assert float(value) / 1024 == pytest.approx(0.037669, abs=1e-5)
  assert 0.1 * float(loss) == pytest.approx(3.857, abs=1e-3)


def test_sparsity_loss_below_free_nats_is_constant_without_gradient():
  probs = tf.Variable(tf.fill([3, 4, 2], 0.41))
  with tf.GradientTape() as tape:
    loss, value = sparsity_loss(probs, 0.4, 0.1)
  assert float(value) < 0.1 and float(loss) == pytest.approx(0.1)
  assert float(tf.reduce_sum(tf.abs(tape.gradient(loss, probs)))) == 0.0


def _cell_inputs(size=16, batch=5):
  rng = np.random.default_rng(0)
  inputs = tf.constant(rng.normal(size=(batch, 7)), tf.float32)
  state = tf.constant(rng.uniform(-1, 1, (batch, size)), tf.float32)
  return inputs, state


def test_vsg_cell_with_closed_gates_copies_the_state_exactly():
  inputs, state = _cell_inputs()
  cell = cells.VSGCell(16, layer_norm=False, update_bias=-1e4)
  new, gates = cell(inputs, state)
  assert float(tf.reduce_max(gates['gate'])) == 0.0
  np.testing.assert_array_equal(new.numpy(), state.numpy())


def test_vsg_cell_with_open_gates_returns_the_candidate():
  inputs, state = _cell_inputs()
  cell = cells.VSGCell(16, layer_norm=False, update_bias=1e4)
  new, gates = cell(inputs, state)
  cand, _ = cell.candidate(inputs, state)
  assert float(tf.reduce_min(gates['gate'])) == 1.0
  np.testing.assert_array_equal(new.numpy(), cand.numpy())
  assert np.all(np.abs(new.numpy()) <= 1.0)


def test_vsg_gate_probability_at_zero_preactivation_is_sigmoid_minus_one():
  cell = cells.VSGCell(8, layer_norm=False)
  zeros = tf.zeros([3, 4])
  cell(zeros, tf.zeros([3, 8]))
  # Zero inputs and state give a zero pre-activation (biases start at zero): u~ = sigmoid(-1).
  _, gates = cell(zeros, tf.zeros([3, 8]))
  np.testing.assert_allclose(gates['gate_prob'].numpy(), 1 / (1 + np.e), rtol=1e-6)


def test_layer_norm_gru_update_gate_at_initialization():
  # Spec h.26: layer norm of a constant vector returns its bias (0), so the gate is sigmoid(-1).
  cell = cells.GRUCell(8, layer_norm=True)
  cand, update = cell.candidate(tf.zeros([2, 3]), tf.zeros([2, 8]))
  np.testing.assert_allclose(tf.sigmoid(update).numpy(), 1 / (1 + np.e), rtol=1e-6)


def test_vsg_gate_dtypes_follow_precision():
  inputs, state = _cell_inputs()
  cell = cells.VSGCell(16, layer_norm=False, precision=16)
  new, gates = cell(tf.cast(inputs, tf.float16), tf.cast(state, tf.float16))
  assert (new.dtype, gates['gate'].dtype, gates['gate_prob'].dtype) == (
      tf.float16, tf.float16, tf.float32)


def test_soft_gate_is_the_gate_probability_with_its_gradient():
  inputs, state = _cell_inputs()
  cell = cells.make_cell('vsg', 16, False, -1.0, 32, gate='soft')
  with tf.GradientTape() as tape:
    tape.watch(state)
    new, gates = cell(inputs, state)
  prob = gates['gate_prob']
  np.testing.assert_array_equal(gates['gate'].numpy(), prob.numpy())
  assert 0 < float(tf.reduce_min(prob)) and float(tf.reduce_max(prob)) < 1   # not binary
  cand, _ = cell.candidate(inputs, state)
  np.testing.assert_allclose(new.numpy(), (prob * cand + (1 - prob) * state).numpy(), rtol=1e-6)
  assert float(tf.reduce_sum(tf.abs(tape.gradient(new, state)))) > 0


def test_gate_option_is_checked():
  with pytest.raises(ValueError,
                     match=r"cell.gate must be one of \('sample', 'soft'\), got 'hard'"):
    cells.make_cell('vsg', 4, False, -1.0, 32, gate='hard')
  with pytest.raises(ValueError, match=r"cell.gate 'soft' needs a gated cell.type \(one of "
                                       r"\['vsg'\]\), got 'gru'"):
    cells.make_cell('gru', 4, False, -1.0, 32, gate='soft')


def test_unknown_cell_names_the_valid_ones():
  with pytest.raises(ValueError, match=r"cell.type must be one of \['gru', 'vsg'\], got 'lstm'"):
    cells.make_cell('lstm', 4, False, -1.0, 32)


@pytest.mark.parametrize('method', ['vsg', 'svsg'])
def test_a_new_gated_cell_needs_no_change_to_the_rssm_or_svsg(method, monkeypatch):
  class CoinCell(cells.VSGCell):
    """Gate probability 0.5 everywhere: a gated cell the RSSM and SVSG have never heard of."""

    def gate(self, inputs, state):
      cand, _ = self.candidate(inputs, state)
      prob = tf.fill(tf.shape(cand), 0.5)
      return cand, tf.cast(dists.sample_bernoulli(prob), cand.dtype), prob

  monkeypatch.setitem(cells.CELLS, 'coin', CoinCell)
  model = WorldModel(make_config(method, cell__type='coin'))
  _, post, metrics = model.loss(random_batch())
  assert model.dynamics.gated and {'gate', 'gate_prob'} <= set(post)
  assert float(metrics['gate_prob']) == 0.5 and float(metrics['sparsity_loss']) > 0
  with pytest.raises(ValueError,
                     match=r"svsg needs a gated cell.type \(one of \['coin', 'vsg'\]\)"):
    make_dynamics(make_config('svsg', cell__type='gru'))


def test_the_vocabulary_names_what_each_registry_holds():
  from common import choices, tfutils
  from dreamerv2_vsg import world_model
  assert {name: cell.gated for name, cell in cells.CELLS.items()} == choices.CELLS
  assert cells.GATE_MODES == choices.GATE_MODES
  assert sorted(world_model.REWARD_TRANSFORMS) == sorted(choices.REWARD_TRANSFORMS)
  assert sorted([*map(str, tfutils.PRECISIONS), 'auto']) == sorted(choices.PRECISIONS)
  assert set(cells.MLP.DISTS) == set(choices.HEAD_DISTS) | set(choices.ACTOR_DISTS) - {'auto'}
