"""ShapeHerd task names for train.py (envs.make('shapeherd_sparse_distract2', config)): the grammar,
the parser, and the wrapped env. Light to import (no pymunk) so `import envs` can validate names."""

import re

GRAMMAR = ('shapeherd[_sparse][_distract<1-8>][_size<1.2|1.4|1.6>][_objects<1-9>]'
           '[_varobjects][_vargoal][_global]')
# (part as written in the grammar, regex, kwargs from the match); the order is the required order.
PARTS = (
    ('sparse', r'sparse', lambda m: {'sparse': True}),
    ('distract<n>', r'distract([1-8])', lambda m: {'num_distractors': int(m[1])}),
    ('size<s>', r'size(1\.2|1\.4|1\.6)', lambda m: {'arena_scale': float(m[1])}),
    ('objects<n>', r'objects([1-46-9])', lambda m: {'num_objects': int(m[1])}),  # 5 is the default
    ('varobjects', r'varobjects', lambda m: {'variable_num_objects': True}),
    ('vargoal', r'vargoal', lambda m: {'variable_goal_position': True}),
    ('global', r'global', lambda m: {'camera': 'global'}),
)
# Per-episode quantities of the env's info that training logs (train_scored, eval_first_score, ...).
LOG_KEYS = ('scored', 'first_score')


def parse_task(task):
  """'shapeherd_sparse_distract2_size1.4' -> ShapeHerd keyword arguments, or a one-line ValueError.

  Parts follow GRAMMAR's order, each at most once, and defaults are left out (no distract0,
  size1.0, objects5), so one configuration has one name for runs and plots."""
  parts = str(task).split('_')
  if parts[0] != 'shapeherd':
    raise ValueError(f'unknown task {task!r}; ShapeHerd tasks are named {GRAMMAR}')
  kwargs, position = {}, 0
  for part in parts[1:]:
    for index, (_, pattern, convert) in enumerate(PARTS):
      match = re.fullmatch(pattern, part)
      if match:
        break
    else:
      raise ValueError(f'unknown task {task!r}: bad part {part!r}; ShapeHerd tasks are named '
                       f'{GRAMMAR} (defaults left out: no distract0, size1.0, objects5)')
    if index < position:
      raise ValueError(f'unknown task {task!r}: part {part!r} is out of order or repeated; '
                       f'ShapeHerd tasks are named {GRAMMAR}, parts in that order')
    position = index + 1
    kwargs.update(convert(match))
  return kwargs


def build(kwargs, settings, seed):
  """The fully wrapped env for envs.make (module level, so functools.partial of it pickles)."""
  from envs import wrappers
  from envs.shapeherd import ShapeHerd
  env = ShapeHerd(**kwargs, image_size=tuple(settings['render_size']),
                  max_steps=settings['time_limit'] or None)
  repeat = settings['action_repeat']
  return wrappers.wrap(wrappers.FromGymnasium(env, seed=seed, log_keys=LOG_KEYS), repeat=repeat,
                       time_limit=settings['time_limit'] // repeat)
