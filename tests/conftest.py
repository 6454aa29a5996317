"""Shared fixtures: tiny configs and synthetic batches."""

import multiprocessing

import pytest

from common import config as configlib
from common.synthetic import random_batch

METHODS = ['dreamerv1', 'dreamerv2', 'vsg', 'vsg_gaussian', 'svsg']


def make_config(*names, **flags):
  """`debug`-sized config of the named configs, with flags given as keyword arguments
  (dots as double underscores: rssm__deter=8)."""
  argv = ['--configs', *names, 'debug']
  for key, value in flags.items():
    argv += [f"--{key.replace('__', '.')}", str(value)]
  return configlib.parse(argv)


@pytest.fixture
def batch():
  return random_batch()


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
