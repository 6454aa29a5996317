"""ShapeHerd (Section 5.1 of the paper): push shapes into a goal pocket, seeing a small window
around the agent. A gymnasium env on pymunk physics, drawn with Pillow; no pygame, no display.

  env = ShapeHerd()                      # the paper's version; gymnasium.make('ShapeHerd-v0') too
  obs, info = env.reset(seed=0)          # (64, 64, 3) uint8: the agent-centric view
  obs, reward, terminated, truncated, info = env.step(np.array([angle, magnitude], np.float32))
  frame = env.render()                   # the whole arena, 400 px wide, the agent's window outlined

Beside it: envs/shapeherd_tasks.py (task names such as shapeherd_sparse_distract2 -> options, and
the wrapped env for envs.make) and envs/shapeherd_demo.py (a scripted policy and a GIF writer:
python -m envs.shapeherd_demo --out /tmp/shapeherd.gif --policy scripted).

Numbers come from ../shared/specs/shapeherd.md: [P] the paper, [B] the public BringBackShapes code,
[Rec] the spec's choice where they differ. Units are arena units (pixels of the unscaled full-arena
drawing of [B]); y points down, as in an image. The action, in [-1, 1]^2, maps affinely to a force
angle in [0, 2 pi) and magnitude in [0, MAX_FORCE], applied at the agent's centre for one env step.

Reward (Eq. 9 [P]): every object scored at env step t (t = env steps completed before the scoring
step, so 0 in the first step after reset) gives 1 + max(0, 1.5 - t / 1000), or 1 with `sparse`.
`terminated` when every object is scored; `truncated` after exactly `max_steps` (3000 [P]) env
steps.

`info` holds t (env steps since reset), scored, remaining and first_score (env steps until the first
object scored; until now while none has): training logs scored and first_score per episode.

For tests and scripted demos: env.state() is a snapshot of every body in play, and
env._place(agent, objects, ...) rebuilds the arena with bodies where the caller puts them.
"""

import math

import gymnasium
import numpy as np
import pymunk
from PIL import Image, ImageDraw

# --- Arena [B]; every size below is in arena units.
ARENA_WIDTH, ARENA_HEIGHT = 800, 700    # [B] at arena_scale 1.0
WALL = 125                              # [B] wall thickness on every side, whatever the scale
WALL_ELASTICITY, WALL_FRICTION = 0.7, 1.0   # [P][B] elasticity; [B] friction
GOAL_WIDTH = 100                        # [B] the pocket in the right wall
GOAL_HEIGHT_FRACTION = 0.5              # [B] of the playable height
SCORE_DEPTH = 5                         # [B] scored when the centre is 5 units into the pocket
GOAL_BOUNCE = 0.3                       # [B] agent and distractors: velocity reversed and scaled
# --- Physics
DT = 1 / 60                             # [B] seconds of simulation per env step
DAMPING = 0.7                           # [B] pymunk damping: [P]'s "0.3" = 30% of velocity lost
                                        # per second
SOFT_SPEED, SLOWDOWN = 800, 0.99        # [B] objects above 800 units/s lose 1% a step; the agent
                                        # is never capped
MAX_FORCE = 400 * 100                   # [B]'s 400 applied 100 times per step, written as one
                                        # force [Rec]
MOMENT = 1e6                            # [B] "rotation suppressed"
# --- Bodies
AGENT_RADIUS, AGENT_FRICTION, AGENT_ELASTICITY = 15, 0.5, 1.0   # [B]; elasticity [P][Rec]
# [B] declares mass 10, then sets the shape's density to 0.1, and pymunk recomputes the body from
# it: the agent it simulates has mass pi r^2 0.1 = 70.7, 3.5x an object's, so it pushes them
# [Rec].
AGENT_DENSITY = 0.1
AGENT_MASS = math.pi * AGENT_RADIUS ** 2 * AGENT_DENSITY
AGENT_COLOR = (70, 130, 180)            # [B] steel blue
OBJECT_MASS, OBJECT_FRICTION, OBJECT_ELASTICITY = 20, 0.5, 1.0  # [B]; elasticity [P][B]
NUM_OBJECTS = 5                         # [P][B]
OBJECT_X_FRACTION = 0.7                 # [B] objects start in the left 70% of the playable width
# [B]'s vertices; we centre each on its centroid so that the body's position is the shape's centre.
SHAPES = {
    'triangle': [(0, 0), (50, 0), (25, 25)],
    'square': [(0, 0), (50, 0), (50, 50), (0, 50)],
    'rectangle': [(0, 0), (50, 0), (50, 25), (0, 25)],
    'pentagon': [(5, -17), (-19, 0), (-10, 28), (19, 28), (28, 0)],
    'hexagon': [(17, -14), (-8, -14), (-20, 7), (-8, 29), (17, 29), (30, 8)],
}
COLORS = {'orange': (255, 165, 0), 'blue': (0, 0, 255), 'green': (0, 255, 0), 'red': (255, 0, 0),
          'purple': (160, 32, 240)}    # [B]; shape and colour each uniform over 5 [P]
DISTRACTOR_VERTICES = [(-30, 0), (0, 15), (10, 0), (0, -15)]  # [B] a kite
DISTRACTOR_MASS, DISTRACTOR_FRICTION = 10, 0.5   # [B]
DISTRACTOR_ELASTICITY = 1.0             # [B] leaves pymunk's 0; we match the agent (spec silent)
DISTRACTOR_COLOR = (188, 143, 143)      # [B] rosy brown
DISTRACTOR_FORCE_SCALE = 0.2            # [B] relative to the agent's maximum
DISTRACTOR_HOLD = (2, 9)                # [B] env steps each random force is held (inclusive)
# --- Drawing and episode
VIEW_HALF = 125                         # [B] agent_view_size: the window is 250 x 250 units
WALL_COLOR = (149, 165, 166)            # [B] pymunk's debug-draw colour for static shapes
FLOOR_COLOR = (0, 0, 0)                 # [B] black background
GOAL_COLOR = (0, 130, 65)               # [B]
SUPERSAMPLE = 4                         # the view is drawn at 4x and box-filtered: [B]
                                        # area-resizes 250 px
TIME_LIMIT = 3000                       # [P] env steps; [B] has an off-by-one (3001), [Rec]
                                        # exactly 3000
PLACEMENT_MARGIN = 2                    # units of free space between bodies placed at reset [Rec]
PLACEMENT_TRIES = 10000

SHAPE_NAMES, COLOR_NAMES = tuple(SHAPES), tuple(COLORS)


def _centred(vertices):
  """Vertices moved so that the polygon's centroid (of its area) is the origin."""
  v = np.asarray(vertices, np.float64)
  x, y = v[:, 0], v[:, 1]
  cross = x * np.roll(y, -1) - np.roll(x, -1) * y
  area = cross.sum() / 2
  cx = ((x + np.roll(x, -1)) * cross).sum() / (6 * area)
  cy = ((y + np.roll(y, -1)) * cross).sum() / (6 * area)
  return tuple((float(a - cx), float(b - cy)) for a, b in v)


CENTRED_SHAPES = {name: _centred(vertices) for name, vertices in SHAPES.items()}
BOUND_RADIUS = {name: max(math.hypot(*v) for v in vs) for name, vs in CENTRED_SHAPES.items()}
DISTRACTOR_RADIUS = max(math.hypot(*v) for v in DISTRACTOR_VERTICES)  # 30; the body is at (0, 0)


def reward_for(t, sparse=False):
  """Eq. 9 [P]: the reward for one object scored at env step t (0 in the first step after reset)."""
  return 1.0 if sparse else 1.0 + max(0.0, 1.5 - t / 1000)


class _Body:
  """A dynamic body in play, with what drawing it needs."""

  __slots__ = ('body', 'shape', 'vertices', 'color', 'radius', 'kind', 'name', 'color_name')

  def __init__(self, body, shape, vertices, color, radius, kind, name='', color_name=''):
    self.body, self.shape, self.vertices, self.color = body, shape, vertices, color
    self.radius, self.kind, self.name, self.color_name = radius, kind, name, color_name


class ShapeHerd(gymnasium.Env):
  """The ShapeHerd environment: the paper's version by default (see the module docstring).

  Options beyond the paper: arena_scale (1.0; [B] uses 1.2, 1.4, 1.6 for bigger arenas and the same
  window), num_objects (5), variable_num_objects (1..num_objects per episode [B]), num_distractors
  (0; random-walking kites that never score [B]), variable_goal_position (the pocket's height is
  sampled at reset [B]), sparse (+1 per object, no time bonus), camera ('agent', or 'global': the
  whole arena squeezed into the observation), image_size ((64, 64): the observation's (height,
  width)) and max_steps (3000 env steps; None: no limit of its own).

  One numpy Generator (gymnasium's self.np_random, seeded by reset(seed=...)) drives every random
  choice, and the pymunk space is built fresh at each reset in a fixed order, so a seed and a
  sequence of actions give the same observations, rewards and physics bit for bit.
  """

  metadata = {'render_modes': ['rgb_array'], 'render_fps': round(1 / DT)}

  def __init__(self, arena_scale=1.0, num_objects=NUM_OBJECTS, num_distractors=0,
               variable_goal_position=False, variable_num_objects=False, sparse=False,
               camera='agent', image_size=(64, 64), max_steps=TIME_LIMIT, render_mode='rgb_array',
               render_width=400):
    if not (isinstance(arena_scale, (int, float)) and 1.0 <= arena_scale <= 4.0):
      raise ValueError(f'arena_scale must be a number in [1, 4], got {arena_scale!r}')
    if not (isinstance(num_objects, (int, np.integer)) and num_objects >= 1):
      raise ValueError(f'num_objects must be an int >= 1, got {num_objects!r}')
    if not (isinstance(num_distractors, (int, np.integer)) and num_distractors >= 0):
      raise ValueError(f'num_distractors must be an int >= 0, got {num_distractors!r}')
    if camera not in ('agent', 'global'):
      raise ValueError(f"camera must be 'agent' or 'global', got {camera!r}")
    if render_mode not in (None, 'rgb_array'):
      raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
    self.arena_scale = float(arena_scale)
    self.num_objects, self.num_distractors = int(num_objects), int(num_distractors)
    self.variable_goal_position = bool(variable_goal_position)
    self.variable_num_objects = bool(variable_num_objects)
    self.sparse, self.camera, self.render_mode = bool(sparse), camera, render_mode
    self.max_steps = int(max_steps) if max_steps else None
    self.image_size = (int(image_size[0]), int(image_size[1]))  # (height, width)
    # round(), not [B]'s int(): 700 * 1.4 is 979.999... in floating point
    self.width = int(round(ARENA_WIDTH * self.arena_scale))
    self.height = int(round(ARENA_HEIGHT * self.arena_scale))
    self.goal_x = self.width - WALL - GOAL_WIDTH
    self.goal_height = GOAL_HEIGHT_FRACTION * (self.height - 2 * WALL)
    self.goal_y = (self.height - self.goal_height) / 2  # top of the pocket; sampled with vargoal
    self.render_size = (int(round(render_width * self.height / self.width)), int(render_width))
    self.observation_space = gymnasium.spaces.Box(0, 255, self.image_size + (3,), np.uint8)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    self._space = None
    self._done = True
    self._t = 0           # env steps since reset
    self._scored = 0      # objects scored this episode
    self._first_score = None  # env steps until the first object scored, once one has
    self._drawn = []      # kinds and names of the bodies drawn in the last observation (tests)

  # ------------------------------------------------------------------------------------------
  # gymnasium API

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self._build(self._sample_layout())
    return self._observe(), self._info()

  def step(self, action):
    if self._done:
      raise RuntimeError('step() called before reset() or after the episode ended; call reset()')
    a0, a1 = self._check_action(action)
    angle = (a0 + 1.0) * math.pi                  # [-1, 1] -> [0, 2 pi] (2 pi is the same as 0)
    magnitude = (a1 + 1.0) * 0.5 * MAX_FORCE      # [-1, 1] -> [0, MAX_FORCE]
    self._agent.body.force = (magnitude * math.cos(angle), magnitude * math.sin(angle))
    self._push_distractors()
    self._space.step(DT)
    self._after_step()
    scored = self._score()
    reward = scored * reward_for(self._t, self.sparse)
    self._t += 1
    terminated = not self._objects
    truncated = bool(not terminated and self.max_steps and self._t >= self.max_steps)
    self._done = terminated or truncated
    return self._observe(), float(reward), terminated, truncated, self._info()

  def render(self):
    """The whole arena, render_width (400) px wide, with the agent's window tinted and outlined."""
    if self._space is None:
      raise RuntimeError('render() before reset()')
    height, width = self.render_size
    frame = self._draw((0.0, 0.0, self.width, self.height), width, height, 2)
    x0, y0, w, h = self._agent_window()
    sx, sy = width / self.width, height / self.height
    c0, r0 = int(round(x0 * sx)), int(round(y0 * sy))
    c1, r1 = min(int(round((x0 + w) * sx)), width) - 1, min(int(round((y0 + h) * sy)), height) - 1
    box = frame[r0:r1 + 1, c0:c1 + 1].astype(np.float32)
    # [B] tint
    frame[r0:r1 + 1, c0:c1 + 1] = (box * (155 / 255) + 128 * (100 / 255)).astype(np.uint8)
    white = (255, 255, 255)
    frame[r0, c0:c1 + 1] = frame[r1, c0:c1 + 1] = white
    frame[r0:r1 + 1, c0] = frame[r0:r1 + 1, c1] = white
    return frame

  def close(self):
    self._space = None

  # ------------------------------------------------------------------------------------------
  # State: inspection and scripted placement (tests, demos, the scripted policy)

  def state(self):
    """A snapshot of the episode: step count, score, goal and every body still in play."""
    def entry(b):
      return {'position': tuple(b.body.position), 'velocity': tuple(b.body.velocity),
              'angle': b.body.angle, 'shape': b.name, 'color': b.color_name}
    return {'t': self._t, 'scored': self._scored, 'remaining': len(self._objects),
            'goal': (self.goal_x, self.goal_y, self.goal_y + self.goal_height),
            'agent': entry(self._agent), 'objects': [entry(b) for b in self._objects],
            'distractors': [entry(b) for b in self._distractors]}

  def _place(self, agent, objects=(), distractors=(), goal_y=None, agent_velocity=(0.0, 0.0),
             t=None):
    """Rebuilds the arena with bodies where the caller says and returns the new observation; for
    tests and scripted demos. agent: (x, y). objects: (shape, colour, (x, y)[, angle]) with names
    or indices. distractors: (x, y). goal_y: the pocket's top (default: as now). t: the step count
    (default: as now). The score is reset to 0 and the episode continues."""
    layout = {
        'goal_y': self.goal_y if goal_y is None else float(goal_y),
        'agent': tuple(map(float, agent)), 'agent_velocity': tuple(map(float, agent_velocity)),
        'objects': [(_index(SHAPE_NAMES, o[0]), _index(COLOR_NAMES, o[1]), tuple(map(float, o[2])),
                     float(o[3]) if len(o) > 3 else 0.0) for o in objects],
        'distractors': [tuple(map(float, d)) for d in distractors]}
    if not layout['objects']:
      raise ValueError('_place needs at least one object')
    self._build(layout)
    if t is not None:
      self._t = int(t)
    return self._observe()

  # ------------------------------------------------------------------------------------------
  # Building the arena

  def _sample_layout(self):
    """Every random choice of an episode, drawn from self.np_random in a fixed order: the number of
    objects, agent, objects (shape, colour, angle, then positions until one is free), distractors,
    goal. Overlaps (with bounding circles and a margin) are rejected and resampled [Rec]."""
    rng = self.np_random
    count = (int(rng.integers(1, self.num_objects + 1)) if self.variable_num_objects
             else self.num_objects)
    top, bottom, left, right = WALL, self.height - WALL, WALL, self.goal_x
    placed = []  # (x, y, radius)

    def free(x, y, radius):
      if x - radius < left or x + radius > right or y - radius < top or y + radius > bottom:
        return False
      return all((x - px) ** 2 + (y - py) ** 2 >= (radius + pr + PLACEMENT_MARGIN) ** 2
                 for px, py, pr in placed)

    def sample(draw, radius, what):
      for _ in range(PLACEMENT_TRIES):
        x, y = draw()
        if free(x, y, radius):
          placed.append((x, y, radius))
          return (float(x), float(y))
      raise RuntimeError(f'could not place {what} without overlaps in {PLACEMENT_TRIES} tries')

    r = AGENT_RADIUS
    agent = sample(lambda: (rng.uniform(left + r, right - r), rng.uniform(top + r, bottom - r)), r,
                   'the agent')
    objects = []
    object_width = OBJECT_X_FRACTION * (self.width - 2 * WALL)
    for i in range(count):
      shape, color = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
      angle = float(rng.uniform(0, 2 * math.pi))
      position = sample(lambda: (WALL + rng.uniform(0, object_width), rng.uniform(top, bottom)),
                        BOUND_RADIUS[SHAPE_NAMES[shape]], f'object {i}')
      objects.append((shape, color, position, angle))
    r = DISTRACTOR_RADIUS
    distractors = [sample(lambda: (rng.uniform(left + r, right - r),
                                   rng.uniform(top + r, bottom - r)),
                          r, f'distractor {i}') for i in range(self.num_distractors)]
    goal_y = (float(rng.uniform(top, bottom - self.goal_height)) if self.variable_goal_position
              else (self.height - self.goal_height) / 2)
    return {'goal_y': goal_y, 'agent': agent, 'agent_velocity': (0.0, 0.0), 'objects': objects,
            'distractors': distractors}

  def _build(self, layout):
    """A fresh pymunk space, filled in a fixed order: walls, agent, objects, distractors."""
    space = pymunk.Space()
    space.gravity = (0.0, 0.0)
    space.damping = DAMPING
    self.goal_y = layout['goal_y']
    w, h, gx, gy, gh = self.width, self.height, self.goal_x, self.goal_y, self.goal_height
    rects = [(0, 0, WALL, h), (0, 0, w, WALL), (w - WALL, 0, w, h), (0, h - WALL, w, h),
             # the strip around the pocket
             (gx, WALL, w - WALL, gy), (gx, gy + gh, w - WALL, h - WALL)]
    for x0, y0, x1, y1 in rects:
      if x1 - x0 > 1e-6 and y1 - y0 > 1e-6:
        wall = pymunk.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        wall.elasticity, wall.friction = WALL_ELASTICITY, WALL_FRICTION
        space.add(wall)

    body = pymunk.Body(AGENT_MASS, MOMENT)
    body.position, body.velocity = layout['agent'], layout['agent_velocity']
    shape = pymunk.Circle(body, AGENT_RADIUS)
    shape.elasticity, shape.friction = AGENT_ELASTICITY, AGENT_FRICTION
    space.add(body, shape)
    self._agent = _Body(body, shape, None, AGENT_COLOR, AGENT_RADIUS, 'agent', 'agent')

    self._objects = []
    for shape_index, color_index, position, angle in layout['objects']:
      name, color_name = SHAPE_NAMES[shape_index], COLOR_NAMES[color_index]
      body = pymunk.Body(OBJECT_MASS, MOMENT)
      body.position, body.angle = position, angle
      vertices = CENTRED_SHAPES[name]
      shape = pymunk.Poly(body, vertices)
      shape.elasticity, shape.friction = OBJECT_ELASTICITY, OBJECT_FRICTION
      space.add(body, shape)
      self._objects.append(_Body(body, shape, vertices, COLORS[color_name], BOUND_RADIUS[name],
                                 'object', name, color_name))

    self._distractors = []
    for position in layout['distractors']:
      body = pymunk.Body(DISTRACTOR_MASS, MOMENT)
      body.position = position
      shape = pymunk.Poly(body, DISTRACTOR_VERTICES)
      shape.elasticity, shape.friction = DISTRACTOR_ELASTICITY, DISTRACTOR_FRICTION
      space.add(body, shape)
      self._distractors.append(_Body(body, shape, tuple(DISTRACTOR_VERTICES), DISTRACTOR_COLOR,
                                     DISTRACTOR_RADIUS, 'distractor', 'kite'))
    self._distractor_force = [(0.0, 0.0)] * len(self._distractors)
    self._distractor_hold = [0] * len(self._distractors)

    self._space = space
    self._dynamic = [self._agent] + self._objects + self._distractors
    self._bouncers = [self._agent] + self._distractors  # kept out of the pocket
    self._t, self._scored, self._done, self._first_score = 0, 0, False, None

  # ------------------------------------------------------------------------------------------
  # Stepping

  def _check_action(self, action):
    try:
      value = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
      raise ValueError(f'action {action!r} is not numeric; expected shape (2,)') from None
    if value.shape != (2,):
      raise ValueError(f'action {action!r} has shape {value.shape}; expected shape (2,)')
    if not np.isfinite(value).all():
      raise ValueError(f'action {action!r} is not finite; expected 2 finite values in [-1, 1]')
    return min(max(float(value[0]), -1.0), 1.0), min(max(float(value[1]), -1.0), 1.0)

  def _push_distractors(self):
    """[B]: each distractor holds a random force (direction uniform, magnitude uniform up to 0.2
    of the agent's maximum) for 2 to 9 env steps, then draws a new one."""
    rng = self.np_random
    for i, distractor in enumerate(self._distractors):
      if self._distractor_hold[i] == 0:
        angle = rng.uniform(0, 2 * math.pi)
        magnitude = rng.uniform(0, 1) * DISTRACTOR_FORCE_SCALE * MAX_FORCE
        self._distractor_force[i] = (magnitude * math.cos(angle), magnitude * math.sin(angle))
        self._distractor_hold[i] = int(rng.integers(DISTRACTOR_HOLD[0], DISTRACTOR_HOLD[1] + 1))
      self._distractor_hold[i] -= 1
      distractor.body.force = self._distractor_force[i]

  def _after_step(self):
    """[B]'s soft slow-down of fast objects (distractors too: the spec is silent, they are bodies
    the agent hits like objects), and the pocket's bounce for the agent and distractors."""
    limit2 = SOFT_SPEED * SOFT_SPEED
    for b in self._objects + self._distractors:
      vx, vy = b.body.velocity
      if vx * vx + vy * vy > limit2:
        b.body.velocity = (vx * SLOWDOWN, vy * SLOWDOWN)
    for b in self._bouncers:
      right = b.shape.cache_bb().right
      if right > self.goal_x:  # [B]: back to the pocket's edge, velocity reversed and scaled by 0.3
        x, y = b.body.position
        b.body.position = (x - (right - self.goal_x), y)
        vx, vy = b.body.velocity
        b.body.velocity = (-GOAL_BOUNCE * vx, -GOAL_BOUNCE * vy)
        b.shape.cache_bb()

  def _score(self):
    """Removes the objects whose centre is SCORE_DEPTH units into the pocket; returns how many."""
    line, count = self.goal_x + SCORE_DEPTH, 0
    for b in [b for b in self._objects if b.body.position.x >= line]:
      self._space.remove(b.body, b.shape)
      self._objects.remove(b)
      self._dynamic.remove(b)
      count += 1
    self._scored += count
    if count and self._first_score is None:
      self._first_score = self._t + 1
    return count

  def _info(self):
    first = self._t if self._first_score is None else self._first_score
    return {'t': self._t, 'scored': self._scored, 'remaining': len(self._objects),
            'first_score': first}

  # ------------------------------------------------------------------------------------------
  # Drawing

  def _agent_window(self):
    """The agent's 250 x 250 window (x0, y0, w, h), shifted to stay inside the arena [B]."""
    x, y = self._agent.body.position
    side = 2 * VIEW_HALF
    return (min(max(x - VIEW_HALF, 0.0), self.width - side),
            min(max(y - VIEW_HALF, 0.0), self.height - side), side, side)

  def _observe(self):
    window = ((0.0, 0.0, self.width, self.height) if self.camera == 'global'
              else self._agent_window())
    return self._draw(window, self.image_size[1], self.image_size[0], SUPERSAMPLE)

  def _draw(self, window, out_width, out_height, supersample):
    """Draws only what lies in `window` (x0, y0, w, h, arena units) straight into an image of
    out_width x out_height pixels (at `supersample` times that, then box-filtered): walls and floor
    as rectangles, then the visible objects, distractors and the agent; the rest is culled."""
    x0, y0, w, h = window
    width, height = out_width * supersample, out_height * supersample
    sx, sy = width / w, height / h
    image = Image.new('RGB', (width, height), WALL_COLOR)
    draw = ImageDraw.Draw(image)

    def rect(ax0, ay0, ax1, ay1, color):
      c0, r0 = round((ax0 - x0) * sx), round((ay0 - y0) * sy)
      c1, r1 = round((ax1 - x0) * sx), round((ay1 - y0) * sy)
      if c1 > max(c0, 0) and r1 > max(r0, 0) and c0 < width and r0 < height:
        draw.rectangle((c0, r0, c1 - 1, r1 - 1), fill=color)

    rect(WALL, WALL, self.goal_x, self.height - WALL, FLOOR_COLOR)
    rect(self.goal_x, self.goal_y, self.width - WALL, self.goal_y + self.goal_height, GOAL_COLOR)
    drawn = []
    x1, y1 = x0 + w, y0 + h
    for b in self._objects + self._distractors:
      px, py = b.body.position
      r = b.radius
      if px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1:
        continue  # culled: entirely outside the window
      c, s = math.cos(b.body.angle), math.sin(b.body.angle)
      ox, oy = px - x0, py - y0
      draw.polygon([((ox + vx * c - vy * s) * sx, (oy + vx * s + vy * c) * sy)
                    for vx, vy in b.vertices],
                   fill=b.color)
      drawn.append((b.kind, b.name, b.color_name))
    px, py = self._agent.body.position
    r = AGENT_RADIUS
    if not (px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1):
      cx, cy = (px - x0) * sx, (py - y0) * sy
      draw.ellipse((cx - r * sx, cy - r * sy, cx + r * sx, cy + r * sy), fill=AGENT_COLOR)
      drawn.append(('agent', 'agent', ''))
    self._drawn = drawn
    if supersample > 1:
      image = image.reduce(supersample)
    return np.array(image)


def _index(names, value):
  if isinstance(value, str):
    if value not in names:
      raise ValueError(f'unknown name {value!r}; expected one of {", ".join(names)}')
    return names.index(value)
  return int(value)
