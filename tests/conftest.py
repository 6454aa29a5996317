"""Shared fixtures: tiny configs and synthetic batches."""

import multiprocessing

import numpy as np
import pytest

from common import config as configlib

METHODS = ['dreamerv1', 'dreamerv2', 'vsg', 'vsg_gaussian', 'svsg']


def make_config(*names, **flags):
  """`debug`-sized config of the named configs, with flags given as keyword arguments
  (dots as double underscores: rssm__deter=8)."""
  argv = ['--configs', *names, 'debug']
  for key, value in flags.items():
    argv += [f"--{key.replace('__', '.')}", str(value)]
  return configlib.parse(argv)


def make_batch(batch=2, length=5, action_dim=3, seed=0, image_shape=(64, 64, 3)):
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


@pytest.fixture
def batch():
  return make_batch()


def assert_bad_task(task, config, message):
  """envs.make fails at once with a one-line ValueError starting with `message`, starting no
  worker; returns the message for further checks."""
  import envs
  before = len(multiprocessing.active_children())
  with pytest.raises(ValueError) as info:
    envs.make(task, config)
  text = str(info.value)
  assert text.startswith(message) and '\n' not in text, text
  assert len(multiprocessing.active_children()) == before  # no worker was started
  return text
