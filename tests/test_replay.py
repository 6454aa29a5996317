"""common/replay.py: episode files, reloading, bad files, chunk sampling and its distribution."""

import re
import uuid
import warnings

import numpy as np
import pytest

from common.replay import Replay, newest_episodes

NAME = re.compile(r'\d{8}T\d{12}-[0-9a-f]{32}-(\d+)\.npz')


def make_episode(eid, total, image_shape=(8, 8, 3), action_dim=2):
  """`total` entries; reward = 1000 * eid + index, so a chunk tells where it came from."""
  index = np.arange(total)
  return {
      'image': np.full((total,) + image_shape, eid % 256, np.uint8),
      'action': np.tile(index[:, None], (1, action_dim)).astype(np.float32),
      'reward': (1000 * eid + index).astype(np.float32),
      'is_first': index == 0,
      'is_last': index == total - 1,
      'is_terminal': np.zeros(total, bool),
  }


def episode_files(directory):
  return sorted(p for p in directory.iterdir() if p.suffix == '.npz')


def bad_name(steps):
  return f'20000101T000000000000-{uuid.uuid4().hex}-{steps}.npz'


def test_add_episode_writes_a_named_compressed_file_that_round_trips(tmp_path):
  replay = Replay(tmp_path / 'new' / 'dir')
  episode = make_episode(3, 11)
  episode['log_extra'] = np.arange(11)
  path = replay.add_episode(episode)
  assert [p.name for p in (tmp_path / 'new' / 'dir').iterdir()] == [path.name]  # no .tmp leftover
  assert int(NAME.fullmatch(path.name).group(1)) == 10  # steps = entries - 1
  with np.load(path) as data:
    assert sorted(data.files) == sorted(episode)
    for key, value in episode.items():
      np.testing.assert_array_equal(data[key], value)
    assert data['reward'].dtype == np.float32 and data['log_extra'].dtype == np.int32
  assert replay.stats == {'total_steps': 10, 'total_episodes': 1, 'loaded_steps': 10,
                          'loaded_episodes': 1}


def test_add_step_saves_each_worker_episode_on_is_last(tmp_path):
  replay = Replay(tmp_path)
  episodes = {0: make_episode(1, 6), 1: make_episode(2, 4)}
  for t in range(6):
    for worker, episode in episodes.items():
      if t < len(episode['reward']):
        step = {key: value[t] for key, value in episode.items()}
        step['reward'] = float(step['reward'])  # Python floats are stored as float32
        step['extra'] = np.array([t, t])  # any key is kept
        replay.add_step(step, worker)
    if t == 2:
      assert episode_files(tmp_path) == []
  assert sorted(int(NAME.fullmatch(p.name).group(1)) for p in episode_files(tmp_path)) == [3, 5]
  assert replay.stats['total_steps'] == 8 and replay.stats['loaded_episodes'] == 2
  batch = replay.sample(4, 6)  # only worker 0's episode is long enough
  np.testing.assert_array_equal(batch['reward'], np.tile(1000 + np.arange(6.0), (4, 1)))
  assert batch['reward'].dtype == np.float32 and batch['extra'].shape == (4, 6, 2)


def test_reset_before_is_last_drops_the_unfinished_episode(tmp_path):
  replay = Replay(tmp_path)
  episode = make_episode(1, 5)
  for t in range(3):
    replay.add_step({key: value[t] for key, value in episode.items()})
  with pytest.warns(RuntimeWarning, match='dropping its 3 unfinished'):
    for t in range(5):
      replay.add_step({key: value[t] for key, value in episode.items()})
  assert replay.stats['total_steps'] == 4


def test_drop_ongoing_forgets_abandoned_episodes_quietly(tmp_path):
  replay = Replay(tmp_path)
  episode = make_episode(1, 5)
  for t in range(3):
    replay.add_step({key: value[t] for key, value in episode.items()}, worker=1)
  replay.drop_ongoing()
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    for t in range(5):
      replay.add_step({key: value[t] for key, value in episode.items()}, worker=1)
  assert replay.stats == {'total_steps': 4, 'total_episodes': 1, 'loaded_steps': 4,
                          'loaded_episodes': 1}


def test_a_new_replay_loads_the_saved_episodes(tmp_path):
  replay = Replay(tmp_path, seed=1)
  for eid in range(3):
    replay.add_episode(make_episode(eid, 20 + eid))
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    resumed = Replay(tmp_path, seed=1)
  assert resumed.stats == replay.stats == {'total_steps': 60, 'total_episodes': 3,
                                           'loaded_steps': 60, 'loaded_episodes': 3}
  original, reloaded = replay.sample(50, 20), resumed.sample(50, 20)
  for key, value in original.items():  # same episodes in the same order, same seed, same chunks
    np.testing.assert_array_equal(reloaded[key], value)
  first, second = Replay(tmp_path, seed=7).sample(8, 10), Replay(tmp_path, seed=7).sample(8, 10)
  for key in first:
    np.testing.assert_array_equal(first[key], second[key])


def _zero_bytes(path, good):
  path.write_bytes(b'')


def _truncated_zip(path, good):
  path.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])


def _not_numpy(path, good):
  path.write_bytes(b'definitely not a zip file' * 10)


def _missing_key(path, good):
  episode = make_episode(9, 21)
  del episode['action']
  np.savez_compressed(path, **episode)


def _inconsistent_lengths(path, good):
  episode = make_episode(9, 21)
  episode['reward'] = episode['reward'][:-1]
  np.savez_compressed(path, **episode)


def _wrong_name_length(path, good):
  np.savez_compressed(path, **make_episode(9, 30))


@pytest.mark.parametrize('corrupt', [_zero_bytes, _truncated_zip, _not_numpy, _missing_key,
                                     _inconsistent_lengths, _wrong_name_length])
def test_a_bad_episode_file_is_skipped_with_a_warning_naming_it(tmp_path, corrupt):
  replay = Replay(tmp_path)
  good = [replay.add_episode(make_episode(eid, 21)) for eid in range(2)]
  bad = tmp_path / bad_name(20)
  corrupt(bad, good[0])
  with pytest.warns(RuntimeWarning, match=re.escape(str(bad))):
    resumed = Replay(tmp_path)
  assert resumed.stats == {'total_steps': 40, 'total_episodes': 2, 'loaded_steps': 40,
                           'loaded_episodes': 2}
  assert bad.exists()  # never deleted
  assert set(resumed.sample(10, 21)['reward'][:, 0] // 1000) <= {0, 1}


def test_newest_episodes_reads_the_last_files_oldest_first_and_skips_bad_ones(tmp_path):
  replay = Replay(tmp_path)
  for eid in range(3):
    replay.add_episode(make_episode(eid, 21))
  bad = tmp_path / bad_name(20).replace('20000101', '29991231')  # the newest name
  _truncated_zip(bad, episode_files(tmp_path)[0])
  with pytest.warns(RuntimeWarning, match=re.escape(str(bad))):
    episodes = newest_episodes(tmp_path, 2)
  assert [int(e['reward'][0]) // 1000 for e in episodes] == [1, 2]
  assert episodes[0]['image'].shape == (21, 8, 8, 3)
  assert newest_episodes(tmp_path / 'nothing', 2) == []
  _wrong_name_length(bad, None)                 # readable, but not the steps its name says
  with pytest.warns(RuntimeWarning, match='the name says 20 steps'):
    assert [int(e['reward'][0]) // 1000 for e in newest_episodes(tmp_path, 1)] == [2]


def test_leftover_temporary_files_are_ignored(tmp_path):
  replay = Replay(tmp_path)
  replay.add_episode(make_episode(0, 21))
  (tmp_path / f'.{bad_name(20)}.tmp').write_bytes(b'half an episode')  # a killed write
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    resumed = Replay(tmp_path)
  assert resumed.stats['loaded_episodes'] == 1 and resumed.stats['total_episodes'] == 1


def test_chunks_lie_inside_one_episode_and_start_with_is_first(tmp_path):
  replay = Replay(tmp_path, seed=3)
  totals = {0: 50, 1: 51, 2: 80, 3: 49, 4: 200}  # episode 3 is too short for length 50
  for eid, total in totals.items():
    replay.add_episode(make_episode(eid, total, image_shape=(64, 64, 3), action_dim=3))
  batch = replay.sample(120, 50)
  assert {k: v.shape for k, v in batch.items()} == {
      'image': (120, 50, 64, 64, 3), 'action': (120, 50, 3), 'reward': (120, 50),
      'is_first': (120, 50), 'is_last': (120, 50), 'is_terminal': (120, 50)}
  assert batch['image'].dtype == np.uint8 and batch['is_first'].dtype == bool
  eid, index = batch['reward'] // 1000, batch['reward'] % 1000
  assert (eid == eid[:, :1]).all()  # one episode per chunk
  assert (np.diff(index, axis=1) == 1).all()  # consecutive entries
  assert (batch['image'] == eid[:, :, None, None, None]).all()
  assert (batch['action'] == index[:, :, None]).all()
  assert (index[:, -1] < np.array([totals[e] for e in eid[:, 0]])).all()
  assert batch['is_first'][:, 0].all() and not batch['is_first'][:, 1:].any()
  counts = np.bincount(eid[:, 0].astype(int), minlength=5)
  assert counts[3] == 0 and (counts[[0, 1, 2, 4]] > 12).all()  # episodes are picked uniformly
  assert (batch['is_last'][:, -1] == (index[:, -1] == [totals[e] - 1 for e in eid[:, 0]])).all()


def test_window_starts_are_uniform_without_prioritize_ends(tmp_path):
  replay = Replay(tmp_path, seed=0)
  replay.add_episode(make_episode(0, 60))
  starts = np.concatenate([replay.sample(1000, 50)['reward'][:, 0] for _ in range(22)]).astype(int)
  counts = np.bincount(starts, minlength=11)
  assert len(counts) == 11  # windows 0..10
  expected = len(starts) / 11
  chi2 = ((counts - expected) ** 2 / expected).sum()
  assert chi2 < 29.6  # 99.9% quantile of chi-square with 10 degrees of freedom


@pytest.mark.parametrize('total,minlen', [(100, 50), (60, 10)])
def test_prioritize_ends_oversamples_the_last_window(tmp_path, total, minlen):
  length = 50
  replay = Replay(tmp_path, minlen=minlen, prioritize_ends=True, seed=0)
  replay.add_episode(make_episode(0, total))
  starts = np.concatenate([replay.sample(1000, length)['reward'][:, 0] for _ in range(20)])
  last = total - length
  expected = (minlen + 1) / (total - length + 1 + minlen)
  assert abs(np.mean(starts == last) - expected) < 0.015
  assert abs(np.mean(starts == 0) - 1 / (total - length + 1 + minlen)) < 0.01
  assert starts.max() == last


def test_capacity_keeps_the_newest_episodes_in_memory_and_all_on_disk(tmp_path):
  replay = Replay(tmp_path, capacity=250)
  for eid in range(4):
    replay.add_episode(make_episode(eid, 101))  # 100 steps each
  assert replay.stats == {'total_steps': 400, 'total_episodes': 4, 'loaded_steps': 200,
                          'loaded_episodes': 2}
  assert len(episode_files(tmp_path)) == 4
  assert set(replay.sample(50, 101)['reward'][:, 0] // 1000) == {2, 3}
  resumed = Replay(tmp_path, capacity=250)
  assert resumed.stats == replay.stats
  assert set(resumed.sample(50, 101)['reward'][:, 0] // 1000) == {2, 3}
  assert Replay(tmp_path).stats['loaded_episodes'] == 4
  assert Replay(tmp_path, capacity=50).stats['loaded_episodes'] == 1  # at least one episode


def test_sampling_with_nothing_long_enough_is_a_clear_error(tmp_path):
  replay = Replay(tmp_path)
  with pytest.raises(ValueError, match='chunks of 50 entries: none of its 0 loaded episodes'):
    replay.sample(2, 50)
  replay.add_episode(make_episode(0, 30))
  episode = make_episode(1, 80)
  for t in range(60):  # unfinished: never sampled
    replay.add_step({key: value[t] for key, value in episode.items()})
  with pytest.raises(ValueError, match=r'1 loaded episodes \(29 steps, longest 30 entries\).*60 '
                                       'entries of unfinished'):
    replay.sample(2, 50)


def test_add_episode_rejects_a_malformed_episode(tmp_path):
  episode = make_episode(0, 10)
  episode['reward'] = episode['reward'][:5]
  with pytest.raises(ValueError, match='inconsistent numbers of entries'):
    Replay(tmp_path).add_episode(episode)
  assert list(tmp_path.iterdir()) == []


def test_dataset_yields_the_seeded_sequence_of_batches(tmp_path):
  replay = Replay(tmp_path, seed=5)
  for eid in range(3):
    replay.add_episode(make_episode(eid, 40))
  reference = Replay(tmp_path, seed=5)
  expected = [reference.sample(4, 10)['reward'] for _ in range(5)]
  dataset = replay.dataset(4, 10)
  for want in expected:
    np.testing.assert_array_equal(next(dataset)['reward'], want)

