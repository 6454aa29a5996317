"""The Driver: which action a transition carries, episode hand-off and step counting."""

import numpy as np

from common.driver import Driver


class Counter:
  """Observation image = step index; episode of `length` steps; reward = the action's value."""

  def __init__(self, length):
    self.length, self.t = length, 0

  def _obs(self, reward, first):
    return {'image': np.full((2, 2, 3), self.t, np.uint8), 'reward': np.float32(reward),
            'is_first': first, 'is_last': self.t >= self.length, 'is_terminal': False}

  def reset(self):
    self.t = 0
    return self._obs(0.0, True)

  def step(self, action):
    self.t += 1
    return self._obs(float(action['action'][0]), False)


def test_transitions_carry_the_action_that_led_to_them():
  steps, episodes, calls = [], [], []
  driver = Driver([Counter(3), Counter(5)], 1, on_step=[lambda t, w: steps.append((w, t))],
                  on_episode=[lambda e, w: episodes.append((w, e))])

  def policy(obs, state):
    calls.append(obs['image'][:, 0, 0, 0].copy())
    count = 0 if state is None else state
    return np.full((2, 1), count + 1, np.float32), count + 1

  done = driver(policy, steps=12)
  assert done == (12, 3)          # 6 steps per env: env 0 finished two episodes, env 1 one
  first = [t for w, t in steps if w == 0][:4]
  assert first[0]['is_first'] and first[0]['action'][0] == 0.0       # reset: a zero action
  assert [t['action'][0] for t in first[1:]] == [1.0, 2.0, 3.0]      # the action that led here
  assert [t['reward'] for t in first[1:]] == [1.0, 2.0, 3.0]
  worker, episode = episodes[0]
  assert worker == 0 and len(episode['reward']) == 4 and episode['is_last'][-1]
  np.testing.assert_array_equal(episode['image'][:, 0, 0, 0], [0, 1, 2, 3])
  # After env 0's episode ended, the policy sees its reset observation next.
  assert calls[3][0] == 0 and calls[3][1] == 3


def test_reset_forgets_ongoing_episodes():
  episodes = []
  driver = Driver([Counter(4)], 1, on_episode=[lambda e, w: episodes.append(e)])
  policy = lambda obs, state: (np.zeros((1, 1), np.float32), state)
  driver(policy, steps=2)
  driver.reset()
  driver(policy, episodes=1)
  assert len(episodes) == 1 and len(episodes[0]['reward']) == 5
