"""Steps a batch of environments with a policy and hands out transitions and finished episodes.

Environments follow the envs API (reset() / step({'action': a}) -> obs dict with reward, is_first,
is_last, is_terminal). Envs that offer step_async(action) / result() are stepped concurrently: all
actions go out first, then all results are collected, so worker processes run in parallel.
"""

import numpy as np


class Driver:
  """Calls policy(obs_batch, state) -> (actions (N, A), state) and steps every env with its action.

  on_step(transition, worker) sees each transition ({**obs, 'action': the action that led to obs});
  on_episode(episode, worker) sees each finished episode as a dict of stacked arrays. A transition
  after a reset carries a zero action, as the replay format expects (spec a.1).
  """

  def __init__(self, envs, action_dim, on_step=(), on_episode=()):
    self._envs = list(envs)
    self._action_dim = action_dim
    self._on_step = list(on_step)
    self._on_episode = list(on_episode)
    self._async = all(hasattr(env, 'step_async') and hasattr(env, 'reset_async')
                      for env in self._envs)
    self.reset()

  def on_step(self, callback):
    self._on_step.append(callback)

  def on_episode(self, callback):
    self._on_episode.append(callback)

  def reset(self):
    """Forgets ongoing episodes: every env restarts at the next call."""
    self._obs = [None] * len(self._envs)
    self._episodes = [[] for _ in self._envs]
    self._state = None

  def __call__(self, policy, steps=0, episodes=0):
    """Runs until `steps` agent steps (summed over envs) or `episodes` episodes have finished."""
    step, episode = 0, 0
    while (steps and step < steps) or (episodes and episode < episodes):
      self._reset_finished()
      obs = {key: np.stack([o[key] for o in self._obs]) for key in self._obs[0]}
      actions, self._state = policy(obs, self._state)
      actions = np.asarray(actions, np.float32)
      for index, obs in enumerate(self._step_all(actions)):
        self._record(index, {**obs, 'action': actions[index]})
        step += 1
        if obs['is_last']:
          self._finish(index)
          episode += 1
    return step, episode

  def _reset_finished(self):
    indices = [i for i, obs in enumerate(self._obs) if obs is None]
    if self._async:
      for i in indices:
        self._envs[i].reset_async()
      results = [self._envs[i].result() for i in indices]
    else:
      results = [self._envs[i].reset() for i in indices]
    for index, obs in zip(indices, results):
      self._record(index, {**obs, 'action': np.zeros(self._action_dim, np.float32)})

  def _step_all(self, actions):
    if self._async:
      for env, action in zip(self._envs, actions):
        env.step_async({'action': action})
      return [env.result() for env in self._envs]
    return [env.step({'action': action}) for env, action in zip(self._envs, actions)]

  def _record(self, index, transition):
    transition = {key: np.asarray(value) for key, value in transition.items()}
    self._obs[index] = transition
    if self._on_episode:  # episodes are stacked only for someone who wants them
      self._episodes[index].append(transition)
    for callback in self._on_step:
      callback(transition, index)

  def _finish(self, index):
    if self._on_episode:
      episode = {key: np.stack([t[key] for t in self._episodes[index]])
                 for key in self._episodes[index][0]}
      for callback in self._on_episode:
        callback(episode, index)
    self._obs[index] = None
    self._episodes[index] = []
