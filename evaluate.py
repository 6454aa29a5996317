"""Evaluates a trained run: python evaluate.py --logdir LOGDIR [--episodes N] [--video PATH]
[--seed S]

Loads LOGDIR/config.yaml and LOGDIR/checkpoint.npz and plays N episodes in fresh evaluation envs
with the policy's mode (the evaluation policy of training). Prints one line per episode and, last,
one line of JSON: {"task", "method", "step", "episodes", "returns", "mean", "std"}, where step is
the env step the checkpoint was written at. Nothing is written into LOGDIR.

  --video PATH   .mp4 or .gif: every episode, one frame per agent step (the observation each action
                 was chosen on: the agent's view, upscaled, beside a larger render of the scene;
                 ShapeHerd: the whole arena), at the env's frame rate
  --gates PATH   .png: the first episode's sparse gates (VSG, SVSG), units (rows) x agent steps
                 (columns), white where a unit updated
  --openloop     the world model's open-loop predictions on the played episodes: windows of
                 OPENL_CONTEXT observed + IMAG_HORIZON imagined steps (the actor's horizon), the
                 recorded actions driving the prior; adds "openloop" to the JSON line: per imagined
                 step the reward's mean absolute error and the image's squared error per pixel, and
                 over windows the true and predicted imagined reward sums and their correlation
  --openloop_from DIR  the same on the newest N (--episodes) training episodes another run (or this
                 one) stored in DIR/train_episodes, so two models can be held against the same data;
                 plays nothing, and the JSON line has no returns

A missing or unreadable config or checkpoint, or a checkpoint that does not fit the config (another
method or size), is one line on stderr and exit code 2.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from common import rundir
from common.rundir import fail
from common.replay import WINDOW_KEYS, stack_windows

VIDEO_TYPES = ('.mp4', '.gif')


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--logdir', required=True, type=pathlib.Path)
  parser.add_argument('--episodes', type=int, default=1)
  parser.add_argument('--video', type=pathlib.Path, help='.mp4 or .gif')
  parser.add_argument('--gates', type=pathlib.Path, help='.png: the first episode\'s gates')
  parser.add_argument('--openloop', action='store_true',
                      help="the world model's open-loop reward and image errors on the episodes")
  parser.add_argument('--openloop_from', type=pathlib.Path,
                      help='a logdir whose newest stored training episodes --openloop uses instead')
  parser.add_argument('--seed', type=int, help='seed of the evaluation envs (default: the run\'s)')
  parser.add_argument('--verbose', action='store_true', help="show TensorFlow's start-up notices")
  args = parser.parse_args(argv)
  if args.episodes < 1:
    parser.error(f'--episodes must be >= 1, got {args.episodes}')
  if args.openloop_from and (args.video or args.gates):
    parser.error('--openloop_from plays no episodes: drop --video and --gates')
  args.openloop = args.openloop or bool(args.openloop_from)
  if args.video and args.video.suffix.lower() not in VIDEO_TYPES:
    parser.error(f'--video must end in {" or ".join(VIDEO_TYPES)}, got {args.video}')
  if args.gates and args.gates.suffix.lower() != '.png':
    parser.error(f'--gates must end in .png, got {args.gates}')
  return args


def side_by_side(view, scene):
  """The agent's view scaled up (nearest) to the scene's height, a white gap, then the scene;
  padded to even sides, as video encoders want."""
  height = scene.shape[0]
  scale = max(1, height // view.shape[0])
  big = np.kron(view, np.ones((scale, scale, 1), np.uint8))
  pad = height - big.shape[0]
  big = np.pad(big, ((pad // 2, pad - pad // 2), (0, 0), (0, 0)), constant_values=255)
  frame = np.concatenate([big, np.full((height, 8, 3), 255, np.uint8), scene], 1)
  return np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)))


OPENL_CONTEXT = 5


def openl_windows(episodes, length, extra=()):
  """Consecutive non-overlapping windows of `length` steps from every episode, each starting like a
  replayed sequence (is_first on its first step), as one batch; `extra` keys (the model's
  mlp_keys) beside WINDOW_KEYS."""
  windows = [{k: episode[k][start:start + length] for k in WINDOW_KEYS + tuple(extra)}
             for episode in episodes
             for start in range(0, len(episode['reward']) - length + 1, length)]
  if not windows:
    fail(f'--openloop needs an episode of at least {length} agent steps')
  return stack_windows(windows)


def openl_summary(agent, episodes, horizon):
  """Open-loop errors of the world model on `episodes` (see --openloop)."""
  data = openl_windows(episodes, OPENL_CONTEXT + horizon, agent.wm.mlp_keys)
  errors = agent.openl_errors(data)
  imagined = slice(OPENL_CONTEXT, None)
  true, pred = data['reward'][:, imagined], errors['reward'][:, imagined]
  return {'windows': len(true), 'context': OPENL_CONTEXT, 'horizon': horizon,
          'reward_mae': np.abs(pred - true).mean(0).round(4).tolist(),
          'image_mse': errors['image_mse'][:, imagined].mean(0).round(5).tolist(),
          'reward_sum_true': float(true.sum(1).mean()),
          'reward_sum_pred': float(pred.sum(1).mean()),
          'reward_sum_corr': float(np.corrcoef(true.sum(1), pred.sum(1))[0, 1])}


def write_video(path, frames, fps):
  path.parent.mkdir(parents=True, exist_ok=True)
  if path.suffix.lower() == '.gif':
    from common.logger import gif_bytes
    path.write_bytes(gif_bytes(np.stack(frames), fps))
  else:
    import imageio.v2 as imageio
    imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  rundir.main_or_exit(run, args)


def run(args):
  config = rundir.load_config(args.logdir, args.seed)
  path = rundir.checkpoint_path(args.logdir)
  import envs
  try:
    envs.constructor(config.task, config, mode='eval')
  except ValueError as e:
    fail(e)
  from common import quiet
  quiet.import_tensorflow(args.verbose)
  from common.driver import Driver
  from dreamerv2_vsg.agent import Agent, gate_picture

  batch = envs.make_batch(config.task, config, 1, mode='eval')
  try:
    space = batch.act_space['action']
    agent = Agent(config, batch.obs_space, batch.act_space, envs.is_discrete(space))
    agent.build()
    step = rundir.restore(agent.checkpoint_variables, path, config)
    if args.gates and not agent.wm.dynamics.gated:
      fail(f'--gates: {config.method} has no sparse gates (only VSG and SVSG do)')
    env, frames, episodes = batch[0], [], []
    if args.openloop_from:
      stored = rundir.stored_episodes(args.openloop_from, args.episodes,
                                      batch.obs_space['image'].shape, agent.action_dim)
      print(json.dumps({'task': config.task, 'method': config.method, 'step': step,
                        'openloop_from': str(args.openloop_from), 'episodes': len(stored),
                        'openloop': openl_summary(agent, stored, config.imag_horizon)}))
      return

    def record(transition, worker):
      if args.video and not transition['is_last']:  # the frames the policy acted on
        frames.append(side_by_side(transition['image'], env.invoke('render')))

    def finish(episode, worker):
      episodes.append(episode)
      steps = len(episode['reward']) - 1
      print(f'episode {len(episodes)}: return {episode["reward"].sum():.1f} in {steps} agent steps '
            f'({steps * config.action_repeat} env steps)', flush=True)

    driver = Driver(batch, int(space.shape[0]), on_step=[record], on_episode=[finish])
    driver(lambda obs, state: agent.policy(obs, state, mode='eval'), episodes=args.episodes)
    if args.video:
      fps = env.invoke('frame_rate')
      write_video(args.video, frames, fps)
      print(f'{args.video}: {len(frames)} frames at {fps:.1f} frames/s', flush=True)
    if args.gates:
      data = {k: episodes[0][k][None] for k in WINDOW_KEYS + agent.wm.mlp_keys}
      report = agent.gate_report(data)
      from PIL import Image
      args.gates.parent.mkdir(parents=True, exist_ok=True)
      Image.fromarray(gate_picture(report['units_time'])[..., 0]).save(args.gates)
      print(f'{args.gates}: {report["units_time"].shape[1]} units x {len(data["image"][0])} steps, '
            f'open rate {report["unit_open_rate"].mean():.3f}, {report["always_closed"]:.0f} '
            f'units never opened, gate probability std over time {report["prob_time_std"]:.3f}',
            flush=True)
    openloop = openl_summary(agent, episodes, config.imag_horizon) if args.openloop else None
  finally:
    batch.close()
  returns = [float(episode['reward'].sum()) for episode in episodes]
  result = {'task': config.task, 'method': config.method, 'step': step, 'episodes': len(returns),
            'returns': returns, 'mean': float(np.mean(returns)), 'std': float(np.std(returns))}
  if openloop:
    result['openloop'] = openloop
  print(json.dumps(result))


if __name__ == '__main__':
  main()
