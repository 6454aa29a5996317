"""The device a run trains on, in one line, and what a run records about its software.

  info = describe()  # after quiet.import_tensorflow()
  info['text']       # 'GPU 0: NVIDIA A100-SXM4-40GB, compute capability 8.0' or
                     # 'CPU only: no GPU visible (Could not find cuda drivers on your machine, ...)'

A machine whose GPU TensorFlow cannot use trains on the CPU without an error, so train.py prints
this line first, and `--require_gpu True` refuses to start without a GPU.
"""

import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def describe():
  """{gpu (bool), text, name, compute_capability, gpus, tensorflow, cuda, cudnn} of this process."""
  import tensorflow as tf
  from common import quiet
  build = tf.sysconfig.get_build_info()
  info = {'tensorflow': tf.__version__, 'cuda': build.get('cuda_version') or 'none',
          'cudnn': build.get('cudnn_version') or 'none'}
  gpus = tf.config.list_physical_devices('GPU')
  info['gpus'] = len(gpus)
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get('device_name', gpus[0].name)
    capability = details.get('compute_capability')
    cc = f'{capability[0]}.{capability[1]}' if capability else 'unknown'
    more = f' (+{len(gpus) - 1} more)' if len(gpus) > 1 else ''
    info.update(gpu=True, name=name, compute_capability=cc,
                text=f'GPU 0: {name}, compute capability {cc}{more}')
  else:
    if not build.get('is_cuda_build'):
      reason = 'this TensorFlow build has no CUDA support'
    else:
      reason = 'no GPU visible' + (f' ({"; ".join(quiet.CUDA_NOTES)})' if quiet.CUDA_NOTES else '')
    info.update(gpu=False, name='CPU', compute_capability=None, text=f'CPU only: {reason}')
  return info


def full_sized(config):
  """Whether a config has the `dmc` config's full model size (deter or SVSG size >= 1024, from the
  reference README; the paper gives no size), which a CPU trains in weeks, not hours (the `cpu`
  config is the size for a CPU)."""
  size = config.svsg.size if config.dynamics == 'svsg' else config.rssm.deter
  return size >= 1024


def commit():
  """'<short hash>' of the code, '+dirty' with uncommitted changes, or 'unknown' outside git."""
  try:
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                          text=True, timeout=10)
    if head.returncode:
      return 'unknown'
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=ROOT,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return head.stdout.strip() + ('+dirty' if dirty else '')
  except (OSError, subprocess.SubprocessError):
    return 'unknown'
