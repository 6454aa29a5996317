"""Checkpoints: round trip of networks, optimizer state and counters; clear errors on mismatch."""

import gymnasium
import numpy as np
import pytest

from common import checkpoint
from common import rundir
from common import tfutils
from common.synthetic import random_batch
from dreamerv2_vsg.agent import Agent
from tests.conftest import make_config
from tests.helpers import ROOT

# Debug runs (dmc_cartpole_balance, 400 env steps) written by commit 2a7da61, before the dynamics
# moved into common/dynamics.py: their checkpoints must load into today's networks by name.
WRITTEN_BEFORE = ROOT / 'tests' / 'data' / 'written_before_dynamics_py'


def _agent(method='dreamerv2', **flags):
  obs_space = {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
  act_space = {'action': gymnasium.spaces.Box(-1, 1, (2,), np.float32)}
  agent = Agent(make_config(method, **flags), obs_space, act_space)
  agent.build()
  return agent


def test_round_trip_restores_networks_optimizers_and_counters(tmp_path):
  agent = _agent()
  data = random_batch(batch=4, length=10, action_dim=2)
  agent.train(data)
  path = checkpoint.save(tmp_path / 'checkpoint.npz', agent.checkpoint_variables, step=1234)
  assert [p.name for p in tmp_path.iterdir()] == ['checkpoint.npz']      # no temporary left
  saved = [v.numpy().copy() for v in agent.checkpoint_variables]
  fresh = _agent()
  extra = checkpoint.load(path, fresh.checkpoint_variables)
  assert extra == {'step': 1234}
  for var, value in zip(fresh.checkpoint_variables, saved):
    np.testing.assert_array_equal(var.numpy(), value)
  # Among them the optimizers' moments and step counts, and the slow-critic update counter.
  assert int(fresh.wm.opt._opt.iterations.numpy()) == 1
  assert int(fresh.behavior.updates.numpy()) == 1
  moments = [v for v in fresh.wm.opt.variables if np.any(v.numpy()) and v.shape.rank]
  assert moments, 'the Adam moments were not restored'
  fresh.train(data)   # and the restored agent trains on
  assert int(fresh.wm.opt._opt.iterations.numpy()) == 2


def test_mismatched_config_is_a_clear_error(tmp_path):
  path = checkpoint.save(tmp_path / 'c.npz', _agent().checkpoint_variables)
  other = _agent(rssm__deter=16)
  before = [v.numpy().copy() for v in other.checkpoint_variables]
  with pytest.raises(checkpoint.CheckpointError, match='has shape .* the model expects'):
    checkpoint.load(path, other.checkpoint_variables)
  for var, value in zip(other.checkpoint_variables, before):   # nothing half-assigned
    np.testing.assert_array_equal(var.numpy(), value)
  with pytest.raises(checkpoint.CheckpointError, match='holds .* variables, the model has'):
    checkpoint.load(path, _agent('vsg').checkpoint_variables)


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
  path = tmp_path / 'c.npz'
  path.write_bytes(b'not a zip')
  with pytest.raises(checkpoint.CheckpointError, match='cannot be read'):
    checkpoint.load(path, [])


def test_loads_by_name_whatever_the_order_of_the_variables(tmp_path):
  """A checkpoint written before the model listed its variables in another order still restores
  each value to the variable of its name (runs survive a code update that reorders modules)."""
  agent = _agent()
  agent.train(random_batch(batch=4, length=10, action_dim=2))
  variables = agent.checkpoint_variables
  path = checkpoint.save(tmp_path / 'c.npz', variables[::-1])
  fresh = _agent()
  checkpoint.load(path, fresh.checkpoint_variables)
  for var, value in zip(fresh.checkpoint_variables, variables):
    np.testing.assert_array_equal(var.numpy(), value.numpy())


def test_missing_variables_are_named_and_a_truncated_file_is_a_clear_error(tmp_path):
  variables = _agent().checkpoint_variables
  path = checkpoint.save(tmp_path / 'c.npz', variables[:-2])
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'not in the checkpoint: '
                           r'critic/critic_out_bias_velocity, critic_updates'):
    checkpoint.load(path, variables)
  with np.load(path) as file:
    arrays = {key: file[key] for key in file.files if key != 'var00003'}
  np.savez(tmp_path / 'cut.npz', **arrays)
  with pytest.raises(checkpoint.CheckpointError, match="incomplete.*var00003"):
    checkpoint.load(tmp_path / 'cut.npz', variables[:-2])


@pytest.mark.parametrize('method', ['vsg', 'svsg'])
def test_a_checkpoint_written_before_the_dynamics_move_loads_by_name(method):
  run = WRITTEN_BEFORE / method
  config = rundir.load_config(run)
  obs_space = {'image': gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
  act_space = {'action': gymnasium.spaces.Box(-1, 1, (1,), np.float32)}
  agent = Agent(config, obs_space, act_space)
  agent.build()
  with np.load(run / 'checkpoint.npz') as file:
    saved = {str(name): file[f'var{i:05d}'] for i, name in enumerate(file['names'])}
  variables = {tfutils.var_name(var): var for var in agent.checkpoint_variables}
  assert sorted(saved) == sorted(variables)      # one to one, so loaded by name, not by order
  assert rundir.restore(agent.checkpoint_variables, run / 'checkpoint.npz', config) == 400
  for name, value in saved.items():
    np.testing.assert_array_equal(variables[name].numpy(), value, err_msg=name)
