"""TensorFlow plumbing: precision, variable collection, scans, traced functions and optimizers."""

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# Precision

# Resolved precision -> (Keras dtype policy, compute dtype). Variables, distributions and losses
# stay float32 under every policy (spec e.9); only float16 needs loss scaling (bfloat16 has
# float32's range).
PRECISIONS = {32: ('float32', tf.float32), 16: ('mixed_float16', tf.float16),
              'bf16': ('mixed_bfloat16', tf.bfloat16)}


def resolve_precision(precision):
  """Maps the `precision` config value (32, 16, bf16 or 'auto') to 32, 16 or 'bf16'.

  'auto' picks 16 on a GPU and 32 on a CPU: float16 matmuls are no faster than float32 on the CPUs
  we measured, while the casts cost time.
  """
  value = str(precision).strip().lower()
  if value == 'auto':
    return 16 if tf.config.list_physical_devices('GPU') else 32
  if value in ('16', '32'):
    return int(value)
  if value == 'bf16':
    return value
  raise ValueError(f"precision must be 32, 16, bf16 or 'auto', got {precision!r}")


@dataclasses.dataclass(frozen=True)
class Precision:
  """A resolved `precision`, the one value the networks and optimizers take: its name (32, 16 or
  'bf16'), the Keras dtype policy of the layers, the compute dtype, and whether the optimizers
  scale the loss (float16 only)."""
  name: object
  policy: str
  dtype: tf.DType

  @property
  def loss_scaling(self):
    return self.name == 16

  def __str__(self):
    return str(self.name)


def as_precision(precision):
  """The Precision of a config value (32, 16, bf16 or 'auto', resolved here once), or `precision`
  itself when it is one already."""
  if isinstance(precision, Precision):
    return precision
  name = resolve_precision(precision)
  return Precision(name, *PRECISIONS[name])


def setup_gpus(memory_growth=True):
  """Call before TensorFlow touches a GPU. With memory growth a run maps GPU memory as it needs it,
  so a second run (or an evaluation) fits on the same GPU; without it, the first run maps it all."""
  for gpu in tf.config.list_physical_devices('GPU'):
    tf.config.experimental.set_memory_growth(gpu, memory_growth)


def resolve_jit(jit):
  """Maps the `jit` config value (True, False or 'auto') to a bool.

  'auto' compiles with XLA on a GPU only: on the 2-core CPU we measured, XLA made the world-model
  step 2x slower and tripled peak memory (its CPU convolutions do not use oneDNN).
  """
  value = str(jit).strip().lower()
  if value == 'auto':
    return bool(tf.config.list_physical_devices('GPU'))
  if value in ('true', 'false', '1', '0'):
    return value in ('true', '1')
  raise ValueError(f"jit must be True, False or 'auto', got {jit!r}")


def policy(precision):
  """The Keras dtype policy: float32, or float16 / bfloat16 compute with float32 variables."""
  return as_precision(precision).policy


def compute_dtype(precision):
  return as_precision(precision).dtype


# ------------------------------------------------------------------------------------------------
# Modules

class Module:
  """A plain container of Keras layers and other modules.

  Keras 3 layers are not tf.Modules, so `tf.Module.variables` would miss them; this class walks its
  attributes instead, in insertion order, so the variable order is stable (checkpoints rely on it).
  """

  @property
  def variables(self):
    return _collect(self, trainable=False)

  @property
  def trainable_variables(self):
    return _collect(self, trainable=True)


def _collect(root, trainable):
  found, seen = [], set()

  def visit(obj):
    if isinstance(obj, keras.layers.Layer):
      for var in (obj.trainable_variables if trainable else obj.variables):
        if id(var) not in seen:
          seen.add(id(var))
          found.append(var)
    elif isinstance(obj, Module):
      for value in vars(obj).values():
        visit(value)
    elif isinstance(obj, (list, tuple)):
      for value in obj:
        visit(value)
    elif isinstance(obj, dict):
      for value in obj.values():
        visit(value)

  visit(root)
  return found


# ------------------------------------------------------------------------------------------------
# Structures and loops

def map_structure(fn, *structures):
  return tf.nest.map_structure(fn, *structures)


def swap_time(structure):
  """Batch-major (B, T, ...) <-> time-major (T, B, ...), for every tensor of a nested structure."""
  def swap(x):
    return tf.transpose(x, [1, 0] + list(range(2, len(x.shape))))
  return map_structure(swap, structure)


def scan(fn, inputs, start):
  """tf.scan over the leading (time) axis of nested inputs.

  A symbolic loop rather than a Python-unrolled one: graph size and XLA compile time stay constant
  in the sequence length.
  """
  return tf.scan(fn, inputs, start)


def reshape_tail(x, drop, shape):
  """Replaces the last `drop` axes of x by `shape`, keeping leading axes and static shapes."""
  rank = len(x.shape)
  out = tf.reshape(x, tf.concat([tf.shape(x)[:rank - drop], shape], 0))
  out.set_shape(x.shape[:rank - drop].concatenate(shape))
  return out


def unfold(x, lead, lead_dynamic, keep=1):
  """Restores folded leading axes: x (N, ...) -> (*lead, ...), flattening all but `keep` trailing
  axes into one when keep == 1 (an embedding) or keeping the last `keep` axes as they are (an
  image)."""
  tail = x.shape[1:].as_list()
  if keep == 1:
    tail = [int(np.prod(tail))]
  out = tf.reshape(x, tf.concat([lead_dynamic, tail], 0))
  out.set_shape(lead.concatenate(tail))
  return out


def var_name(var):
  """A variable's name for messages: Keras variables have a path, tf.Variables a name."""
  return getattr(var, 'path', None) or var.name


def mask_batch(x, keep):
  """Multiplies each batch element of x (B, ...) by keep (B,), whatever the rank of x."""
  keep = tf.cast(keep, x.dtype)
  return x * tf.reshape(keep, [-1] + [1] * (len(x.shape) - 1))


class TracedFunction:
  """A tf.function that counts its traces and warns when it is traced more than once.

  A retrace of a training step costs as much as the first compile; it usually means an input changed
  shape or dtype, or a Python value was passed where a tensor was expected.
  """

  def __init__(self, fn, jit=False, name=None):
    self.name = name or fn.__name__
    self.traces = 0

    def traced(*args, **kwargs):
      self.traces += 1
      if self.traces > 1:
        logger.warning('%s traced %d times: inputs changed shape or dtype', self.name, self.traces)
      return fn(*args, **kwargs)

    # No AutoGraph: the steps hold no Python control flow on tensors (loops are tf.scan), and
    # converting their source took ~2.5 s of an `upstream_dmc` first call (of ~4.9 s of tracing).
    self._fn = tf.function(traced, jit_compile=resolve_jit(jit), reduce_retracing=False,
                           autograph=False)

  def __call__(self, *args, **kwargs):
    return self._fn(*args, **kwargs)


# ------------------------------------------------------------------------------------------------
# Optimizer

class Optimizer:
  """Adam with global-norm clipping, decoupled weight decay and, under float16, dynamic loss
  scaling.

  Weight decay is applied as var <- (1 - wd) var before the Adam step and is not scaled by the
  learning rate, as in DreamerV2 (spec e.10). Steps whose gradients overflow are skipped, weight
  decay included.
  """

  def __init__(self, name, lr, eps=1e-5, clip=100.0, wd=0.0, precision=32):
    self.name = name
    self._wd = float(wd)
    inner = keras.optimizers.Adam(
        learning_rate=lr, epsilon=eps, global_clipnorm=float(clip) if clip else None, name=name)
    self._mixed = as_precision(precision).loss_scaling
    self._opt = (keras.optimizers.LossScaleOptimizer(inner, name=name + '_scaled') if self._mixed
                 else inner)

  @property
  def variables(self):
    return list(self._opt.variables)

  def build(self, variables):
    """Creates the slot variables eagerly, so traced training steps never create variables."""
    self._opt.build(variables)

  def minimize(self, tape, loss, variables):
    """Applies one step on `loss` (a float32 scalar recorded on `tape`) and returns metrics."""
    if loss.dtype != tf.float32:
      raise TypeError(f'{self.name} loss must be float32, got {loss.dtype.name}')
    scaled = loss
    if self._mixed:
      with tape:  # resumes recording, so the scaling is part of the differentiated graph
        scaled = self._opt.scale_loss(loss)
    grads = tape.gradient(scaled, variables)
    missing = [var_name(var) for var, grad in zip(variables, grads) if grad is None]
    if missing:
      raise ValueError(f'{self.name}: no gradient reaches {missing}')
    with tf.name_scope(f'{self.name}_opt'):
      scale = self._opt.dynamic_scale if self._mixed else tf.constant(1.0)
      norm = tf.linalg.global_norm(grads) / scale
      if self._wd:
        decay = tf.where(tf.math.is_finite(norm), 1.0 - self._wd, 1.0)
        for var in variables:
          var.assign(var * decay)
      self._opt.apply_gradients(zip(grads, variables))
    metrics = {f'{self.name}_loss': loss, f'{self.name}_grad_norm': norm}
    if self._mixed:
      metrics[f'{self.name}_loss_scale'] = scale
    return metrics
