"""Trains a world-model agent: python train.py --configs dmc vsg --task dmc_walker_walk --logdir DIR

Configs compose left to right (defaults < domain < method < debug < flags); see configs.yaml.
Today this builds and checks the world model of the chosen config and writes the resolved config to
the logdir; the environment loop (collection, replay, actor-critic, checkpoints) is the next issue.
"""

import pathlib
import sys

from common import config as configlib


def main(argv=None):
  config = configlib.parse_or_exit(argv, prog='train.py')
  logdir = pathlib.Path(config.logdir).expanduser()
  config.save(logdir / 'config.yaml')

  from common import tfutils  # TensorFlow loads only after the flags are known to be good
  from dreamerv2_vsg.world_model import WorldModel

  height, width = config.render_size
  model = WorldModel(config, image_shape=(height, width, 3))
  model.build(action_dim=1)
  params = sum(int(v.numpy().size) for v in model.trainable_variables)
  print(f'logdir: {logdir}')
  print(f'method {config.method} ({config.dynamics}, cell {config.rssm.cell}) on {config.task}: '
        f'world model with {params:,} parameters, precision '
        f'{tfutils.resolve_precision(config.precision)}, jit {tfutils.resolve_jit(config.jit)}')
  print('The environment loop is not built yet (next issue); the config and model check passed.')


if __name__ == '__main__':
  main(sys.argv[1:])
