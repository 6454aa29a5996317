"""TensorFlow without its start-up noise: the native notices printed to stderr while it loads.

TF's C++ side prints (twice, once per native library) an absl warning, the oneDNN and CUDA-driver
notices and a CPU-feature note while it is imported, and a cuInit error at the first device query
on a machine without a GPU, and oneDNN a notice the first time it transposes booleans (the
is_first flags); TF_CPP_MIN_LOG_LEVEL does not reach them. import_tensorflow() routes
the process's stderr (file descriptor 2) to a temporary file meanwhile and writes back every line
that is not one of those notices, so real errors and warnings still show.

CUDA's lines are not thrown away: a library that failed to load (dlopen, a cuDNN or CUDA version
mismatch) is always written back, and the notices that explain a missing GPU (no driver, cuInit
failed) are kept in CUDA_NOTES, which the device line (common/device.py) names as the reason a
run trains on the CPU.
"""

import contextlib
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r'absl::InitializeLog|oneDNN custom operations|'
    r'cpu_feature_guard|This TensorFlow binary is optimized|'
    r'rebuild TensorFlow with the appropriate|'
    r'Unable to register cu(DNN|FFT|BLAS)|TF-TRT Warning|computation_placer|'
    r'oneDNN supports DT_BOOL only')
# Why no GPU is used: kept for the device line rather than printed twice per native library.
CUDA_NOTE = re.compile(r'cudart_stub|cuda drivers|cuda_platform|cuInit')
# A CUDA library that failed to load: always printed, whatever else is filtered.
CUDA_FAILURE = re.compile(r'dlopen|Could not load dynamic library|Cannot dlopen|cuDNN version|'
                          r'CUDA driver version is insufficient|libcu\w*\.so')
GLOG_PREFIX = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] ')
CUDA_NOTES = []


@contextlib.contextmanager
def filtered_stderr(noise=NOISE):
  """Native and Python writes to stderr inside the block are held back; afterwards every line that
  does not match `noise` is written to stderr."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      for line in held.read().decode(errors='replace').splitlines(keepends=True):
        if CUDA_FAILURE.search(line):
          sys.stderr.write(line)
        elif CUDA_NOTE.search(line):
          note = GLOG_PREFIX.sub('', line.strip())
          if note not in CUDA_NOTES:
            CUDA_NOTES.append(note)
        elif not noise.search(line):
          sys.stderr.write(line)
      sys.stderr.flush()


def import_tensorflow(verbose=False):
  """Imports TensorFlow (and queries its devices once); verbose=True shows everything it prints."""
  if verbose:
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'
    import tensorflow as tf
    return tf
  with filtered_stderr():
    import tensorflow as tf
    tf.config.list_physical_devices('GPU')
    tf.transpose(tf.zeros([1, 2], tf.bool))  # oneDNN's boolean-transpose notice, here and once
  return tf
