"""Any registered gymnasium env as a task: `gym_<id>` builds FromGymnasium(gymnasium.make(id)) with
the usual wrappers, in a worker process like every env.

  python train.py --configs dmc vsg debug --task gym_ShapeHerd-v0
  python train.py --configs dmc vsg --task gym_mypackage:MyEnv-v0 --mlp_keys 'position|velocity'

`gym_<module>:<id>` imports <module> first (gymnasium's own syntax), so an env that registers
itself on import needs no change here. Observations: an image (a uint8 (H, W, 3) Box), or a Dict
holding one under `image` (its other entries become observation keys, which --mlp_keys encodes);
an env without an image observation is rendered (render_mode='rgb_array') and its own observation
kept under `state`. Images are resized to render_size when they differ.
"""

import importlib

import gymnasium
import numpy as np

from envs import wrappers

GRAMMAR = ('gym_<gymnasium id> (a registered env, e.g. gym_ShapeHerd-v0 or gym_PointReach-v0; '
           'gym_<module>:<id> imports <module> first)')
PREFIX = 'gym_'


def parse_task(task):
  env_id = str(task)[len(PREFIX):] if str(task).startswith(PREFIX) else ''
  if not env_id:
    raise ValueError(f'unknown task {task!r}; expected {GRAMMAR}')
  try:
    module, _, name = env_id.rpartition(':')
    if module:
      importlib.import_module(module)   # as gymnasium.make does with `module:id`
    gymnasium.spec(name)
  except (gymnasium.error.Error, ModuleNotFoundError, ImportError) as error:
    names = [name for name in gymnasium.registry if name.lower().startswith(env_id[:3].lower())]
    hint = f'; registered ids like it: {", ".join(sorted(names)[:8])}' if names else ''
    raise ValueError(f'unknown task {task!r}: gymnasium has no env {env_id!r} '
                     f'({str(error).splitlines()[0]}){hint}') from None
  return {'id': env_id}


def is_image(space):
  return (isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 3
          and space.shape[-1] == 3 and space.dtype == np.uint8)


class Pixels(gymnasium.ObservationWrapper):
  """A Dict observation with `image` at `size` (H, W): the env's own image, or its rendering (the
  env's observation then kept under `state`)."""

  def __init__(self, env, size):
    super().__init__(env)
    space, self._size = env.observation_space, tuple(size)
    image = gymnasium.spaces.Box(0, 255, self._size + (3,), np.uint8)
    if (isinstance(space, gymnasium.spaces.Dict) and 'image' in space.spaces
        and is_image(space['image'])):
      self._mode = 'dict'
      self.observation_space = gymnasium.spaces.Dict({**space.spaces, 'image': image})
    elif is_image(space):
      self._mode = 'image'
      self.observation_space = gymnasium.spaces.Dict({'image': image})
    else:
      self._mode = 'render'
      extra = {'state': space} if isinstance(space, gymnasium.spaces.Box) else {}
      self.observation_space = gymnasium.spaces.Dict({'image': image, **extra})

  def _resize(self, frame):
    frame = np.asarray(frame, np.uint8)
    if frame.shape[:2] == self._size:
      return frame
    from PIL import Image
    return np.asarray(Image.fromarray(frame).resize(self._size[::-1], Image.BILINEAR))

  def observation(self, obs):
    if self._mode == 'dict':
      return {**obs, 'image': self._resize(obs['image'])}
    if self._mode == 'image':
      return {'image': self._resize(obs)}
    extra = ({'state': np.asarray(obs, np.float32)} if 'state' in self.observation_space.spaces
             else {})
    return {'image': self._resize(self.env.render()), **extra}


def build(spec, settings, seed):
  """The fully wrapped env for envs.make (module level, so functools.partial of it pickles)."""
  import envs  # noqa: F401  registers the project's own ids (ShapeHerd-v0, PointReach-v0)
  env = gymnasium.make(spec['id'])
  observation = env.observation_space
  if not (is_image(observation) or isinstance(observation, gymnasium.spaces.Dict)
          and 'image' in observation.spaces):
    env.close()
    env = gymnasium.make(spec['id'], render_mode='rgb_array')   # pixels from its rendering
  env = Pixels(env, settings['render_size'])
  repeat = settings['action_repeat']
  return wrappers.wrap(wrappers.FromGymnasium(env, 'image', seed=seed), repeat=repeat,
                       time_limit=settings['time_limit'] // repeat)
