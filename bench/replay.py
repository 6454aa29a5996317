"""Times Replay.sample on synthetic DMC-sized episodes (501 entries of 64x64x3 images).

  python -m bench.replay --episodes 20 --batch 16 --length 50 [--samples 50] [--prioritize-ends]

Fills a Replay in a temporary directory, reloads it (as a resumed run does), then times sample().
Prints one line per figure and, as its last line, one JSON object with median_s, min_s, max_s (per
batch) and batches_per_s.
"""

import argparse
import json
import pathlib
import statistics
import tempfile
import time

import numpy as np

from common.replay import Replay


def synthetic_episode(rng, entries, action_dim):
  # A gradient plus 5 bits of noise per pixel: harder to compress than rendered frames
  # (pessimistic).
  base = np.linspace(0, 200, 64, dtype=np.float32)[None, :, None, None]
  noise = rng.integers(0, 32, (entries, 64, 64, 3)).astype(np.float32)
  index = np.arange(entries)
  return {
      'image': (base + noise).astype(np.uint8),
      'action': rng.uniform(-1, 1, (entries, action_dim)).astype(np.float32),
      'reward': rng.normal(size=entries).astype(np.float32),
      'is_first': index == 0,
      'is_last': index == entries - 1,
      'is_terminal': np.zeros(entries, bool),
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--episodes', type=int, default=20)
  parser.add_argument('--entries', type=int, default=501,
                      help='entries per episode (reset + steps)')
  parser.add_argument('--batch', type=int, default=16)
  parser.add_argument('--length', type=int, default=50)
  parser.add_argument('--samples', type=int, default=50, help='timed sample() calls')
  parser.add_argument('--action-dim', type=int, default=6)
  parser.add_argument('--prioritize-ends', action='store_true')
  args = parser.parse_args(argv)
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as directory:
    replay = Replay(directory, prioritize_ends=args.prioritize_ends)
    episodes = [synthetic_episode(rng, args.entries, args.action_dim) for _ in range(args.episodes)]
    start = time.perf_counter()
    for episode in episodes:
      replay.add_episode(episode)
    save_s = (time.perf_counter() - start) / args.episodes
    disk_mb = sum(p.stat().st_size for p in pathlib.Path(directory).glob('*.npz')) / 2 ** 20
    start = time.perf_counter()
    replay = Replay(directory, prioritize_ends=args.prioritize_ends)
    load_s = time.perf_counter() - start
    replay.sample(args.batch, args.length)  # warm-up
    times = []
    for _ in range(args.samples):
      start = time.perf_counter()
      replay.sample(args.batch, args.length)
      times.append(time.perf_counter() - start)
  result = {
      'episodes': args.episodes, 'entries': args.entries, 'batch': args.batch,
      'length': args.length,
      'samples': args.samples, 'save_s_per_episode': round(save_s, 4), 'disk_mb': round(disk_mb, 1),
      'load_s': round(load_s, 3), 'median_s': round(statistics.median(times), 6),
      'min_s': round(min(times), 6), 'max_s': round(max(times), 6),
      'batches_per_s': round(1 / statistics.median(times), 1),
  }
  print(f'save: {save_s:.3f} s per episode ({disk_mb / args.episodes:.2f} MiB compressed each)')
  print(f'load: {load_s:.2f} s for {args.episodes} episodes ({replay.stats["loaded_steps"]} steps)')
  print(f'sample({args.batch}, {args.length}): median {result["median_s"] * 1e3:.2f} ms, '
        f'min {result["min_s"] * 1e3:.2f} ms, max {result["max_s"] * 1e3:.2f} ms, '
        f'{result["batches_per_s"]} batches/s')
  print(json.dumps(result))


if __name__ == '__main__':
  main()
