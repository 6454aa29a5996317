"""Synthetic replay batches, for tests and benchmarks that need the real shapes without an env."""

import numpy as np


def random_batch(batch=2, length=5, action_dim=3, seed=0, image_shape=(64, 64, 3)):
  """A batch as Replay.sample returns it: random pixels, actions and rewards; each sequence starts
  an episode (is_first[:, 0]) and none ends."""
  rng = np.random.default_rng(seed)
  data = {
      'image': rng.integers(0, 256, (batch, length) + tuple(image_shape), dtype=np.uint8),
      'action': rng.uniform(-1, 1, (batch, length, action_dim)).astype(np.float32),
      'reward': rng.normal(size=(batch, length)).astype(np.float32),
      'is_first': np.zeros((batch, length), bool),
      'is_terminal': np.zeros((batch, length), bool),
  }
  data['is_first'][:, 0] = True
  return data
