"""Metrics to the terminal, LOGDIR/metrics.jsonl and TensorBoard (after DreamerV2's Logger).

  logger = Logger(logdir, step=0)         # outputs=('terminal', 'jsonl') never imports TensorFlow
  logger.step = env_steps                 # every row is keyed by int(step)
  logger.add(metrics, prefix='train')     # scalars (averaged until the next write) and videos
  logger.image(name, image)               # one picture; logger.histogram(name, values):
                                          # a distribution
  logger.write(fps=True)                  # one row per output; fps = env steps/s since
                                          # the last write

metrics.jsonl gets one JSON object per write, {"step": int, name: float, ..., "wall_seconds":
float}, appended and flushed as a whole line; non-finite values are written as null so every line
stays strict JSON. wall_seconds counts from the run's start, across resumes (`wall_offset`: the
seconds a resumed run had already run). With `wandb_project`, the scalars also go to Weights &
Biases; if wandb is missing or fails, that output is disabled with one warning and nothing else
changes.
"""

import io
import json
import math
import pathlib
import sys
import time

import numpy as np

OUTPUTS = ('terminal', 'jsonl', 'tensorboard')


class Logger:

  def __init__(self, logdir, step=0, outputs=OUTPUTS, wall_offset=0.0, wandb_project='',
               run_config=None):
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
      raise ValueError(f'Logger: unknown outputs {unknown}; valid outputs: {", ".join(OUTPUTS)}')
    self.logdir = pathlib.Path(logdir).expanduser()
    self.logdir.mkdir(parents=True, exist_ok=True)
    self.step = step
    kinds = {'terminal': _Terminal, 'jsonl': _Jsonl, 'tensorboard': _TensorBoard}
    self._outputs = [kinds[name](self.logdir) for name in OUTPUTS if name in outputs]
    started = time.perf_counter() - float(wall_offset)
    for output in self._outputs:
      if isinstance(output, _Jsonl):
        output.clock = lambda: time.perf_counter() - started
    if wandb_project:
      self._outputs.append(_Wandb(self.logdir, wandb_project, run_config or {}))
    self._scalars = {}  # name -> [sum, count]
    self._videos = {}  # name -> uint8 frames (T, H, W, C); a picture is one frame
    self._histograms = {}  # name -> float64 values
    self._last = None  # (step, time) of the previous write

  def scalar(self, name, value):
    """Accumulates a number (Python, numpy or TensorFlow scalar); write() logs the mean."""
    total = self._scalars.setdefault(str(name), [0.0, 0])
    total[0] += float(np.asarray(value))
    total[1] += 1

  def add(self, mapping, prefix=None):
    """Scalars, and videos as arrays (T, H, W, C) or (B, T, H, W, C); names become prefix_name.
    Anything else is refused: a metrics dict holding a vector is a bug."""
    for name, value in dict(mapping).items():
      name = f'{prefix}_{name}' if prefix else str(name)
      value = np.asarray(value)
      if value.ndim not in (0, 4, 5):
        raise ValueError(f'Logger: {name} has shape {value.shape}; expected a scalar or a video '
                         '(T, H, W, C) or (B, T, H, W, C)')
      self.summaries({name: value})

  def summaries(self, mapping):
    """Each value by its rank: a scalar (0), a histogram of values (1), a picture (H, W, C) (3),
    a video (T, H, W, C) or a batch of them (4, 5)."""
    for name, value in dict(mapping).items():
      value = np.asarray(value)
      write = {0: self.scalar, 1: self.histogram, 3: self.image, 4: self.video,
               5: self.video}.get(value.ndim)
      if write is None:
        raise ValueError(f'Logger: {name} has shape {value.shape}; expected rank 0 (scalar), 1 '
                         '(histogram), 3 (picture) or 4, 5 (video)')
      write(name, value)

  def video(self, name, frames):
    """Frames (T, H, W, C), uint8 or float in [0, 1]; a batch (B, T, H, W, C) is tiled horizontally.
    The last video given under a name before write() is the one written."""
    frames = np.asarray(frames)
    if frames.ndim == 5:
      b, t, h, w, c = frames.shape
      frames = frames.transpose((1, 2, 0, 3, 4)).reshape((t, h, b * w, c))
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
      raise ValueError(f'Logger: video {name} has shape {frames.shape}; expected (T, H, W, 1|3|4)')
    if frames.dtype != np.uint8:
      frames = (np.clip(np.nan_to_num(frames.astype(np.float32)), 0, 1)
                * 255).round().astype(np.uint8)
    self._videos[str(name)] = frames

  def image(self, name, image):
    """A picture (H, W, C), uint8 or float in [0, 1]; TensorBoard gets a PNG."""
    self.video(name, np.asarray(image)[None])

  def histogram(self, name, values):
    """The distribution of an array's values, for TensorBoard's histograms (the last one given)."""
    self._histograms[str(name)] = np.asarray(values, np.float64).ravel()

  def write(self, fps=False):
    """Sends what was added since the last write to every output, then forgets it."""
    step, now = int(self.step), time.perf_counter()
    if fps and self._last is not None and now > self._last[1]:
      self.scalar('fps', (step - self._last[0]) / (now - self._last[1]))
    self._last = (step, now)
    scalars = {name: total / count for name, (total, count) in sorted(self._scalars.items())}
    videos = dict(sorted(self._videos.items()))
    histograms = dict(sorted(self._histograms.items()))
    self._scalars.clear()
    self._videos.clear()
    self._histograms.clear()
    if scalars or videos or histograms:
      for output in self._outputs:
        output(step, scalars, videos, histograms)

  def close(self):
    for output in self._outputs:
      getattr(output, 'close', lambda: None)()


def _format(value):
  """Compact, about 3 significant digits: 0, 12.3, 0.00123, 1234, 1.23e6, -4.5e-5, nan."""
  if math.isfinite(value) and 100 <= abs(value) < 1e6:
    return f'{value:.0f}'
  mantissa, e, exponent = f'{value:.3g}'.partition('e')
  return f'{mantissa}e{int(exponent)}' if e else mantissa


class _Terminal:

  def __init__(self, logdir):
    pass

  def __call__(self, step, scalars, videos, histograms):
    if scalars:
      print(f'[{step}] ' + ' / '.join(f'{name} {_format(v)}' for name, v in scalars.items()),
            flush=True)


class _Jsonl:

  def __init__(self, logdir):
    self.path = logdir / 'metrics.jsonl'
    self.clock = None  # seconds since the run's start, set by the Logger
    # A run killed mid-line (by an older writer) must not glue its partial row to our first row.
    self._newline = False
    if self.path.exists() and self.path.stat().st_size:
      with self.path.open('rb') as f:
        f.seek(-1, 2)
        self._newline = f.read(1) != b'\n'

  def __call__(self, step, scalars, videos, histograms):
    if not scalars:
      return
    row = {'step': step}
    row.update((k, v if math.isfinite(v) else None) for k, v in scalars.items() if k != 'step')
    if self.clock is not None:
      row['wall_seconds'] = round(self.clock(), 1)
    line = ('\n' if self._newline else '') + json.dumps(row) + '\n'
    try:
      with self.path.open('ab', buffering=0) as f:  # unbuffered: the whole line in one write call
        f.write(line.encode())
    except OSError as error:
      error.filename = error.filename or str(self.path)  # a failed write() names no file itself
      raise
    self._newline = False


class _TensorBoard:
  """Legacy `Summary` protos: simple_value scalars and images, videos as animated GIFs (Pillow), as
  upstream. TensorBoard reads them, and unlike tf.summary.scalar/image they need no tensorboard
  package."""

  def __init__(self, logdir, fps=20):
    import tensorflow as tf  # only here: the other outputs work without TensorFlow
    self._tf, self._fps = tf, fps
    self._writer = tf.summary.create_file_writer(str(logdir))

  def __call__(self, step, scalars, videos, histograms):
    tf = self._tf
    summary = tf.compat.v1.Summary()
    for name, value in scalars.items():
      summary.value.add(tag=name, simple_value=value)
    for name, values in histograms.items():
      summary.value.add(tag=name, histo=_histogram(tf, values))
    for name, frames in videos.items():
      encoded, (height, width, channels) = self._encode(name, frames)
      summary.value.add(tag=name, image=tf.compat.v1.Summary.Image(
          height=height, width=width, colorspace=channels, encoded_image_string=encoded))
    with self._writer.as_default():
      tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
    self._writer.flush()

  def _encode(self, name, frames):
    """(GIF bytes, frame shape), a PNG for one frame, or a PNG strip of up to 8 frames where no GIF
    can be made."""
    t, h, w, c = frames.shape
    if t == 1:
      return self._tf.io.encode_png(frames[0]).numpy(), (h, w, c)
    try:
      if c not in (1, 3):
        raise ValueError(f'GIF takes 1 or 3 channels, not {c}')
      return gif_bytes(frames, self._fps), (h, w, c)
    except Exception as e:  # no Pillow, RGBA frames
      print(f'Logger: video {name} as a strip of frames ({type(e).__name__}: {e})', file=sys.stderr)
      strip = frames[np.linspace(0, t - 1, min(t, 8)).astype(int)].transpose((1, 0, 2, 3))
      strip = strip.reshape((h, -1, c))
      return self._tf.io.encode_png(strip).numpy(), strip.shape

  def close(self):
    self._writer.close()


def gif_bytes(frames, fps):
  """An animated GIF of uint8 frames (T, H, W, 1 | 3), one GIF frame per frame.

  One palette for all frames (the frames stacked and quantized once): about 30x faster than
  Pillow's per-frame palettes for an episode. Pillow merges a frame identical to the one before
  into it (their durations add up), so the timing is exact even where frames are fewer."""
  from PIL import Image
  t, h, w, c = frames.shape
  stacked = Image.fromarray(frames.reshape(t * h, w, c)[..., 0] if c == 1
                            else frames.reshape(t * h, w, c))
  if c == 3:
    stacked = stacked.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
  images = [stacked.crop((0, i * h, w, (i + 1) * h)) for i in range(t)]
  buffer = io.BytesIO()
  images[0].save(buffer, format='GIF', save_all=True, append_images=images[1:],
                 duration=max(1, round(1000 / fps)), loop=0)
  return buffer.getvalue()


def _histogram(tf, values, buckets=30):
  """A TensorBoard HistogramProto of the values: equal-width buckets between their min and max."""
  values = values[np.isfinite(values)]
  low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
  counts, edges = np.histogram(values, bins=buckets, range=(low, high if high > low else low + 1))
  return tf.compat.v1.HistogramProto(
      min=low, max=high, num=len(values), sum=float(values.sum()),
      sum_squares=float((values ** 2).sum()), bucket_limit=edges[1:].tolist(),
      bucket=counts.astype(float).tolist())


class _Wandb:
  """Scalars to Weights & Biases (optional; wandb is not a requirement). One run per logdir: its id
  comes from the logdir, so a resumed run continues the same wandb run. Any failure of wandb (not
  installed, no login, no network, an error while logging) disables this output with one warning."""

  def __init__(self, logdir, project, run_config):
    self._wandb = None
    try:
      import hashlib
      import wandb
      run_id = hashlib.sha1(str(logdir.resolve()).encode()).hexdigest()[:16]
      wandb.init(project=project, dir=str(logdir), id=run_id, resume='allow',
                 name='/'.join(logdir.parts[-3:]), config=dict(run_config))
      self._wandb = wandb
    except Exception as error:  # noqa: BLE001 -- whatever wandb raises, training goes on
      self._disable(error)

  def _disable(self, error):
    self._wandb = None
    print(f'warning: the wandb output is disabled ({type(error).__name__}: '
          f'{str(error).splitlines()[0] if str(error) else ""}); training goes on, metrics.jsonl '
          f'and TensorBoard have everything', file=sys.stderr, flush=True)

  def __call__(self, step, scalars, videos, histograms):
    if self._wandb is None or not scalars:
      return
    try:
      self._wandb.log({k: v for k, v in scalars.items() if math.isfinite(v)}, step=step)
    except Exception as error:  # noqa: BLE001
      self._disable(error)

  def close(self):
    if self._wandb is not None:
      try:
        self._wandb.finish()
      except Exception as error:  # noqa: BLE001
        self._disable(error)
