"""ShapeHerd demos: a random and a scripted policy, and a GIF of an episode (the whole arena beside
the agent's 64x64 view).

  python -m envs.shapeherd_demo --out /tmp/shapeherd.gif --policy scripted --steps 600
      [--task shapeherd_distract2]
"""

import argparse
import math

import numpy as np
from PIL import Image

from envs.shapeherd import (AGENT_MASS, AGENT_RADIUS, BOUND_RADIUS, DT, GOAL_WIDTH, MAX_FORCE,
                            ShapeHerd)
from envs.shapeherd_tasks import GRAMMAR, parse_task

# the deceleration full force gives (units/s^2); v^2 <= 2 a d, halved
BRAKE = MAX_FORCE / AGENT_MASS


def random_policy(env, rng):
  return rng.uniform(-1, 1, 2).astype(np.float32)


def force_action(force):
  """The action in [-1, 1]^2 for a force vector (clipped to MAX_FORCE)."""
  fx, fy = force
  magnitude = min(math.hypot(fx, fy), MAX_FORCE)
  angle = math.atan2(fy, fx) % (2 * math.pi)
  return np.array([angle / math.pi - 1.0, 2.0 * magnitude / MAX_FORCE - 1.0], np.float32)


class ScriptedPolicy:
  """Pushes objects into the pocket: picks the object nearest to the agent, goes to the point
  behind it on the line from the pocket's centre (around the object if the agent is on the
  wrong side), then pushes along that line. It reads the true state (env.state()), so it is a demo
  of the physics, not an agent. It gives up on an object after `patience` steps without progress."""

  def __init__(self, patience=400):
    self.patience = patience
    self.target, self.since, self.best, self.skip = None, 0, None, {}

  def __call__(self, env, rng):
    state = env.state()
    goal_x, goal_top, goal_bottom = state['goal']
    goal = np.array([goal_x + GOAL_WIDTH * 0.75, (goal_top + goal_bottom) / 2])
    agent = np.array(state['agent']['position'])
    velocity = np.array(state['agent']['velocity'])
    objects = state['objects']
    if not objects:
      return force_action(-velocity * AGENT_MASS * 10)
    t = state['t']
    candidates = [i for i in range(len(objects)) if self.skip.get(self._key(objects[i]), -1) < t]
    candidates = candidates or list(range(len(objects)))
    keys = [self._key(objects[i]) for i in candidates]
    if self.target not in keys:
      index = min(candidates,
                  key=lambda i: np.linalg.norm(np.array(objects[i]['position']) - agent))
      self.target, self.since, self.best = self._key(objects[index]), t, None
    obj = objects[candidates[keys.index(self.target)]]
    position = np.array(obj['position'])
    distance = np.linalg.norm(goal - position)
    if self.best is None or distance < self.best - 5:
      self.best, self.since = distance, t
    elif t - self.since > self.patience:  # stuck: try another object for a while
      self.skip[self.target], self.target = t + 300, None
    # The pushing line bends near the pocket's mouth so objects enter it rather than hit its edges.
    aim = goal if position[0] > goal_x - 60 else np.array(
        [goal_x, np.clip(position[1], goal_top + 40, goal_bottom - 40)])
    u = aim - position
    u /= max(np.linalg.norm(u), 1e-6)
    reach = BOUND_RADIUS[obj['shape']] + AGENT_RADIUS
    behind = position - u * (reach + 8)
    to_object = position - agent
    side = agent - position
    along = float(np.dot(side, u))
    lateral = abs(u[0] * side[1] - u[1] * side[0])  # the agent's distance from the pushing line
    if np.linalg.norm(agent - behind) < 12 or (along < -reach * 0.6 and lateral < reach * 0.5):
      desired = u * 350 + to_object * 0.5  # push along the line, keeping contact
    else:
      waypoint = behind
      if along > -reach * 0.5:  # on the wrong side: go around, on the agent's side of the object
        normal = np.array([-u[1], u[0]])
        if np.dot(normal, side) < 0:
          normal = -normal
        waypoint = position + normal * (reach + 20) - u * (reach * 0.5)
      offset = waypoint - agent
      distance = np.linalg.norm(offset)  # no faster than the agent can brake over what is left
      desired = offset / max(distance, 1e-6) * min(600, 6 * distance, math.sqrt(BRAKE * distance))
    return force_action((desired - velocity) * AGENT_MASS * 8)

  @staticmethod
  def _key(obj):
    return (obj['shape'], obj['color'], round(obj['angle'], 6))


def _frame(env, obs):
  """The render() frame beside the agent's observation, upscaled to the frame's height."""
  frame = env.render()
  height = frame.shape[0]
  view = np.array(Image.fromarray(obs).resize((height, height), Image.NEAREST))
  gap = np.full((height, 8, 3), 255, np.uint8)
  return np.concatenate([frame, gap, view], axis=1)


def write_gif(path, task='shapeherd', policy='random', steps=600, seed=0, every=2):
  """Runs one episode of `steps` env steps (or until it ends) and writes an animated GIF of every
  `every`-th frame. Returns a summary dict."""
  env = ShapeHerd(**parse_task(task))
  act = ScriptedPolicy() if policy == 'scripted' else random_policy
  rng = np.random.default_rng(seed)
  obs, _ = env.reset(seed=seed)
  frames, total, step = [_frame(env, obs)], 0.0, 0
  for step in range(1, steps + 1):
    obs, reward, terminated, truncated, info = env.step(act(env, rng))
    total += reward
    if step % every == 0 or terminated or truncated:
      frames.append(_frame(env, obs))
    if terminated or truncated:
      break
  images = [Image.fromarray(f) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 * DT * every),
                 loop=0)
  return {'path': str(path), 'frames': len(images), 'env_steps': step, 'return': total,
          'scored': env.state()['scored']}


def main(argv=None):
  parser = argparse.ArgumentParser(description='Writes an animated GIF of a ShapeHerd episode: '
                                   'the whole arena (render()) beside the agent\'s 64x64 view, '
                                   'upscaled.')
  parser.add_argument('--out', default='shapeherd.gif')
  parser.add_argument('--policy', choices=('random', 'scripted'), default='random')
  parser.add_argument('--steps', type=int, default=600, help='env steps (at most)')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--task', default='shapeherd', help=GRAMMAR)
  parser.add_argument('--every', type=int, default=2, help='keep every n-th env step as a frame')
  args = parser.parse_args(argv)
  try:
    parse_task(args.task)
  except ValueError as error:
    parser.error(str(error))
  summary = write_gif(args.out, args.task, args.policy, args.steps, args.seed, max(1, args.every))
  print(', '.join(f'{k}: {v}' for k, v in summary.items()))


if __name__ == '__main__':
  main()
