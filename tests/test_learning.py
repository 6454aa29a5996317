"""The whole learning loop on a task whose answer is known: the agent must find the rewarded action.

A one-step bandit seen through a constant image, reward = -action: the world model has to learn that
the reward depends on the action, and the actor, through dynamics backpropagation, must push its
action towards -1. A sign or alignment error anywhere (replay, action indexing, reward head, lambda
returns, actor loss) sends it the wrong way or nowhere.
"""

import gymnasium
import numpy as np

import envs
from common.driver import Driver
from common.replay import Replay
from dreamerv2_vsg.agent import Agent, random_actions
from tests.conftest import make_config


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
  config = make_config('dmc', 'vsg', imag_horizon=15)
  env = envs.wrap(envs.FromGymnasium(Bandit()), repeat=1)
  replay = Replay(tmp_path, minlen=10, maxlen=10, seed=0)
  collect = Driver([env], 1, on_step=[replay.add_step])
  rng = np.random.default_rng(0)
  collect(lambda obs, state: (random_actions(1, 1, False, rng), None), steps=500)
  agent = Agent(config, env.obs_space, env.act_space)
  dataset = replay.dataset(config.dataset.batch, config.dataset.length)
  for _ in range(300):
    agent.train(next(dataset))
    collect(lambda obs, state: agent.policy(obs, state, mode='train'), steps=5)
  actions = []

  def evaluate(obs, state):
    action, state = agent.policy(obs, state, mode='eval')
    actions.append(float(action[0, 0]))
    return action, state

  Driver([env], 1)(evaluate, episodes=1)
  assert np.mean(actions) < -0.5, np.mean(actions)
