"""common/logger.py: metrics.jsonl rows, fps, the terminal line, TensorBoard events and videos."""

import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from common.logger import Logger

LOCAL = ('terminal', 'jsonl')


def rows(logdir):
  """The rows of metrics.jsonl without their wall_seconds, after checking every row has one."""
  rows = [json.loads(line) for line in (logdir / 'metrics.jsonl').read_text().splitlines()]
  for row in rows:
    assert isinstance(row.pop('wall_seconds'), float), row
  return rows


def test_rows_hold_the_int_step_and_the_mean_of_repeated_scalars(tmp_path):
  logger = Logger(tmp_path, step=np.int64(10), outputs=('jsonl',))
  logger.scalar('loss', 1.0)
  logger.scalar('loss', np.float32(3.0))
  logger.add({'return': np.array(5.0), 'total_steps': 7, 'done': True}, prefix='train')
  logger.write()
  logger.write()  # nothing new: no row
  logger.step = 20
  logger.scalar('loss', float('nan'))
  logger.write()
  assert rows(tmp_path) == [
      {'step': 10, 'loss': 2.0, 'train_done': 1.0, 'train_return': 5.0, 'train_total_steps': 7.0},
      {'step': 20, 'loss': None}]  # non-finite values are null: every line stays strict JSON
  assert all(type(row['step']) is int for row in rows(tmp_path))
  assert all(type(v) is float for k, v in rows(tmp_path)[0].items() if k != 'step')


def test_a_second_logger_appends_to_the_same_file(tmp_path):
  first = Logger(tmp_path, step=5, outputs=('jsonl',))
  first.scalar('a', 1)
  first.write()
  second = Logger(tmp_path, step=12, outputs=('jsonl',))
  second.scalar('a', 2)
  second.write()
  assert rows(tmp_path) == [{'step': 5, 'a': 1.0}, {'step': 12, 'a': 2.0}]


def test_a_half_written_last_row_does_not_swallow_the_next_row(tmp_path):
  (tmp_path / 'metrics.jsonl').write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a"')
  logger = Logger(tmp_path, step=3, outputs=('jsonl',))
  logger.scalar('a', 3)
  logger.write()
  lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
  last = json.loads(lines[-1])
  assert {k: last[k] for k in ('step', 'a')} == {'step': 3, 'a': 3.0} and len(lines) == 3


def test_fps_appears_from_the_second_write(tmp_path):
  logger = Logger(tmp_path, outputs=('jsonl',))
  logger.scalar('a', 1)
  logger.write(fps=True)
  logger.step = 1000
  logger.scalar('a', 1)
  logger.write(fps=True)
  first, second = rows(tmp_path)
  assert 'fps' not in first and second['fps'] > 0


def test_the_terminal_line_is_sorted_and_compact(tmp_path, capsys):
  logger = Logger(tmp_path, step=1500, outputs=LOCAL)
  logger.add({'zeta': 0.001234, 'alpha': 12.3456, 'mid': 2345.6, 'big': 1.5e7, 'zero': 0})
  logger.write()
  assert capsys.readouterr().out == ('[1500] alpha 12.3 / big 1.5e7 / mid 2346 / zero 0 / '
                                     'zeta 0.00123\n')


def test_shapes_other_than_scalars_and_videos_are_rejected(tmp_path):
  with pytest.raises(ValueError, match='train_x has shape \\(3,\\)'):
    Logger(tmp_path, outputs=LOCAL).add({'x': np.zeros(3)}, prefix='train')
  with pytest.raises(ValueError, match='unknown outputs'):
    Logger(tmp_path, outputs=('terminal', 'wandb'))


def test_local_outputs_never_import_tensorflow(tmp_path):
  code = ('import sys; from common.logger import Logger; '
          'logger = Logger(sys.argv[1], outputs=("terminal", '
          '"jsonl")); logger.scalar("a", 1); logger.video("v", [[[[0.5]]]]); logger.write(); '
          'assert "tensorflow" not in sys.modules, "TF imported"')
  subprocess.run([sys.executable, '-c', code, str(tmp_path)], check=True, capture_output=True,
                 cwd=pathlib.Path(__file__).resolve().parents[1])


def test_tensorboard_gets_scalars_and_videos(tmp_path):
  tf = pytest.importorskip('tensorflow')
  logger = Logger(tmp_path, step=4, outputs=('tensorboard', 'jsonl'))
  assert list(tmp_path.glob('events.out.tfevents.*'))  # created with the logger
  logger.scalar('loss', 0.5)
  rng = np.random.default_rng(0)
  logger.video('policy', rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8))
  logger.add({'openl': rng.uniform(size=(2, 5, 16, 16, 3)).astype(np.float32)}, prefix='train')
  logger.video('rgba', np.zeros((3, 8, 8, 4)))  # no GIF for 4 channels: a strip of frames instead
  logger.write()
  logger.close()
  assert rows(tmp_path) == [{'step': 4, 'loss': 0.5}]  # videos stay out of metrics.jsonl
  seen = {}
  for path in tmp_path.glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        seen[value.tag] = (event.step, value)
  assert set(seen) == {'loss', 'policy', 'train_openl', 'rgba'}
  assert all(step == 4 for step, _ in seen.values())
  assert seen['loss'][1].simple_value == 0.5
  gif = seen['train_openl'][1].image
  assert gif.encoded_image_string[:6] == b'GIF89a' and (gif.height, gif.width) == (16, 32)
  from PIL import Image
  assert Image.open(io.BytesIO(gif.encoded_image_string)).n_frames == 5
  assert seen['policy'][1].image.encoded_image_string.startswith(b'GIF')
  strip = seen['rgba'][1].image
  assert strip.encoded_image_string[1:4] == b'PNG' and (strip.height, strip.width) == (8, 24)


def test_tensorboard_gets_pictures_and_histograms(tmp_path):
  tf = pytest.importorskip('tensorflow')
  logger = Logger(tmp_path, step=7, outputs=('tensorboard', 'jsonl'))
  logger.image('gates', np.eye(6, 10)[..., None])     # float in [0, 1], one channel
  logger.histogram('rates', [0.0, 0.25, 0.25, 1.0])
  logger.write()
  logger.close()
  assert not (tmp_path / 'metrics.jsonl').exists()     # neither goes to metrics.jsonl
  seen = {value.tag: value for path in tmp_path.glob('events.out.tfevents.*')
          for event in tf.compat.v1.train.summary_iterator(str(path))
          for value in event.summary.value}
  picture = seen['gates'].image
  assert picture.encoded_image_string[1:4] == b'PNG' and (picture.height, picture.width) == (6, 10)
  histo = seen['rates'].histo
  assert (histo.min, histo.max, histo.num, histo.sum) == (0.0, 1.0, 4, 1.5)
  assert sum(histo.bucket) == 4 and histo.bucket_limit[-1] == 1.0


def test_summaries_are_written_by_their_rank(tmp_path):
  logger = Logger(tmp_path, outputs=LOCAL)
  logger.summaries({'loss': 2.0, 'rates': np.linspace(0, 1, 5), 'picture': np.zeros((4, 6, 1)),
                    'clip': np.zeros((3, 4, 6, 3))})
  assert logger._scalars == {'loss': [2.0, 1]}
  assert list(logger._histograms['rates']) == [0.0, 0.25, 0.5, 0.75, 1.0]
  assert logger._videos['picture'].shape == (1, 4, 6, 1) and logger._videos['clip'].shape[0] == 3
  with pytest.raises(ValueError, match=r'grid has shape \(2, 2\); expected rank 0'):
    logger.summaries({'grid': np.zeros((2, 2))})
