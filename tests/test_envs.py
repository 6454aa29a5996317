"""Environments: DMC in worker processes (this pytest process may have imported TensorFlow, and a
MuJoCo render then segfaults), the shared wrappers in-process on fake envs, and FromGymnasium."""

import functools
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap

import gymnasium
import numpy as np
import pytest

import envs
from envs import wrappers
from tests.conftest import assert_bad_task, make_config
from tests import helpers

ROOT = str(helpers.ROOT)
TASK = 'dmc_cartpole_balance'


def dmc_config(**flags):
  # 40 env steps = 20 agent steps
  return make_config('dmc', 'dreamerv2', **{'time_limit': 40, **flags})


@pytest.fixture(scope='module')
def cartpole():
  env = envs.make(TASK, dmc_config())
  yield env
  env.close()


def run_episode(env, action):
  obs = [env.reset()]
  while not obs[-1]['is_last']:
    obs.append(env.step({'action': np.asarray(action, np.float32)}))
  return obs


# Functions the worker runs through Worker.call (module level, so they pickle by name).

def _has_module(name):
  return name in sys.modules


def _dmc_ends():
  """dm_control's own time limit is a truncation; discount 0 at a last step is a termination."""
  import dm_env
  from envs import dmc
  env = dmc.DMC('cartpole', 'balance', repeat=2, task_kwargs={'time_limit': 0.1})  # 10 steps
  obs = run_episode(env, [0.0])
  env.reset()
  env._env.step = lambda action: dm_env.termination(1.0, {})
  end = env.step({'action': np.zeros(1)})
  return (len(obs) - 1, obs[-1]['is_last'], obs[-1]['is_terminal'], end['is_last'],
          end['is_terminal'])


# DMC in workers.

def test_dmc_spaces_and_reset(cartpole):
  assert set(cartpole.obs_space) == {'image', 'reward', 'is_first', 'is_last', 'is_terminal'}
  assert cartpole.obs_space['image'] == gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
  assert (cartpole.obs_space['reward'].dtype == np.float32
          and cartpole.obs_space['is_last'].dtype == bool)
  space = cartpole.act_space['action']
  assert space == gymnasium.spaces.Box(-1, 1, (1,), np.float32) and not envs.is_discrete(space)
  obs = cartpole.reset()
  assert (obs['image'].shape == (64, 64, 3) and obs['image'].dtype == np.uint8
          and obs['image'].std() > 0)
  assert obs['reward'] == 0 and obs['reward'].dtype == np.float32
  assert obs['is_first'] and not obs['is_last'] and not obs['is_terminal']
  assert all(cartpole.obs_space[k].contains(np.asarray(v)) for k, v in obs.items())


def test_dmc_episode_ends_at_time_limit(cartpole):
  obs = run_episode(cartpole, [0.0])
  assert len(obs) == 21  # time_limit 40 env steps / action repeat 2, plus the reset obs
  assert not any(o['is_first'] or o['is_last'] for o in obs[1:-1])
  assert obs[-1]['is_last'] and not obs[-1]['is_terminal']
  assert all(1.0 < o['reward'] <= 2.0 for o in obs[1:])  # two summed rewards of at most 1 each
  with pytest.raises(RuntimeError, match='call reset'):
    cartpole.step({'action': np.zeros(1, np.float32)})
  assert cartpole.reset()['is_first']


def test_dmc_own_end_is_truncation_discount_zero_is_terminal(cartpole):
  steps, last, terminal, end_last, end_terminal = cartpole.call(_dmc_ends)
  assert (steps, last, terminal) == (5, True, False)  # 10 env steps at repeat 2
  assert (end_last, end_terminal) == (True, True)


def test_bad_actions_raise_in_parent_and_worker_survives(cartpole):
  cartpole.reset()
  with pytest.raises(ValueError,
                     match=r'action array\(\[nan\].* is not finite; expected shape \(1,\)') as info:
    cartpole.step({'action': np.array([np.nan], np.float32)})
  assert 'worker' in ''.join(info.value.__notes__)
  with pytest.raises(ValueError, match=r'has shape \(2,\); expected shape \(1,\)'):
    cartpole.step({'action': np.zeros(2, np.float32)})
  with pytest.raises(ValueError, match="dict with key 'action'"):
    cartpole.step(np.zeros(1))
  # clipped, not rejected
  assert not cartpole.step({'action': np.array([7.0], np.float32)})['is_last']


@pytest.mark.parametrize('task, message', [
    ('dmc_walkr_walk',
     "unknown task 'dmc_walkr_walk'; known dmc domains: acrobot, ball_in_cup, cartpole"),
    ('dmc_walker_wlk',
     "unknown task 'dmc_walker_wlk'; dmc domain walker has tasks: stand, walk, run"),
    ('atari_pong', "unknown task 'atari_pong'; valid tasks: dmc_<domain>_<task>, shapeherd"),
    ('shapeherd_nope', "unknown task 'shapeherd_nope': bad part 'nope'"),
])
def test_bad_task_names_fail_fast_in_one_line(task, message):
  assert_bad_task(task, dmc_config(), message)


def test_task_names_split_on_the_longest_domain():
  from envs import dmc
  assert dmc.parse_task('dmc_ball_in_cup_catch') == ('ball_in_cup', 'catch')
  assert dmc.parse_task('dmc_humanoid_CMU_run') == ('humanoid_CMU', 'run')
  assert dmc.parse_task('dmc_point_mass_easy') == ('point_mass', 'easy')
  script = 'from dm_control import suite; print(sorted(suite.ALL_TASKS))'
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True,
                       env={**os.environ, 'MUJOCO_GL': 'egl'}).stdout
  assert eval(out) == sorted((d, t) for d, tasks in dmc.suite_tasks().items() for t in tasks)


def test_seeds_reproduce_and_batch_steps_in_parallel():
  config = dmc_config(seed=3)
  assert envs.constructor(TASK, config, 'train', 2).args[-1] == 3002
  assert envs.constructor(TASK, config, 'eval', 2).args[-1] == 3502
  with envs.make_batch(TASK, config, 2) as batch, envs.make(TASK, config, index=0) as single:
    assert len(batch) == 2 and batch.act_space == single.act_space
    first, second = batch.reset()
    assert first['is_first'] and second['is_first']
    assert np.array_equal(first['image'], single.reset()['image'])
    assert not np.array_equal(first['image'], second['image'])  # index 1 has its own seed
    actions = np.random.default_rng(0).uniform(-1, 1, (10, 2, 1)).astype(np.float32)
    for action in actions:
      a, b = batch.step({'action': action})  # one dict with a batch axis, or a list of dicts
      c = single.step({'action': action[0]})
      assert np.array_equal(a['image'], c['image']) and a['reward'] == c['reward']
      assert not np.array_equal(a['image'], b['image'])
    with pytest.raises(ValueError, match='not finite'):  # one env's error; the other still answered
      batch.step([{'action': np.array([np.nan], np.float32)}, {'action': np.zeros(1, np.float32)}])
    assert len(batch.step([{'action': np.zeros(1, np.float32)}] * 2)) == 2


@pytest.mark.slow  # a child process that imports TensorFlow and renders
def test_tensorflow_parent_renders_in_worker_without_tensorflow(tmp_path):
  pytest.importorskip('tensorflow')
  # A script that imports TF at top level with no __main__ guard, as train.py might: the worker must
  # not re-run it (spawn would) and must render without ever loading TF.
  script = tmp_path / 'script.py'
  script.write_text(textwrap.dedent(f"""
      import sys
      import tensorflow
      import numpy as np
      sys.path.insert(0, {ROOT!r})
      import envs
      from tests.conftest import make_config
      from tests.test_envs import _has_module
      print('main ran')
      env = envs.make({TASK!r}, make_config('dmc', time_limit=10))
      obs = env.step({{'action': np.zeros(1)}}) if env.reset()['is_first'] else None
      print('worker tensorflow:', env.call(_has_module, 'tensorflow'), obs['image'].shape)
      env.close()
      """))
  out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.count('main ran') == 1
  assert 'worker tensorflow: False (64, 64, 3)' in out.stdout


def test_worker_has_no_tensorflow(cartpole):
  assert cartpole.call(_has_module, 'tensorflow') is False
  assert cartpole.call(_has_module, 'dm_control') is True


# Wrappers on fake envs, in this process.

class FakeEnv:
  """Rewards 1, 2, 3, ...; the episode ends (terminally) after `length` steps; records actions."""

  def __init__(self, act_space, length=100):
    self.obs_space = wrappers.obs_space((8, 8, 3))
    self.act_space = {'action': act_space}
    self.length, self.actions = length, []

  def _obs(self, reward, first=False, last=False):
    return {'image': np.zeros((8, 8, 3), np.uint8), 'reward': np.float32(reward), 'is_first': first,
            'is_last': last, 'is_terminal': last}

  def reset(self):
    self.t = 0
    return self._obs(0.0, first=True)

  def step(self, action):
    self.actions.append(action['action'])
    self.t += 1
    return self._obs(self.t, last=self.t >= self.length)

  def close(self):
    pass


def test_action_repeat_sums_rewards_and_stops_at_the_end():
  env = wrappers.ActionRepeat(FakeEnv(gymnasium.spaces.Box(-1, 1, (1,)), length=5), 3)
  env.reset()
  assert env.step({'action': np.zeros(1)})['reward'] == 1 + 2 + 3
  obs = env.step({'action': np.zeros(1)})
  assert obs['reward'] == 4 + 5 and obs['is_last'] and obs['is_terminal'] and len(env.actions) == 5


def test_normalize_action_maps_unit_box_to_bounds():
  space = gymnasium.spaces.Box(np.array([0, -5, -np.inf], np.float32),
                               np.array([10, 5, np.inf], np.float32))
  env = wrappers.NormalizeAction(FakeEnv(space))
  assert np.array_equal(env.act_space['action'].low, [-1, -1, -np.inf])
  env.reset()
  for action, expected in [([-1, -1, 7], [0, -5, 7]), ([1, 1, -7], [10, 5, -7]),
                           ([0, 0, 0], [5, 0, 0])]:
    env.step({'action': np.array(action, np.float32)})
    np.testing.assert_allclose(env.actions[-1], expected)


def test_one_hot_action_round_trip():
  fake = FakeEnv(gymnasium.spaces.Discrete(4, start=1))
  env = wrappers.OneHotAction(fake)
  space = env.act_space['action']
  assert envs.is_discrete(space) and space.shape == (4,) and space.dtype == np.float32
  copy = pickle.loads(pickle.dumps(space))  # the flag survives the trip back from a worker
  assert envs.is_discrete(copy) and copy.n == 4 and space.contains(space.sample())
  env.reset()
  env.step({'action': np.eye(4, dtype=np.float32)[2]})
  assert fake.actions == [3]  # index 2 of Discrete(4, start=1)
  with pytest.raises(ValueError, match='not a one-hot vector of shape \\(4,\\)'):
    env.step({'action': np.full(4, 0.25, np.float32)})


def test_check_action_clips_and_rejects():
  fake = FakeEnv(gymnasium.spaces.Box(-2, 2, (2,), np.float32))
  env = wrappers.CheckAction(wrappers.NormalizeAction(fake))
  env.reset()
  env.step({'action': np.array([3.0, -0.5], np.float32)})
  # clipped to 1, then mapped to the bound
  np.testing.assert_allclose(fake.actions[-1], [2.0, -1.0])
  for bad in ([np.inf, 0.0], [np.nan, 0.0]):
    with pytest.raises(ValueError, match=r'is not finite; expected shape \(2,\)'):
      env.step({'action': np.array(bad, np.float32)})
  with pytest.raises(ValueError, match=r'has shape \(3,\); expected shape \(2,\)'):
    env.step({'action': np.zeros(3)})
  assert len(fake.actions) == 1  # nothing bad reached the env


def test_time_limit_truncates_and_tracks_episodes():
  env = wrappers.TimeLimit(FakeEnv(gymnasium.spaces.Box(-1, 1, (1,)), length=100), 3)
  with pytest.raises(RuntimeError, match='before reset'):
    env.step({'action': np.zeros(1)})
  flags = [env.reset()['is_last']] + [env.step({'action': np.zeros(1)})['is_last']
                                      for _ in range(3)]
  assert flags == [False, False, False, True]
  with pytest.raises(RuntimeError):
    env.step({'action': np.zeros(1)})


# Your own gymnasium env through the same wrappers, in-process and in a worker.

class ImageGymEnv(gymnasium.Env):
  """64x64x3 images showing the step count; Discrete(3) actions; terminates when the step count hits
  `terminate_at`, else the env truncates at 100 (standing in for gymnasium's own TimeLimit)."""

  def __init__(self, terminate_at=4, dict_obs=False):
    image = gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    self.observation_space = gymnasium.spaces.Dict({'pixels': image, 'speed': gymnasium.spaces.Box(
        -1, 1, (1,))}) if dict_obs else image
    self.action_space = gymnasium.spaces.Discrete(3)
    self.terminate_at, self.dict_obs = terminate_at, dict_obs

  def _obs(self):
    image = np.full((64, 64, 3), self.t, np.uint8)
    return {'pixels': image, 'speed': np.zeros(1, np.float32)} if self.dict_obs else image

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self.t = 0
    return self._obs(), {}

  def step(self, action):
    assert self.action_space.contains(action)
    self.t += 1
    return self._obs(), float(action), self.t == self.terminate_at, self.t >= 100, {}


def make_gym_env(repeat=1, time_limit=None, image_key=None, **kwargs):
  return envs.wrap(envs.FromGymnasium(ImageGymEnv(**kwargs), image_key, seed=0), repeat, time_limit)


def test_from_gymnasium_terminated_and_truncated():
  env = make_gym_env(repeat=2)
  assert envs.is_discrete(env.act_space['action']) and env.obs_space['image'].shape == (64, 64, 3)
  obs = run_episode(env, np.eye(3)[2])
  assert [o['reward'] for o in obs] == [0, 4, 4] and obs[-1]['image'][0, 0, 0] == 4  # 2 x repeat 2
  assert obs[-1]['is_last'] and obs[-1]['is_terminal']
  obs = run_episode(make_gym_env(time_limit=3, terminate_at=None), np.eye(3)[0])
  assert len(obs) == 4 and obs[-1]['is_last'] and not obs[-1]['is_terminal']
  env = make_gym_env(dict_obs=True, image_key='pixels')
  assert set(env.obs_space) >= {'image', 'speed'} and env.reset()['image'].shape == (64, 64, 3)
  with pytest.raises(ValueError, match="no image key 'image'; keys: pixels, speed"):
    make_gym_env(dict_obs=True)


def test_gymnasium_env_in_a_worker_and_worker_death():
  with envs.Worker(functools.partial(make_gym_env, time_limit=10)) as env:
    assert envs.is_discrete(env.act_space['action'])
    env.reset()
    assert env.step({'action': np.eye(3, dtype=np.float32)[1]})['reward'] == 1
    with pytest.raises(ValueError, match='not a one-hot vector'):
      env.step({'action': np.ones(3, np.float32)})
    with pytest.raises(envs.WorkerError, match='died with exit code 3'):
      env.call(os._exit, 3)
  assert not any(p.name == 'env' for p in multiprocessing.active_children())


def test_random_returns_play_whole_episodes_and_repeat_for_a_seed():
  config = dmc_config()
  first = envs.random_returns(TASK, config, 2, seed=3)
  assert len(first) == 2 and all(np.isfinite(first)) and min(first) >= 0
  assert envs.random_returns(TASK, config, 2, seed=3) == first


# Any registered gymnasium env by name: gym_<id> (issue 27).

def test_gym_tasks_build_registered_envs_with_their_vector_keys():
  config = dmc_config(task='gym_PointReach-v0', time_limit=20, action_repeat=2)
  env = envs.make('gym_PointReach-v0', config)     # in a worker, like every env
  try:
    space = env.obs_space
    assert space['image'].shape == (64, 64, 3) and space['position'].shape == (2,)
    obs = env.reset()
    assert obs['is_first'] and obs['position'].dtype == np.float32 and obs['image'].any()
    steps = 0
    while not obs['is_last']:
      obs = env.step({'action': np.ones(2, np.float32)})
      steps += 1
    assert steps == 10                                # 20 env steps at action repeat 2
  finally:
    env.close()
  shapeherd = envs.make('gym_ShapeHerd-v0', dmc_config(task='gym_ShapeHerd-v0'), parallel=False)
  assert shapeherd.reset()['image'].shape == (64, 64, 3)


def test_the_readme_own_env_example_runs_in_a_worker_through_its_module_prefix():
  # the README's example: the worker imports examples.dial itself
  task = 'gym_examples.dial:Dial-v0'
  env = envs.make(task, dmc_config(task=task, time_limit=1000, action_repeat=1))
  try:
    obs = env.reset()
    assert obs['image'].shape == (64, 64, 3) and obs['level'].shape == (1,)
    level = obs['level'][0]
    obs = env.step({'action': -np.sign([level]).astype(np.float32)})   # towards zero
    assert abs(obs['level'][0]) < abs(level) and obs['reward'] == -abs(obs['level'][0])
    assert obs['image'][0, 0, 0] == np.uint8(127 * (1 + obs['level'][0]))
  finally:
    env.close()


def test_gym_task_names_are_checked_in_one_line():
  with pytest.raises(ValueError,
                     match=r"unknown task 'gym_NoSuchEnv-v0': gymnasium has no env 'NoSuchEnv-v0'"):
    envs.constructor('gym_NoSuchEnv-v0', dmc_config())
  with pytest.raises(ValueError, match=r"unknown task 'gym_'; expected gym_<gymnasium id>"):
    envs.constructor('gym_', dmc_config())


def test_an_env_without_an_image_is_rendered_and_keeps_its_state():
  from envs import gym_tasks

  class Vector(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(-1, 1, (3,), np.float32)
    action_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
      return np.zeros(3, np.float32), {}

    def step(self, action):
      return np.ones(3, np.float32), 0.0, False, False, {}

    def render(self):
      return np.full((100, 80, 3), 7, np.uint8)

  env = gym_tasks.Pixels(Vector(), (64, 64))
  obs, _ = env.reset()
  assert obs['image'].shape == (64, 64, 3) and (obs['image'] == 7).all()
  assert (obs['state'].tolist() == [0, 0, 0]
          and set(env.observation_space.spaces) == {'image', 'state'})
