"""The own-env example of docs/running.md: `python train.py --configs dmc vsg cpu
--task gym_examples.dial:Dial-v0 --mlp_keys level`. Turn a dial to zero; it shows as a grey image
and as a number."""
import gymnasium, numpy as np
from gymnasium.spaces import Box, Dict


class Dial(gymnasium.Env):
  observation_space = Dict(image=Box(0, 255, (64, 64, 3), np.uint8),
                           level=Box(-1, 1, (1,), np.float32))
  action_space = Box(-1, 1, (1,), np.float32)

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self.level = self.np_random.uniform(-1, 1, (1,)).astype(np.float32)
    return self.obs(), {}

  def step(self, action):
    self.level = np.clip(self.level + 0.2 * action, -1, 1).astype(np.float32)
    return self.obs(), -abs(float(self.level[0])), False, False, {}

  def obs(self):
    return {'image': np.full((64, 64, 3), 127 * (1 + self.level[0]), np.uint8), 'level': self.level}


gymnasium.register('Dial-v0', entry_point='examples.dial:Dial', max_episode_steps=100)
