"""Episodes for the memory probe (issue 26): ShapeHerd from one fixed behaviour policy, with every
object's position and visibility stored beside the images. numpy and pymunk only (no TensorFlow).

  write_episodes(directory, episodes=60, seed=0)     # Replay-format .npz files, one per episode
  load_episodes(directory)                           # [{key: array}], oldest first

Each episode is the paper's ShapeHerd (5 objects, Eq. 9 reward, 3000 env steps) at action repeat 4,
so one entry per agent step, as the world model sees it. Two choices, both for the probe's sake:
- **Distinct colours.** The 5 objects of an episode take the 5 colours once each (shapes stay
  random), so "the red object" names one object in every episode and a linear probe can be fitted
  per object across episodes. Everything else is the env's own sampling.
- **Behaviour: the scripted policy with noise.** It reads the true state, goes to the nearest
  object and pushes it towards the pocket; with probability `random_prob` an agent step takes a
  uniform random action instead, and the other steps get Gaussian noise (`noise` std). A random
  policy would not do here: the heavy agent random-walks around its start, so most objects are
  never seen at all, and those seen are never left and revisited. The scripted agent crosses the
  arena from object to object, so objects leave the view, stay out of it for tens to hundreds of
  agent steps (moving only when something hits them) and come back into view.

Keys beside Replay's (`image`, `action`, `reward`, `is_first`, `is_last`, `is_terminal`), all per
entry (the reset entry first): `log_positions` (T, 5, 2) float32 arena units, NaN once the object
is scored; `log_visible` (T, 5) bool, the object's centre inside the agent's 250 x 250 window;
`log_agent` (T, 2). Objects are in colour order (envs.shapeherd.COLOR_NAMES).
"""

import pathlib

import numpy as np

from common import replay
from envs import shapeherd
from envs.shapeherd_demo import ScriptedPolicy

ACTION_REPEAT = 4                    # [P] ShapeHerd
NUM_OBJECTS = len(shapeherd.COLOR_NAMES)
LOG_KEYS = ('log_positions', 'log_visible', 'log_agent')


class DistinctColors(shapeherd.ShapeHerd):
  """ShapeHerd whose objects each have another colour (a permutation of the 5), so every object of
  an episode can be named by its colour."""

  def _sample_layout(self):
    layout = super()._sample_layout()
    colors = self.np_random.permutation(len(shapeherd.COLOR_NAMES))
    layout['objects'] = [(shape, int(colors[i]), position, angle)
                         for i, (shape, _, position, angle) in enumerate(layout['objects'])]
    return layout


def object_table(env):
  """(positions (K, 2) with NaN for scored objects, visible (K,) bool), objects in colour order."""
  positions = np.full((NUM_OBJECTS, 2), np.nan, np.float32)
  visible = np.zeros(NUM_OBJECTS, bool)
  x0, y0, w, h = env._agent_window()
  for obj in env.state()['objects']:
    k = shapeherd.COLOR_NAMES.index(obj['color'])
    x, y = obj['position']
    positions[k] = (x, y)
    visible[k] = x0 <= x <= x0 + w and y0 <= y <= y0 + h
  return positions, visible


class NoisyScripted:
  """The scripted policy with noise (see the module docstring)."""

  def __init__(self, rng, random_prob=0.2, noise=0.2):
    self.rng, self.random_prob, self.noise = rng, random_prob, noise
    self.scripted = ScriptedPolicy()

  def __call__(self, env):
    if self.rng.uniform() < self.random_prob:
      return self.rng.uniform(-1, 1, 2).astype(np.float32)
    action = self.scripted(env, self.rng) + self.rng.normal(0, self.noise, 2)
    return np.clip(action, -1, 1).astype(np.float32)


def run_episode(seed, random_prob=0.2, noise=0.2):
  """One episode as a list of Replay steps (dicts), the reset entry first."""
  env = DistinctColors()
  obs, _ = env.reset(seed=seed)
  policy = NoisyScripted(np.random.default_rng(seed), random_prob, noise)

  def entry(obs, action, reward, first, last, terminal):
    positions, visible = object_table(env)
    return {'image': obs, 'action': action, 'reward': np.float32(reward), 'is_first': first,
            'is_last': last, 'is_terminal': terminal, 'log_positions': positions,
            'log_visible': visible,
            'log_agent': np.asarray(env.state()['agent']['position'], np.float32)}

  steps = [entry(obs, np.zeros(2, np.float32), 0.0, True, False, False)]
  done = False
  while not done:
    action = policy(env)
    reward, terminated, truncated = 0.0, False, False
    for _ in range(ACTION_REPEAT):
      obs, r, terminated, truncated, _ = env.step(action)
      reward += r
      if terminated or truncated:
        break
    done = terminated or truncated
    steps.append(entry(obs, action, reward, False, done, terminated))
  return steps


def write_episodes(directory, episodes, seed=0, **policy):
  """Writes `episodes` episodes (seeds seed, seed + 1, ...) that `directory` does not hold yet;
  returns the number written. Each file is written atomically, so a killed call resumes."""
  store = replay.Replay(directory, capacity=1, minlen=1)   # loads one episode: counts them all
  have = store.stats['total_episodes']
  for index in range(have, episodes):
    for step in run_episode(seed + index, **policy):
      store.add_step(step)
  return max(0, episodes - have)


def load_episodes(directory):
  """Every readable episode in `directory` (Replay's files), oldest first, as dicts of arrays."""
  episodes = replay.newest_episodes(pathlib.Path(directory).expanduser(), None)
  if not episodes:
    raise FileNotFoundError(f'no episodes in {directory}: write them first')
  missing = [key for key in LOG_KEYS if key not in episodes[0]]
  if missing:
    raise ValueError(f'the episodes in {directory} have no {missing}: they are not memory-probe '
                     f'episodes (analysis/memory_data.py writes them)')
  return episodes
