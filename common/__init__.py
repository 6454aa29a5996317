"""Shared building blocks: configs, networks, distributions and TensorFlow utilities.

Importing this package turns on TensorFlow's oneDNN kernels unless the user chose otherwise: TF 2.21
leaves them off on AMD CPUs, which makes a Dreamer training step about 3.5x slower. The variable
must be set before TensorFlow is first imported, so it happens here, before any submodule imports
TF.
"""

import os

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TF's C++ warnings are noise to a user
