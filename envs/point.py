"""PointReach: a small gymnasium env with an image and vector observations, for trying mlp_keys and
`--task gym_<id>` in seconds (tests, docs/running.md's own-env example). A point on a square floor
is pushed by the action (a force in [-1, 1]^2); reward -distance to a fixed goal each step.

  env = gymnasium.make('PointReach-v0')   # after `import envs`
  obs, info = env.reset(seed=0)           # {'image': (64, 64, 3) uint8, 'position': (2,),
                                          #  'velocity': (2,)}
"""

import gymnasium
import numpy as np

SIZE, GOAL, DT, DAMPING = 64, np.array([0.5, -0.5]), 0.1, 0.9


class PointReach(gymnasium.Env):
  metadata = {'render_modes': ['rgb_array'], 'render_fps': 10}

  def __init__(self, max_steps=100, render_mode='rgb_array'):
    vector = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    self.observation_space = gymnasium.spaces.Dict({
        'image': gymnasium.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8),
        'position': vector, 'velocity': gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)})
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    self.max_steps, self.render_mode = max_steps, render_mode

  def _draw(self):
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for point, colour in ((GOAL, (0, 200, 0)), (self._position, (255, 255, 255))):
      col, row = ((point + 1) / 2 * (SIZE - 1)).round().astype(int)
      image[max(row - 2, 0):row + 3, max(col - 2, 0):col + 3] = colour
    return image

  def _obs(self):
    return {'image': self._draw(), 'position': self._position.astype(np.float32),
            'velocity': self._velocity.astype(np.float32)}

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self._position = self.np_random.uniform(-0.9, 0.9, 2)
    self._velocity, self._t = np.zeros(2), 0
    return self._obs(), {}

  def step(self, action):
    action = np.clip(np.asarray(action, np.float64), -1, 1)
    self._velocity = DAMPING * self._velocity + DT * action
    self._position = np.clip(self._position + DT * self._velocity, -1, 1)
    self._t += 1
    reward = -float(np.linalg.norm(self._position - GOAL))
    return self._obs(), reward, False, self._t >= self.max_steps, {}

  def render(self):
    return self._draw()
