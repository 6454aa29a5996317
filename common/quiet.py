"""TensorFlow without its start-up noise: the native notices printed to stderr while it loads.

TF's C++ side prints (twice, once per native library) an absl warning, the oneDNN and CUDA-driver
notices and a CPU-feature note while it is imported, and a cuInit error at the first device query
on a machine without a GPU, and oneDNN a notice the first time it transposes booleans (the
is_first flags); TF_CPP_MIN_LOG_LEVEL does not reach them. import_tensorflow() routes
the process's stderr (file descriptor 2) to a temporary file meanwhile and writes back every line
that is not one of those notices, so real errors and warnings still show.
"""

import contextlib
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r'absl::InitializeLog|oneDNN custom operations|cudart_stub|cuda drivers|cuda_platform|cuInit|'
    r'cpu_feature_guard|This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate|'
    r'Unable to register cu(DNN|FFT|BLAS)|TF-TRT Warning|computation_placer|'
    r'oneDNN supports DT_BOOL only')


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
        if not noise.search(line):
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
