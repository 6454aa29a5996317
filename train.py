"""Trains a world-model agent: python train.py --configs dmc vsg --task dmc_walker_walk --logdir DIR

Configs compose left to right (defaults < domain < method < debug < flags); see configs.yaml. The loop
(dreamerv2_vsg/loop.py) is DreamerV2's: prefill with random actions, pretrain, then one update every
`train_every` agent steps, evaluation every `eval_every` env steps, checkpoints every
`checkpoint_every` env steps and at exit. Running the same command on an existing logdir resumes it.
All step counts are env steps.
"""

import pathlib
import signal
import sys

from common import config as configlib


def main(argv=None):
  config = configlib.parse_or_exit(argv, prog='train.py')
  import envs
  try:
    envs.constructor(config.task, config)  # validates task and settings; starts nothing
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from None
  logdir = pathlib.Path(config.logdir).expanduser()
  logdir.mkdir(parents=True, exist_ok=True)
  config.save(logdir / 'config.yaml')
  # SIGTERM (a cluster's pre-emption) exits through the same path as the end of training.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

  from common import quiet
  quiet.import_tensorflow(config.verbose)  # only once the flags and the task are good
  from dreamerv2_vsg.loop import Loop
  with Loop(config) as loop:
    loop.run()


if __name__ == '__main__':
  main(sys.argv[1:])
