"""Wrappers shared by every environment. Plain numpy and gymnasium: no TensorFlow, no MuJoCo.

The env API (upstream DreamerV2 style) that every wrapper takes and gives:
  env.obs_space  {'image': Box(H, W, 3) uint8, 'reward': Box(()) float32,
                  'is_first' | 'is_last' | 'is_terminal': Box(()) bool}
  env.act_space  {'action': Box}; discrete actions are one-hot vectors in a OneHot space
  env.reset() -> obs,  env.step({'action': array}) -> obs,  env.close()
is_last ends every episode; is_terminal only those that end for good (no value to bootstrap), so a
time limit sets is_last without is_terminal. After an obs with is_last the caller calls reset().
"""

import gymnasium
import numpy as np


class OneHot(gymnasium.spaces.Box):
  """Box(0, 1, (n,), float32) of one-hot vectors: the action space of a discrete env.

  The discrete flag is the class itself (`discrete = True`, see is_discrete), so it survives
  pickling to and from worker processes and needs no side channel; `n` is the number of actions.
  """

  discrete = True

  def __init__(self, n, seed=None):
    super().__init__(0.0, 1.0, (int(n),), np.float32, seed=seed)
    self.n = int(n)

  def sample(self, mask=None, probability=None):
    vector = np.zeros(self.shape, np.float32)
    vector[self.np_random.integers(self.n)] = 1.0
    return vector

  def contains(self, x):
    x = np.asarray(x)
    return x.shape == self.shape and bool(np.all((x == 0) | (x == 1))) and x.sum() == 1

  def __repr__(self):
    return f'OneHot({self.n})'


def is_discrete(space):
  """True for one-hot (OneHot) and gymnasium Discrete action spaces, False for continuous Boxes."""
  return isinstance(space, gymnasium.spaces.Discrete) or bool(getattr(space, 'discrete', False))


def obs_space(image_shape, **extra):
  """The standard observation space: an image, the reward and the three episode flags."""
  flag = gymnasium.spaces.Box(0, 1, (), bool)
  return {
      'image': gymnasium.spaces.Box(0, 255, tuple(image_shape), np.uint8),
      'reward': gymnasium.spaces.Box(-np.inf, np.inf, (), np.float32),
      'is_first': flag, 'is_last': flag, 'is_terminal': flag, **extra}


class Wrapper:
  """Forwards everything it does not override to the wrapped env."""

  def __init__(self, env):
    self.env = env

  def __getattr__(self, name):
    if name.startswith('__') or name == 'env':  # keeps pickle/copy probes off the inner env
      raise AttributeError(name)
    return getattr(self.env, name)

  def reset(self):
    return self.env.reset()

  def step(self, action):
    return self.env.step(action)

  def close(self):
    return self.env.close()


class ActionRepeat(Wrapper):
  """Repeats each action `repeat` times and sums the rewards, stopping early at is_last.

  DMC repeats inside its own step() instead, so that it renders once per agent step (a 64x64
  render costs ~15 ms on this CPU, a physics step ~0.1 ms); this wrapper serves every other env.
  """

  def __init__(self, env, repeat):
    super().__init__(env)
    if int(repeat) < 1:
      raise ValueError(f'action repeat must be >= 1, got {repeat}')
    self.repeat = int(repeat)

  def step(self, action):
    reward = 0.0
    for _ in range(self.repeat):
      obs = self.env.step(action)
      reward += float(obs['reward'])
      if obs['is_last']:
        break
    return {**obs, 'reward': np.float32(reward)}

  def frame_rate(self):
    return self.env.frame_rate() / self.repeat


class NormalizeAction(Wrapper):
  """The agent acts in [-1, 1]; each dimension with finite bounds is mapped affinely onto them."""

  def __init__(self, env, key='action'):
    super().__init__(env)
    self.key = key
    space = env.act_space[key]
    self._mask = np.isfinite(space.low) & np.isfinite(space.high)
    self._low = np.where(self._mask, space.low, -1.0)
    self._high = np.where(self._mask, space.high, 1.0)
    low = np.where(self._mask, -1.0, space.low).astype(np.float32)
    high = np.where(self._mask, 1.0, space.high).astype(np.float32)
    self.act_space = {**env.act_space,
                      key: gymnasium.spaces.Box(low, high, space.shape, np.float32)}

  def step(self, action):
    value = np.asarray(action[self.key])
    mapped = (value + 1) / 2 * (self._high - self._low) + self._low
    mapped = np.where(self._mask, mapped, value).astype(self.env.act_space[self.key].dtype)
    return self.env.step({**action, self.key: mapped})


class OneHotAction(Wrapper):
  """Turns a gymnasium Discrete action space into one-hot vectors (a OneHot space).

  The agent's categorical actor emits exact one-hot vectors, so anything else is a bug upstream and
  raises a ValueError rather than being silently rounded.
  """

  def __init__(self, env, key='action'):
    super().__init__(env)
    self.key = key
    space = env.act_space[key]
    if not isinstance(space, gymnasium.spaces.Discrete):
      raise ValueError(f'OneHotAction needs a Discrete action space, got {space}')
    self._start = int(space.start)
    self.act_space = {**env.act_space, key: OneHot(space.n)}

  def step(self, action):
    vector = np.asarray(action[self.key])
    if not self.act_space[self.key].contains(vector):
      raise ValueError(f'action {vector!r} is not a one-hot vector of shape '
                       f'{self.act_space[self.key].shape}')
    return self.env.step({**action, self.key: self._start + int(np.argmax(vector))})


class TimeLimit(Wrapper):
  """Ends episodes after `duration` agent steps with is_last (not is_terminal: it is a truncation).

  It also tracks the episode, so stepping before reset() or after is_last is an error rather than a
  silent auto-reset (dm_control starts a new episode when stepped past its end).
  """

  def __init__(self, env, duration):
    super().__init__(env)
    self.duration = int(duration) if duration else None  # None or 0: no limit of its own
    self._step = None

  def reset(self):
    self._step = 0
    return self.env.reset()

  def step(self, action):
    if self._step is None:
      raise RuntimeError('step() called before reset() or after an obs with is_last; call reset()')
    obs = self.env.step(action)
    self._step += 1
    if self.duration and self._step >= self.duration:
      obs = {**obs, 'is_last': True}
    if obs['is_last']:
      self._step = None
    return obs


class CheckAction(Wrapper):
  """The outermost wrapper: rejects malformed actions with a clear error before they reach the env.

  A missing key, a wrong shape or a non-finite value raises ValueError naming the action and the
  expected shape; a continuous action outside its bounds is clipped, as the actor's samples can
  land a rounding error past [-1, 1].
  """

  def __init__(self, env, key='action'):
    super().__init__(env)
    self.key = key

  def step(self, action):
    space = self.act_space[self.key]
    if not isinstance(action, dict) or self.key not in action:
      raise ValueError(f'step() takes a dict with key {self.key!r}, got {action!r}')
    try:
      value = np.asarray(action[self.key], dtype=space.dtype)
    except (TypeError, ValueError):
      raise ValueError(f'action {action[self.key]!r} is not numeric; '
                       f'expected shape {space.shape}') from None
    if value.shape != space.shape:
      raise ValueError(f'action {value!r} has shape {value.shape}; expected shape {space.shape}')
    if not np.all(np.isfinite(value)):
      raise ValueError(f'action {value!r} is not finite; expected shape {space.shape} '
                       'with finite values')
    if not is_discrete(space):
      value = np.clip(value, space.low, space.high)
    return self.env.step({**action, self.key: value})


class FromGymnasium:
  """Adapts a gymnasium env with image observations (a Box, or a Dict holding one under image_key).

  `terminated` gives is_terminal and is_last, `truncated` is_last only. Other Dict entries pass
  through as extra observation keys, and each info entry named in `log_keys` becomes the obs key
  log_<name> (a per-episode quantity that training logs). wrap() adds the standard wrappers
  (one-hot actions for Discrete).
  """

  def __init__(self, env, image_key=None, seed=None, log_keys=()):
    self.env = env
    self._log_keys = tuple(log_keys)
    space = env.observation_space
    if isinstance(space, gymnasium.spaces.Dict):
      self._key = image_key or 'image'
      if self._key not in space.spaces:
        raise ValueError(f'observation Dict has no image key {self._key!r}; '
                         f'keys: {", ".join(space.spaces)}')
      extra = {k: v for k, v in space.spaces.items() if k != self._key}
      image = space[self._key]
    else:
      self._key, extra, image = None, {}, space
    if not (isinstance(image, gymnasium.spaces.Box) and len(image.shape) == 3
            and image.dtype == np.uint8):
      raise ValueError(f'expected a uint8 image observation (H, W, C), got {image}')
    self.obs_space = obs_space(image.shape, **extra)
    self.act_space = {'action': env.action_space}
    self._seed = seed

  def _obs(self, obs, info, reward=0.0, is_first=False, is_last=False, is_terminal=False):
    obs = dict(obs) if self._key else {'image': obs}
    if self._key:
      obs['image'] = obs.pop(self._key)
    logs = {f'log_{key}': np.float32(info[key]) for key in self._log_keys}
    return {**obs, **logs, 'reward': np.float32(reward), 'is_first': is_first, 'is_last': is_last,
            'is_terminal': is_terminal}

  def reset(self):
    obs, info = self.env.reset(seed=self._seed)
    self._seed = None  # seed the first episode only; later ones continue the env's own RNG
    return self._obs(obs, info, is_first=True)

  def step(self, action):
    obs, reward, terminated, truncated, info = self.env.step(action['action'])
    return self._obs(obs, info, reward, False, bool(terminated or truncated), bool(terminated))

  def render(self, size=None):
    """The env's own picture of the scene (ShapeHerd: the whole arena); `size` is a hint."""
    return self.env.render()

  def frame_rate(self):
    """Env steps per simulated second (the gymnasium env's render_fps, else 30)."""
    return float(getattr(self.env, 'metadata', {}).get('render_fps') or 30)

  def close(self):
    self.env.close()


def wrap(env, repeat=1, time_limit=None):
  """The standard stack for any env with the API above: one-hot actions for Discrete, actions
  normalized to [-1, 1], action repeat, a time limit in agent steps, and action checks outermost."""
  if isinstance(env.act_space['action'], gymnasium.spaces.Discrete):
    env = OneHotAction(env)
  elif isinstance(env.act_space['action'], gymnasium.spaces.Box):
    env = NormalizeAction(env)
  if repeat > 1:
    env = ActionRepeat(env, repeat)
  env = TimeLimit(env, time_limit)
  return CheckAction(env)
