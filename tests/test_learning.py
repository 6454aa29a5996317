"""The whole learning loop on a task whose answer is known: the agent must find the rewarded action.

A one-step bandit seen through a constant image, reward = -action: the world model has to learn that
the reward depends on the action, and the actor, through dynamics backpropagation, must push its
action towards -1. A sign or alignment error anywhere (replay, action indexing, reward head, lambda
returns, actor loss) sends it the wrong way or nowhere.
"""

import gymnasium
import numpy as np
import pytest

import envs
from dreamerv2_vsg.loop import Loop
from tests.conftest import make_config

pytestmark = pytest.mark.slow  # whole runs in child processes (pytest.ini)


class Bandit(gymnasium.Env):
  observation_space = gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
  action_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)

  def reset(self, seed=None, options=None):
    self.steps = 0
    return np.full((64, 64, 3), 128, np.uint8), {}

  def step(self, action):
    self.steps += 1
    return np.full((64, 64, 3), 128, np.uint8), -float(action[0]), False, self.steps >= 50, {}


def test_agent_learns_the_rewarded_action(tmp_path):
  # The training loop of train.py on the bandit: 500 random steps, then one update every 5 agent
  # steps (300 updates), then the final evaluation with the policy's mode.
  config = make_config('dmc', 'vsg', imag_horizon=15, logdir=tmp_path, action_repeat=1, prefill=500,
                       pretrain=0, train_every=5, steps=2000, eval_every=10000, log_every=10000,
                       checkpoint_every=10000)
  make_envs = lambda mode: [envs.wrap(envs.FromGymnasium(Bandit()), repeat=1)]
  with Loop(config, make_envs) as loop:
    loop.run()
    actions = loop.evaluate()[0]['action'][1:]      # entry 0 is the reset's zero action
  assert loop.step == 2000 and len(actions) == 50
  assert np.mean(actions) < -0.5, np.mean(actions)
