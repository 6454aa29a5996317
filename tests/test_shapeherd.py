"""ShapeHerd (envs/shapeherd*.py): the spec's testable properties 1-8
(../shared/specs/shapeherd.md), driven by scripted states and actions (ShapeHerd._place) rather
than random luck, plus task names, envs.make, gymnasium registration, per-episode logs and the GIF
command line."""

import importlib
import math
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pymunk
import pytest
from PIL import Image

import envs
from envs import dmc
from envs import shapeherd
from envs import shapeherd_demo
from envs import shapeherd_tasks
from envs.shapeherd import ShapeHerd
from tests.conftest import assert_bad_task, make_config
from tests import helpers

ROOT = str(helpers.ROOT)
RIGHT = np.array([-1.0, 1.0], np.float32)  # angle 0 (+x), full force
IDLE = np.array([0.0, -1.0], np.float32)  # magnitude 0
RED = (255, 0, 0)


def count(image, color, tolerance=40):
  """Pixels of the image within `tolerance` of the colour in every channel."""
  return int((np.abs(image.astype(int) - color) <= tolerance).all(-1).sum())


def pocket_centre(env):
  return env.goal_x + shapeherd.GOAL_WIDTH / 2, env.goal_y + env.goal_height / 2


def inner(env):
  """The ShapeHerd inside the training wrapper stack."""
  while not isinstance(env, ShapeHerd):
    env = env.env
  return env


def shapeherd_config(**flags):
  return make_config('shapeherd', 'dreamerv2', **{'time_limit': 3000, **flags})


# 1. Spaces and reproducible resets.

def test_spaces_observation_and_render():
  env = ShapeHerd()
  assert env.observation_space == gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
  assert env.action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  obs, info = env.reset(seed=0)
  assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8 and env.observation_space.contains(obs)
  assert info == {'t': 0, 'scored': 0, 'remaining': 5, 'first_score': 0}
  # the agent (~8 px across) is always in its view
  assert count(obs, shapeherd.AGENT_COLOR, 10) > 25
  frame = env.render()
  assert frame.shape == (350, 400, 3) and frame.dtype == np.uint8
  assert count(frame, (255, 255, 255), 0) > 200  # the outline of the agent's window
  state = env.state()
  assert len(state['objects']) == 5 and state['distractors'] == []
  assert {o['shape'] for o in state['objects']} <= set(shapeherd.SHAPES)
  assert {o['color'] for o in state['objects']} <= set(shapeherd.COLORS)
  obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
  assert obs.shape == (64, 64, 3) and isinstance(reward, float) and not terminated and not truncated


def test_reset_at_a_fixed_layout_rejects_overlaps():
  env = ShapeHerd(num_objects=9)
  for seed in range(20):
    env.reset(seed=seed)
    bodies = [(env.state()['agent']['position'], shapeherd.AGENT_RADIUS)] + [
        (o['position'], shapeherd.BOUND_RADIUS[o['shape']]) for o in env.state()['objects']]
    for i, (p, r) in enumerate(bodies):
      assert shapeherd.WALL + r <= p[0] <= env.goal_x - r
      assert shapeherd.WALL + r <= p[1] <= env.height - shapeherd.WALL - r
      for q, s in bodies[:i]:
        assert math.dist(p, q) >= r + s  # bounding circles apart: no overlaps, nothing touching
    assert not env._space.shape_query(env._agent.shape)


def test_same_seed_and_actions_are_bit_for_bit_identical():
  actions = np.random.default_rng(1).uniform(-1, 1, (400, 2)).astype(np.float32)

  def run(env, seed):
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for action in actions:
      obs, reward, terminated, truncated, _ = env.step(action)
      trace += [obs, np.float64(reward)]
      if terminated or truncated:
        break
    state = env.state()
    return trace, [state['agent']['position'], state['agent']['velocity']] + [
        (o['position'], o['velocity'], o['angle']) for o in state['objects'] + state['distractors']]

  first = ShapeHerd(num_distractors=2)
  a, state_a = run(first, 7)
  b, state_b = run(ShapeHerd(num_distractors=2), 7)
  c, state_c = run(first, 7)  # the same env, reset again
  for other, other_state in ((b, state_b), (c, state_c)):
    assert len(a) == len(other) and all(np.array_equal(x, y) for x, y in zip(a, other))
    assert state_a == other_state  # exact floats: the physics replays bit for bit
  d, _ = run(ShapeHerd(num_distractors=2), 8)
  assert not np.array_equal(a[0], d[0])


# 2. Eq. 9, in the reward function and in actual scorings.

def test_reward_function_eq9():
  assert [shapeherd.reward_for(t) for t in (0, 500, 1500, 2500)] == [2.5, 2.0, 1.0, 1.0]
  assert shapeherd.reward_for(1000) == 1.5 and shapeherd.reward_for(250) == 2.25
  assert [shapeherd.reward_for(t, sparse=True) for t in (0, 500, 2500)] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize('t, expected', [(0, 2.5), (500, 2.0), (1500, 1.0), (2500, 1.0)])
def test_scoring_at_step_t_gives_eq9(t, expected):
  env = ShapeHerd()
  env.reset(seed=0)
  x, y = pocket_centre(env)
  env._place((300, 350), [('square', 'red', (x, y)), ('triangle', 'blue', (200, 200))], t=t)
  obs, reward, terminated, truncated, info = env.step(IDLE)  # the square is in the pocket already
  assert reward == expected and info == {'t': t + 1, 'scored': 1, 'remaining': 1,
                                         'first_score': t + 1}
  assert not terminated and not truncated
  two = ShapeHerd(sparse=False)
  two.reset(seed=0)
  two._place((300, 350), [('square', 'red', (x, y - 60)), ('hexagon', 'green', (x, y + 60))], t=t)
  _, reward, terminated, _, _ = two.step(IDLE)
  assert reward == 2 * expected and terminated  # two in one step: twice Eq. 9; none left: the end


# 3. A scripted push into the pocket.

def test_scripted_push_scores_and_the_object_disappears():
  env = ShapeHerd()
  env.reset(seed=0)
  _, y = pocket_centre(env)
  half = 25  # the square's half side
  start = env.goal_x - half - 10
  obs = env._place((start - half - shapeherd.AGENT_RADIUS - 2, y),
                   [('square', 'red', (start, y)), ('pentagon', 'blue', (200, 200))], t=500)
  assert count(obs, RED) > 100 and ('object', 'square', 'red') in env._drawn
  for step in range(1, 41):
    obs, reward, terminated, truncated, info = env.step(RIGHT)
    if reward:
      break
    assert env.state()['objects'][0]['position'][0] > start - 1  # pushed right, not knocked away
  # 42 units from rest, agent and object together (mass 90.7) at full force: ~26 env steps.
  assert step <= 32, 'the push took too long'
  assert reward == shapeherd.reward_for(info['t'] - 1) == 1 + 1.5 - (500 + step - 1) / 1000
  assert info['scored'] == 1 and [o['shape'] for o in env.state()['objects']] == ['pentagon']
  # gone from the drawing
  assert count(obs, RED) == 0 and ('object', 'square', 'red') not in env._drawn
  assert env.state()['agent']['position'][0] + shapeherd.AGENT_RADIUS <= env.goal_x + 1e-9
  for _ in range(30):  # the agent keeps pushing into the pocket: it never enters
    env.step(RIGHT)
    assert env._agent.shape.cache_bb().right <= env.goal_x + 1e-9


# 4. Episode ends.

def test_truncated_at_exactly_3000_env_steps():
  env = ShapeHerd()
  env.reset(seed=3)
  for t in range(1, 3001):
    _, reward, terminated, truncated, info = env.step(IDLE)  # nothing moves, nothing scores
    assert reward == 0 and not terminated and truncated == (t == 3000) and info['t'] == t
  with pytest.raises(RuntimeError, match='call reset'):
    env.step(IDLE)


def test_random_episode_through_envs_make_is_750_agent_steps():
  env = envs.make('shapeherd', shapeherd_config(), parallel=False)
  rng = np.random.default_rng(0)
  obs, steps, total = env.reset(), 0, 0.0
  assert obs['is_first'] and obs['image'].shape == (64, 64, 3)
  while not obs['is_last']:
    obs = env.step({'action': rng.uniform(-1, 1, 2).astype(np.float32)})
    steps, total = steps + 1, total + obs['reward']
  raw = inner(env)
  if obs['is_terminal']:  # every object scored (a random policy hardly ever does)
    assert steps <= 750 and raw.state()['remaining'] == 0
  else:
    assert steps == 750 and raw._t == 3000 and raw.state()['remaining'] > 0
  assert 0 <= total <= 5 * 2.5
  env.close()


def test_termination_inside_an_action_repeat_stops_early():
  env = envs.make('shapeherd', shapeherd_config(), parallel=False)
  env.reset()
  raw = inner(env)
  x, y = pocket_centre(raw)
  raw._place((300, 350), [('rectangle', 'orange', (x, y))])
  obs = env.step({'action': IDLE})
  assert obs['is_last'] and obs['is_terminal'] and obs['reward'] == 2.5
  assert raw._t == 1  # the repeat of 4 stopped after the env step that ended the episode
  with pytest.raises(RuntimeError, match='call reset'):
    env.step({'action': IDLE})


# 5. What the agent sees.

def test_far_objects_are_culled_near_objects_are_drawn():
  env = ShapeHerd()
  env.reset(seed=0)
  centre = (350, 350)  # the floor's middle: the window is 225..475 in x and y
  far = env._place(centre, [('square', 'red', (550, 350)), ('square', 'blue', (350, 150))])
  assert count(far, RED) == 0 and count(far, (0, 0, 255)) == 0
  assert env._drawn == [('agent', 'agent', '')]  # culled, not just clipped
  edge = env._place(centre, [('square', 'red', (350 + 125 + 20, 350))])  # half in the window
  assert 0 < count(edge, RED) < 150 and ('object', 'square', 'red') in env._drawn
  near = env._place(centre, [('square', 'red', (350 + 60, 350))])
  assert count(near, RED) > 150  # a 50-unit square is about 13 x 13 pixels
  assert count(near, shapeherd.AGENT_COLOR, 10) > 25


def test_window_is_centred_on_the_agent_and_stays_inside_the_arena():
  env = ShapeHerd()
  env.reset(seed=0)
  corner = env._place((shapeherd.WALL + 20, shapeherd.WALL + 20), [('square', 'red', (400, 400))])
  assert env._agent_window() == (20.0, 20.0, 250, 250)  # 105 units of wall, then floor
  wall = np.array(shapeherd.WALL_COLOR)
  assert (corner[:26, :26] == wall).all() and (corner[45:, 28:] == 0).all()  # floor below the agent
  env._place((10, 690), [('square', 'red', (400, 400))])  # off the floor: the window is clamped
  assert env._agent_window() == (0.0, 450.0, 250, 250)


# 6. Physics invariants over a long random episode.

def test_long_random_episode_keeps_bodies_in_bounds_and_energy_bounded():
  env = ShapeHerd(num_distractors=2)
  env.reset(seed=5)
  rng = np.random.default_rng(5)
  top, energies, object_speeds = terminal_speed(), [], []
  for _ in range(3000):
    _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 2))
    assert math.hypot(*env._agent.body.velocity) <= top   # under its damped maximum
    object_speeds += [math.hypot(*b.body.velocity) for b in env._objects]
    for b in env._objects:
      x, y = b.body.position
      assert shapeherd.WALL <= x <= env.width - shapeherd.WALL
      assert shapeherd.WALL <= y <= env.height - shapeherd.WALL
    for b in env._bouncers:
      # agent and distractors stay out of the pocket
      assert b.shape.cache_bb().right <= env.goal_x + 1e-9
    energies.append(sum(0.5 * b.body.mass * b.body.velocity.get_length_sqrd()
                        for b in env._dynamic))
    if terminated or truncated:
      break
  bound = 0.5 * top ** 2 * (shapeherd.AGENT_MASS + 5 * shapeherd.OBJECT_MASS
                            + 2 * shapeherd.DISTRACTOR_MASS)
  assert max(energies) <= bound and np.mean(energies[-1000:]) <= 2 * np.mean(energies[:1000]) + 1e-9
  assert np.quantile(object_speeds, 0.99) < shapeherd.SOFT_SPEED  # objects settle under ~800


# 9. Mass: the agent is the body [B] simulates, heavier than the objects it pushes.

def terminal_speed():
  """The agent's top speed at full force: per env step v -> v DAMPING^DT + F / m DT."""
  step = shapeherd.MAX_FORCE / shapeherd.AGENT_MASS * shapeherd.DT
  return step / (1 - shapeherd.DAMPING ** shapeherd.DT)


def test_agent_has_the_mass_the_public_code_simulates():
  env = ShapeHerd()
  env.reset(seed=0)
  assert (env._agent.body.mass == pytest.approx(math.pi * 15 ** 2 * 0.1)
          == pytest.approx(70.686, abs=1e-3))
  assert env._agent.body.mass == pytest.approx(3.53 * shapeherd.OBJECT_MASS, rel=1e-2)
  assert terminal_speed() == pytest.approx(1593, rel=1e-2)   # the spec's "~1600 at most"


def test_full_force_speed_profile_and_no_cap_on_the_agent():
  env = ShapeHerd()
  env.reset(seed=0)
  env._place((140, 350), [('square', 'red', (160, 160))], agent_velocity=(0.0, 0.0))
  full_right = np.array([-1.0, 1.0], np.float32)   # angle 0, full magnitude
  speeds = []
  for _ in range(40):
    env.step(full_right)
    speeds.append(env.state()['agent']['velocity'][0])
  assert speeds[11] == pytest.approx(110, rel=0.03) and speeds[39] == pytest.approx(340, rel=0.03)
  # Above the objects' 800 the agent is not slowed: it keeps its speed less pymunk's damping only.
  env._place((200, 350), [('square', 'red', (160, 160))], agent_velocity=(1200.0, 0.0))
  env.step(np.array([0.0, -1.0], np.float32))      # magnitude 0: no force
  assert env.state()['agent']['velocity'][0] == pytest.approx(
      1200 * shapeherd.DAMPING ** shapeherd.DT)


def test_head_on_push_moves_the_object_and_the_agent_keeps_going():
  # An elastic head-on hit of masses 70.7 and 20: the agent keeps (m1 - m2) / (m1 + m2) = 0.56 of
  # its speed, the object leaves at 2 m1 / (m1 + m2) = 1.56x. An agent of mass 10 would bounce back.
  env = ShapeHerd()
  env.reset(seed=0)
  speed = 300.0
  env._place((250, 350), [('square', 'red', (300, 350))], agent_velocity=(speed, 0.0))
  coast = np.array([0.0, -1.0], np.float32)
  before = None
  for _ in range(30):
    agent_vx = env.state()['agent']['velocity'][0]
    env.step(coast)
    obj_vx = env.state()['objects'][0]['velocity'][0]
    if obj_vx > 1.0:      # the step of the contact
      before = agent_vx
      break
  assert before is not None, 'the agent never reached the object'
  after = env.state()['agent']['velocity'][0]
  assert after > 0                                              # still moving forward
  assert after / before == pytest.approx(0.56, abs=0.05)
  assert obj_vx / before == pytest.approx(1.56, abs=0.08)


# 7. Actions.

def test_non_finite_actions_raise_and_out_of_range_ones_are_clipped():
  env = ShapeHerd()
  env.reset(seed=0)
  for bad in ([np.nan, 0.0], [0.0, np.inf], [-np.inf, 1.0]):
    with pytest.raises(ValueError, match=r'action .*(nan|inf).* is not finite'):
      env.step(np.array(bad, np.float32))
  with pytest.raises(ValueError, match=r'has shape \(3,\); expected shape \(2,\)'):
    env.step(np.zeros(3))
  clipped, exact = ShapeHerd(), ShapeHerd()
  clipped.reset(seed=4), exact.reset(seed=4)
  for big, unit in (([5.0, 7.0], [1.0, 1.0]), ([-3.0, 0.5], [-1.0, 0.5]),
                    ([0.3, -9.0], [0.3, -1.0])):
    for _ in range(10):
      a = clipped.step(np.array(big, np.float32))[0]
      b = exact.step(np.array(unit, np.float32))[0]
      assert np.array_equal(a, b)
  assert clipped.state() == exact.state()
  wrapped = envs.make('shapeherd', shapeherd_config(), parallel=False)
  wrapped.reset()
  with pytest.raises(ValueError, match=r'is not finite; expected shape \(2,\)'):
    wrapped.step({'action': np.array([np.nan, 0.0], np.float32)})


def test_action_maps_to_angle_and_magnitude():
  env = ShapeHerd()
  env.reset(seed=0)
  for action, direction in (([-1, 1], (1, 0)), ([-0.5, 1], (0, 1)), ([0, 1], (-1, 0)),
                            ([0.5, 1], (0, -1))):
    env._place((350, 350), [('square', 'red', (160, 160))])
    env.step(np.array(action, np.float32))
    vx, vy = env.state()['agent']['velocity']
    # from rest, one step of full force
    speed = shapeherd.MAX_FORCE / shapeherd.AGENT_MASS * shapeherd.DT
    assert (vx, vy) == pytest.approx((direction[0] * speed, direction[1] * speed), abs=1e-6)
  env._place((350, 350), [('square', 'red', (160, 160))])
  env.step(np.array([0.3, -1.0], np.float32))  # magnitude 0: no force whatever the angle
  assert env.state()['agent']['velocity'] == (0.0, 0.0)


# 8. Options.

def test_arena_scale_changes_the_floor_not_the_window():
  small, big = ShapeHerd(), ShapeHerd(arena_scale=1.4)
  assert (small.width, small.height, small.goal_x) == (800, 700, 575)
  assert (big.width, big.height, big.goal_x) == (1120, 980, 895)
  assert big.goal_height == 0.5 * (980 - 250) and small.goal_height == 225
  xs = []
  for seed in range(10):
    big.reset(seed=seed)
    xs += [o['position'][0] for o in big.state()['objects']]
    assert big._agent_window()[2:] == (250, 250)
  assert max(xs) > 0.7 * 550 + shapeherd.WALL + 10  # objects start beyond the small arena's range
  assert max(xs) <= shapeherd.WALL + 0.7 * (1120 - 250)
  assert big.render().shape == (350, 400, 3)


def test_distractors_move_bounce_off_the_pocket_and_never_score():
  env = ShapeHerd(num_distractors=2)
  env.reset(seed=0)
  assert len(env.state()['distractors']) == 2
  x, y = pocket_centre(env)
  env._place((300, 350), [('square', 'red', (200, 200))],
             # the first sticks into the pocket
             distractors=[(env.goal_x - 5, y), (env.goal_x - 12, y + 60)])
  total = 0.0
  for _ in range(600):
    _, reward, terminated, _, _ = env.step(IDLE)
    total += reward
    assert len(env.state()['distractors']) == 2
    assert all(b.shape.cache_bb().right <= env.goal_x + 1e-9 for b in env._distractors)
  assert total == 0 and env.state()['scored'] == 0 and not terminated
  moved = [math.dist(d['position'], start) for d, start in zip(
      env.state()['distractors'], [(env.goal_x - 5, y), (env.goal_x - 12, y + 60)])]
  assert min(moved) > 20
  obs = env._place((300, 350), [('square', 'red', (200, 200))], distractors=[(350, 350)])
  assert (count(obs, shapeherd.DISTRACTOR_COLOR, 10) > 15
          and ('distractor', 'kite', '') in env._drawn)


def test_variable_goal_moves_the_pocket_and_its_walls():
  env = ShapeHerd(variable_goal_position=True)
  tops = set()
  for seed in range(6):
    env.reset(seed=seed)
    tops.add(env.goal_y)
    assert shapeherd.WALL <= env.goal_y <= env.height - shapeherd.WALL - env.goal_height
    x = env.goal_x + 50
    hits = lambda py: env._space.point_query((x, py), 0, pymunk.ShapeFilter())
    assert hits(env.goal_y - 5) and hits(env.goal_y + env.goal_height + 5)  # wall beside the pocket
    assert not hits(env.goal_y + 5) and not hits(env.goal_y + env.goal_height - 5)  # open pocket
  assert len(tops) == 6
  fixed = ShapeHerd()
  fixed.reset(seed=0)
  assert fixed.goal_y == (700 - 225) / 2 == 237.5


def test_sparse_reward_and_object_counts():
  env = ShapeHerd(sparse=True, num_objects=3)
  env.reset(seed=0)
  assert len(env.state()['objects']) == 3
  x, y = pocket_centre(env)
  env._place((300, 350), [('square', 'red', (x, y)), ('square', 'red', (200, 200))])
  assert env.step(IDLE)[1] == 1.0
  varied = ShapeHerd(variable_num_objects=True)
  counts = {varied.reset(seed=seed)[1]['remaining'] for seed in range(30)}
  assert counts <= {1, 2, 3, 4, 5} and len(counts) >= 3


def test_global_camera_sees_the_whole_arena():
  env = ShapeHerd(camera='global')
  obs, _ = env.reset(seed=0)
  assert obs.shape == (64, 64, 3) and count(obs, shapeherd.GOAL_COLOR, 10) > 20
  assert len(env._drawn) == 6  # every object and the agent, wherever they are
  agent = ShapeHerd()
  agent.reset(seed=0)
  agent._place((shapeherd.WALL + 20, shapeherd.WALL + 20), [('square', 'red', (200, 200))])
  # the pocket is out of the agent's view
  assert count(agent._observe(), shapeherd.GOAL_COLOR, 10) == 0


# Task names, envs.make, gymnasium.

@pytest.mark.parametrize('task, kwargs', [
    ('shapeherd', {}),
    ('shapeherd_sparse', {'sparse': True}),
    ('shapeherd_distract2', {'num_distractors': 2}),
    ('shapeherd_size1.4', {'arena_scale': 1.4}),
    ('shapeherd_objects3', {'num_objects': 3}),
    ('shapeherd_vargoal', {'variable_goal_position': True}),
    ('shapeherd_sparse_distract2_size1.4',
     {'sparse': True, 'num_distractors': 2, 'arena_scale': 1.4}),
    ('shapeherd_sparse_distract4_size1.6_objects3_varobjects_vargoal_global', {
        'sparse': True, 'num_distractors': 4, 'arena_scale': 1.6, 'num_objects': 3,
        'variable_num_objects': True, 'variable_goal_position': True, 'camera': 'global'}),
])
def test_task_names(task, kwargs):
  assert shapeherd_tasks.parse_task(task) == kwargs
  ShapeHerd(**kwargs).reset(seed=0)


@pytest.mark.parametrize('task, message', [
    ('shapeherd_foo',
     "unknown task 'shapeherd_foo': bad part 'foo'; ShapeHerd tasks are named shapeherd[_sparse]"),
    ('shapeherd_distract0', "unknown task 'shapeherd_distract0': bad part 'distract0'"),
    ('shapeherd_size1.0', "unknown task 'shapeherd_size1.0': bad part 'size1.0'"),
    ('shapeherd_size1.40', "unknown task 'shapeherd_size1.40': bad part 'size1.40'"),
    ('shapeherd_objects5', "unknown task 'shapeherd_objects5': bad part 'objects5'"),
    ('shapeherd_', "unknown task 'shapeherd_': bad part ''"),
    ('shapeherd_size1.4_sparse',
     "unknown task 'shapeherd_size1.4_sparse': part 'sparse' is out of order"),
    ('shapeherd_sparse_sparse',
     "unknown task 'shapeherd_sparse_sparse': part 'sparse' is out of order or repeated"),
    ('shapeherds',
     "unknown task 'shapeherds'; valid tasks: dmc_<domain>_<task>, shapeherd[_sparse]"),
])
def test_bad_task_names_fail_fast_in_one_line(task, message):
  text = assert_bad_task(task, shapeherd_config(), message)
  if task.startswith('shapeherd_'):
    assert shapeherd_tasks.GRAMMAR in text


def test_envs_finds_the_env_module_of_a_task():
  assert envs.suite('shapeherd_sparse') is shapeherd_tasks and envs.suite('dmc_walker_walk') is dmc


def test_make_builds_the_variant_and_a_worker_matches_in_process():
  config = shapeherd_config(seed=2)
  local = envs.make('shapeherd_distract1_size1.2', config, parallel=False)
  raw = inner(local)
  assert (raw.num_distractors, raw.arena_scale, raw.max_steps) == (1, 1.2, 3000)
  assert local.act_space['action'] == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
  with envs.make('shapeherd_distract1_size1.2', config) as worker:
    assert worker.obs_space['image'] == gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert np.array_equal(worker.reset()['image'], local.reset()['image'])
    for action in np.random.default_rng(0).uniform(-1, 1, (20, 2)).astype(np.float32):
      a, b = worker.step({'action': action}), local.step({'action': action})
      assert np.array_equal(a['image'], b['image']) and a['reward'] == b['reward']
  eval_env = envs.make('shapeherd', config, mode='eval', parallel=False)
  train_env = envs.make('shapeherd', config, parallel=False)
  assert not np.array_equal(eval_env.reset()['image'], train_env.reset()['image'])  # seed + 500


def test_training_env_reports_per_episode_logs():
  env = envs.make('shapeherd', shapeherd_config(), parallel=False)
  first = env.reset()
  assert (first['log_scored'], first['log_first_score']) == (0, 0)
  obs = env.step({'action': IDLE})
  repeat = shapeherd_config().action_repeat
  assert obs['log_scored'] == 0 and obs['log_first_score'] == repeat  # none scored: steps so far
  inner(env)._place((300, 350), [('square', 'red', pocket_centre(inner(env)))], t=10)
  obs = env.step({'action': IDLE})
  assert obs['log_scored'] == 1 and obs['log_first_score'] == 11 and obs['is_last']


def test_gymnasium_make_after_import_envs():
  env = gymnasium.make('ShapeHerd-v0', num_distractors=1)
  obs, _ = env.reset(seed=0)
  assert obs.shape == (64, 64, 3) and isinstance(env.unwrapped, ShapeHerd)
  assert env.unwrapped.num_distractors == 1 and env.render().shape == (350, 400, 3)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    importlib.reload(envs)  # registering again is guarded: no override warning
  assert 'ShapeHerd-v0' in gymnasium.registry


def test_gif_command_line(tmp_path):
  out = tmp_path / 'episode.gif'
  result = subprocess.run(
      [sys.executable, '-m', 'envs.shapeherd_demo', '--out', str(out), '--policy', 'scripted',
       '--steps', '12', '--seed', '1', '--task', 'shapeherd_distract2'],
      cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'RuntimeWarning' not in result.stderr and 'frames: 7' in result.stdout
  with Image.open(out) as gif:
    assert gif.format == 'GIF' and gif.n_frames == 7 and gif.size == (400 + 8 + 350, 350)
  bad = subprocess.run([sys.executable, '-m', 'envs.shapeherd_demo', '--task', 'shapeherd_nope'],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert bad.returncode == 2 and "bad part 'nope'" in bad.stderr


def test_scripted_policy_pushes_objects_in(tmp_path):
  summary = shapeherd_demo.write_gif(tmp_path / 'scripted.gif', 'shapeherd', 'scripted', 1500,
                                     seed=0, every=100)
  assert summary['scored'] >= 3 and summary['return'] > 3 * 2
