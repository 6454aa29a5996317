"""Distributions: tfp distributions plus the straight-through samplers the paper relies on.

Every distribution is built in float32 (spec e.9): losses, KLs and entropies stay float32 under
mixed precision; samples are cast back to the compute dtype by the caller.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
sg = tf.stop_gradient


def straight_through(hard, soft):
  """Forward value `hard`, gradient of `soft` (Bengio et al., 2013)."""
  return hard + (soft - sg(soft))


class OneHotDist(tfd.OneHotCategorical):
  """One-hot categorical whose samples carry the gradient of the class probabilities (DreamerV2).

  Build it with a float dtype (`OneHotDist(logits=..., dtype=tf.float32)`): the straight-through sum
  needs float samples.
  """

  def mode(self):
    hard = tf.one_hot(tf.argmax(self.logits_parameter(), -1), self.event_shape_tensor()[-1],
                      dtype=self.dtype)
    return straight_through(hard, self.probs_parameter())

  def sample(self, sample_shape=(), seed=None):
    hard = super().sample(sample_shape, seed=seed)
    probs = self.probs_parameter()
    probs = tf.broadcast_to(probs, tf.shape(hard))
    return straight_through(hard, probs)


def sample_bernoulli(probs):
  """u ~ Bernoulli(probs) with the straight-through estimator of Eq. 2: du/dprobs = 1.

  Probabilities of exactly 0 or 1 give exactly 0 or 1, which the tests use to pin the gates.
  """
  hard = tfd.Bernoulli(probs=probs, dtype=probs.dtype).sample()
  return straight_through(hard, probs)


def bernoulli_kl(probs, prior):
  """Element-wise KL[Bernoulli(probs) || Bernoulli(prior)] in nats (the sparsity term of Eq. 3)."""
  probs = tf.clip_by_value(tf.cast(probs, tf.float32), 1e-6, 1 - 1e-6)  # spec i.3: finite logits
  return tfd.kl_divergence(tfd.Bernoulli(probs=probs),
                           tfd.Bernoulli(probs=tf.cast(prior, tf.float32)))


def unit_normal(mean, event_dims):
  """Normal with unit variance over the last `event_dims` axes (image and reward likelihoods)."""
  return tfd.Independent(tfd.Normal(tf.cast(mean, tf.float32), 1.0), event_dims)


def binary(logits):
  """Bernoulli with a soft target allowed (the discount head predicts gamma, not just {0, 1})."""
  return tfd.Independent(tfd.Bernoulli(logits=tf.cast(logits, tf.float32), dtype=tf.float32), 0)


def sigmoid2_std(raw, min_std):
  """std = 2 sigmoid(raw / 2) + min_std: in (min_std, 2 + min_std), 1 + min_std at raw = 0."""
  return 2 * tf.sigmoid(raw / 2) + min_std


def actor(dist, out, min_std=0.1):
  """The actor's action distribution from the raw outputs of its last layer (spec d.7).

  trunc_normal: mean tanh(m), std 2 sigmoid(s / 2) + min_std, truncated to [-1, 1]; onehot: one-hot
  categorical with straight-through samples (discrete actions).
  """
  out = tf.cast(out, tf.float32)
  if dist == 'trunc_normal':
    mean, std = tf.split(out, 2, -1)
    return tfd.Independent(TruncNormalDist(tf.tanh(mean), sigmoid2_std(std, min_std), -1.0, 1.0), 1)
  if dist == 'onehot':
    return OneHotDist(logits=out, dtype=tf.float32)
  raise ValueError(f"actor.dist must be 'trunc_normal' or 'onehot', got {dist!r}")


class TruncNormalDist(tfd.TruncatedNormal):
  """Truncated Normal on [low, high] whose samples are clipped just inside the bounds with a
  straight-through gradient (spec d.7), so log-probabilities and tanh-free actions stay finite."""

  CLIP = 1e-6

  def sample(self, sample_shape=(), seed=None):
    event = super().sample(sample_shape, seed=seed)
    clipped = tf.clip_by_value(event, self.low + self.CLIP, self.high - self.CLIP)
    return event - sg(event) + sg(clipped)

  def mode(self):
    return self.loc
