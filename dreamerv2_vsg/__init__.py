"""The agent: world model, actor-critic and exploration. Importing `common` first enables oneDNN."""

import common  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
