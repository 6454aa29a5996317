"""Does a world model remember objects it no longer sees? A linear probe of the model state on
ShapeHerd (issue 26; the paper's claim of Sections 1, 3 and 5.1, tested directly).

  python -m analysis.memory --root ~/runs/memory --methods dreamerv2 vsg svsg --seeds 0 1 2
  python -m analysis.memory --root ~/runs/memory --results results/memory   # copy the outputs

Four stages, each skipped when its output exists, so the same command resumes a killed run:
1. data: `--episodes` training and `--heldout` held-out episodes of one fixed behaviour policy
   (analysis/memory_data.py: the scripted policy with noise, objects of distinct colours), with
   every object's position and visibility beside the images, in ROOT/data/{train,heldout}/.
2. train: the world model alone (encoder, dynamics, decoder, reward and discount heads; no actor or
   critic) of each method and seed, `--updates` updates on batches of the training episodes,
   config `--configs shapeherd METHOD cpu` (the `cpu` widths: deter/hidden 200, CNN depth 16,
   16 x 50 batches) plus `--flags`. The same episodes train every model, so exploration plays no
   part. ROOT/models/METHOD/SEED/{checkpoint.npz, train.jsonl, config.yaml}.
3. probe: the posterior of each model over the held-out episodes (sampled, as when acting); a
   ridge probe per object from the model's features (what the heads and actor see) to the object's
   position, fitted on the first half of the held-out episodes; on the second half, the probe's
   error per bin of agent steps since the object was last in view (analysis/probe.py BINS), beside
   the errors of its last seen position and of its mean position. Two kinds of probe: one over
   every step (mode `posterior`) and one per bin (mode `binned`, the measurement; probe.py says
   why), the latter beside the same probes of the frame itself (`frame_error`: what the view
   alone holds, so a model beating it out of view remembers); and the same for each object's
   position relative to the agent (mode `relative`), which a model that sees the object but does
   not know where it is itself still encodes; and whether the model draws the objects at all
   (`PixelErrors`: reconstruction error on object pixels against a picture without them). Then
   open loop: from states every 10 steps, the prior imagines 5, 15 and 50 steps with the recorded
   actions, and the same probes read the imagined states (bins then count from the model's last
   observation; modes `openloop` and `openloop_binned`).
   ROOT/models/METHOD/SEED/probe.json.
4. report: ROOT/memory.json (the records of every model) and ROOT/memory.png (error against steps
   out of view per method: mean over seeds and the seeds' range).
"""

import argparse
import json
import pathlib
import shutil
import sys
import time

import numpy as np

from analysis import memory_data
from analysis import probe as probelib

HORIZONS = (5, 15, 50)     # open-loop steps after the last observation
OPENLOOP_EVERY = 10        # agent steps between open-loop starts
CHECKPOINT_EVERY = 250     # updates
EVAL_CHUNK = 4             # held-out episodes per posterior call (memory: 751 frames each)
PROBE_VERSION = 3          # 2: probes per bin, frame reference; 3: also for the one probe


def parse_args(argv):
  parser = argparse.ArgumentParser(
      prog='python -m analysis.memory', description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--root', required=True, type=pathlib.Path, help='where data and models live')
  parser.add_argument('--methods', nargs='+', default=['dreamerv2', 'vsg', 'svsg'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
  parser.add_argument('--episodes', type=int, default=60,
                      help='training episodes (750 agent steps)')
  parser.add_argument('--heldout', type=int, default=120,
                      help='held-out episodes: half fit, half test')
  parser.add_argument('--updates', type=int, default=3000, help='world-model updates per model')
  parser.add_argument('--data_seed', type=int, default=0, help='seed of the first training episode')
  parser.add_argument('--size', default='cpu',
                      help="the config that sizes the models: cpu, or debug for a quick check")
  parser.add_argument('--flags', default='',
                      help="train.py flags for every model, e.g. '--precision 16'")
  parser.add_argument('--results', type=pathlib.Path, help='copy memory.json, memory.png, the '
                      "models' train.jsonl and config.yaml here (no checkpoints, no data)")
  parser.add_argument('--stages', nargs='+', default=['data', 'train', 'probe', 'report'],
                      choices=['data', 'train', 'probe', 'report'])
  args = parser.parse_args(argv)
  for name in ('episodes', 'heldout', 'updates'):
    if getattr(args, name) < (2 if name == 'heldout' else 1):
      parser.error(f'--{name} must be at least {2 if name == "heldout" else 1}, '
                   f'got {getattr(args, name)}')
  from common import config as configlib
  for method in args.methods:
    try:
      model_config(method, 0, args.flags, args.size)
    except configlib.ConfigError as error:
      parser.error(str(error))
  return args


def model_config(method, seed, flags='', size='cpu'):
  from common import config as configlib
  return configlib.parse(['--configs', 'shapeherd', method, size, '--seed', str(seed),
                          *flags.split()])


# ------------------------------------------------------------------------------------------------
# Stages

def stage_data(args):
  for name, count, seed in (('train', args.episodes, args.data_seed),
                            ('heldout', args.heldout, args.data_seed + 100_000)):
    start = time.perf_counter()
    written = memory_data.write_episodes(args.root / 'data' / name, count, seed)
    if written:
      print(f'data: wrote {written} {name} episodes in {time.perf_counter() - start:.0f} s',
            flush=True)


def stage_train(args, method, seed):
  """Trains one world model to args.updates updates, resuming from its checkpoint."""
  import tensorflow as tf
  from common import checkpoint
  from common import replay
  from dreamerv2_vsg.world_model import WorldModel
  from dreamerv2_vsg.agent import tensors
  from common import tfutils
  out = args.root / 'models' / method / str(seed)
  out.mkdir(parents=True, exist_ok=True)
  config = model_config(method, seed, args.flags, args.size)
  settings = {'method': method, 'seed': seed, 'size': args.size, 'flags': args.flags,
              'episodes': args.episodes, 'data_seed': args.data_seed}
  saved = out / 'settings.json'
  if saved.exists() and json.loads(saved.read_text()) != settings:
    raise SystemExit(f'error: {out} holds a model trained with {saved.read_text().strip()}, not '
                     f'{json.dumps(settings)}: use another --root or the same settings')
  saved.write_text(json.dumps(settings))
  config.save(out / 'config.yaml')
  tf.random.set_seed(seed)
  wm = WorldModel(config)
  wm.build(2)
  variables = wm.variables + wm.opt.variables
  path, done = out / 'checkpoint.npz', 0
  if path.exists():
    done = int(checkpoint.load(path, variables)['updates'])
  if done >= args.updates:
    return wm
  data = replay.Replay(args.root / 'data' / 'train', minlen=config.dataset.length,
                       seed=seed * 1000 + done)
  step = tfutils.TracedFunction(lambda batch: wm.train_step(batch)[1], name='memory.train')
  start, started, log = time.perf_counter(), done, (out / 'train.jsonl').open('a')
  while done < args.updates:
    batch = data.sample(config.dataset.batch, config.dataset.length)
    metrics = step(tensors({k: batch[k] for k in replay.REQUIRED if k != 'is_last'}))
    done += 1
    if done % 50 == 0 or done == args.updates:
      row = {'update': done, **{k: round(float(v), 5) for k, v in metrics.items()}}
      log.write(json.dumps(row) + '\n')
      log.flush()
    if done % CHECKPOINT_EVERY == 0 or done == args.updates:
      checkpoint.save(path, variables, updates=done)
      seconds = (time.perf_counter() - start) / (done - started)
      print(f'train {method} seed {seed}: update {done}/{args.updates}, model loss '
            f'{float(metrics["model_loss"]):.1f}, image loss {float(metrics["image_loss"]):.1f}, '
            f'{seconds:.2f} s per update', flush=True)
      start, started = time.perf_counter(), done   # the next line times its own updates
  log.close()
  return wm


def stage_probe(args, method, seed, wm=None):
  out = args.root / 'models' / method / str(seed)
  if wm is None:
    wm = stage_train(args, method, seed)   # loads the finished checkpoint
  episodes = memory_data.load_episodes(args.root / 'data' / 'heldout')
  records = probe_model(wm, episodes)
  for record in records:
    record.update(method=method, seed=seed, probe_version=PROBE_VERSION)
  (out / 'probe.json').write_text(json.dumps(records, indent=1))
  return records


def probed(path):
  """Whether `path` holds probe records of this PROBE_VERSION (older ones are probed again)."""
  return path.exists() and all(r.get('probe_version') == PROBE_VERSION
                               for r in json.loads(path.read_text()))


def probe_model(wm, episodes):
  """The probe's records for one model on held-out episodes (first half fits, second half tests)."""
  import tensorflow as tf
  from common import tfutils
  dyn = wm.dynamics
  length = max(len(ep['is_first']) for ep in episodes)
  padded = [pad(ep, length) for ep in episodes]

  def observe(image, action, is_first):
    data = wm.preprocess({'image': image, 'action': action, 'reward': tf.zeros(tf.shape(is_first)),
                          'is_first': is_first, 'is_terminal': tf.zeros_like(is_first)})
    post, _ = dyn.observe(wm.encoder(data['image']), data['action'], data['is_first'])
    feat = dyn.get_feat(post)
    recon = tf.cast(wm.heads['decoder'](feat).mode(), tf.float32)
    return post, feat, tf.reduce_sum((recon - tf.cast(data['image'], tf.float32)) ** 2, -1)

  def imagine(start, action):
    return dyn.get_feat(dyn.imagine(tf.cast(action, wm.dtype), start))

  observe = tfutils.TracedFunction(observe, name='memory.observe')
  imagine = tfutils.TracedFunction(imagine, name='memory.imagine')
  feats, posts, pixels = [], [], PixelErrors()
  for i in range(0, len(padded), EVAL_CHUNK):
    chunk = padded[i:i + EVAL_CHUNK]
    chunk += [chunk[-1]] * (EVAL_CHUNK - len(chunk))          # one traced shape
    post, feat, error = observe(*(tf.constant(np.stack([ep[k] for ep in chunk]))
                                  for k in ('image', 'action', 'is_first')))
    pixels.add(np.asarray(error), episodes[i:i + EVAL_CHUNK])
    feats += list(np.asarray(feat, np.float32))
    posts += [{k: v[j] for k, v in post.items()} for j in range(len(chunk))]
  feats, posts = feats[:len(episodes)], posts[:len(episodes)]
  lengths = [len(ep['is_first']) for ep in episodes]
  feats = [feat[:n] for feat, n in zip(feats, lengths)]                  # the unpadded steps
  half = len(episodes) // 2
  fit, test = range(half), range(half, len(episodes))
  cat = lambda xs: np.concatenate(list(xs))
  split = lambda xs: (cat(xs[i] for i in fit), cat(xs[i] for i in test))   # fitting, test rows
  positions = [ep['log_positions'] for ep in episodes]
  since = [probelib.steps_since_seen(ep['log_visible']) for ep in episodes]
  last = [probelib.last_seen_positions(ep['log_positions'], ep['log_visible']) for ep in episodes]
  (fit_feats, test_feats), (fit_positions, test_positions) = split(feats), split(positions)
  (fit_since, test_since), test_last = split(since), cat(last[i] for i in test)
  fit_groups = cat(np.full(lengths[i], i) for i in fit)
  probes = probelib.fit_probes([feats[i] for i in fit], [positions[i] for i in fit])
  mean = np.nanmean(fit_positions, 0)
  # Each kind of probe beside the same probes of the frame itself: what the view alone holds for a
  # probe of that kind (a model beating it out of view remembers).
  frames = [frame_features(ep['image']) for ep in episodes]
  fit_frames, test_frames = split(frames)
  frame_probes = probelib.fit_probes([frames[i] for i in fit], [positions[i] for i in fit])
  records = [dict(mode='posterior', horizon=0, **probelib.binned_errors(
      probelib.predict(probes, test_feats), test_positions, test_since, test_last, mean,
      references={'frame_error': probelib.predict(frame_probes, test_frames)}))]
  # One probe per bin of time out of view (analysis/probe.py says why).
  binned = probelib.BinnedProbes(fit_feats, fit_positions, fit_since, fit_groups)
  framed = probelib.BinnedProbes(fit_frames, fit_positions, fit_since, fit_groups)
  records.append(dict(mode='binned', horizon=0, **probelib.binned_errors(
      binned(test_feats, test_since), test_positions, test_since, test_last,
      binned.means(test_since), references={'frame_error': framed(test_frames, test_since)})))
  del frames, fit_frames, test_frames

  # Open loop: start states every OPENLOOP_EVERY steps, the recorded actions after them.
  top = max(HORIZONS)
  # starts per call: one shape
  count = len(np.arange(OPENLOOP_EVERY, length - top, OPENLOOP_EVERY))
  imagined_by_episode = {}
  for i in test:
    starts = np.arange(OPENLOOP_EVERY, lengths[i] - top, OPENLOOP_EVERY)
    if len(starts):
      full = np.concatenate([starts, np.repeat(starts[-1:], count - len(starts))])
      start = {k: tf.constant(np.asarray(v)[full]) for k, v in posts[i].items()}
      actions = np.stack([episodes[i]['action'][t + 1:t + 1 + top] for t in full])
      imagined = np.asarray(imagine(start, tf.constant(actions)), np.float32)[:len(starts)]
      imagined_by_episode[i] = starts, imagined                                # (S, top, F)
  for horizon in HORIZONS:
    rows = {'predicted': [], 'positions': [], 'since': [], 'last': [], 'binned': []}
    for i, (starts, imagined) in imagined_by_episode.items():
      seen = since[i][starts]                                                   # at the start
      rows['predicted'].append(probelib.predict(probes, imagined[:, horizon - 1]))
      rows['positions'].append(positions[i][starts + horizon])
      rows['since'].append(np.where(seen >= 0, seen + horizon, -1))
      rows['last'].append(last[i][starts])
      rows['binned'].append(binned(imagined[:, horizon - 1], rows['since'][-1]))
    rows = {k: cat(v) for k, v in rows.items()}
    truth = [rows[k] for k in ('positions', 'since', 'last')]
    records.append(dict(mode='openloop', horizon=horizon,
                        **probelib.binned_errors(rows['predicted'], *truth, mean)))
    records.append(dict(mode='openloop_binned', horizon=horizon, **probelib.binned_errors(
        rows['binned'], *truth, binned.means(rows['since']))))
  # The agent's own position: objects are probed in arena units, so the model must also know where
  # in the arena its view is (walls are the only cue; elsewhere it integrates its motion).
  agent = [ep['log_agent'] for ep in episodes]
  # The same probe of each object's position relative to the agent (object - agent): what the
  # view shows of a visible object, so bin 0 asks whether the model encodes the objects at all,
  # apart from where it thinks it is. References: the last seen position relative to the agent's
  # true position now (the object stayed put), and the mean offset.
  relative = [positions[i] - agent[i][:, None] for i in range(len(episodes))]
  fit_relative, test_relative = split(relative)
  relative_probes = probelib.fit_probes([feats[i] for i in fit], [relative[i] for i in fit])
  records.append(dict(mode='relative', horizon=0, **probelib.binned_errors(
      probelib.predict(relative_probes, test_feats), test_relative, test_since,
      cat(last[i] - agent[i][:, None] for i in test), np.nanmean(fit_relative, 0))))
  fit_agent, truth = split(agent)
  agent_probe = probelib.fit_ridge(fit_feats, fit_agent, fit_groups)
  agent_error = float(np.linalg.norm(agent_probe(test_feats) - truth, axis=-1).mean())
  agent_mean_error = float(np.linalg.norm(truth - fit_agent.mean(0), axis=-1).mean())
  alphas = [p.alpha for p in probes]
  for record in records:
    record.update(probe_alphas=alphas, agent_error=agent_error, agent_mean_error=agent_mean_error,
                  **pixels.report())
  return records


class PixelErrors:
  """Does the model draw the objects? The posterior's reconstruction error (squared, summed over
  channels, pixels in [-0.5, 0.5]) on object pixels (within 30 of an object colour) and on the
  others, beside the error on object pixels of a picture without objects (the floor colour): a
  model near that reference does not represent the objects, and no probe can read them from it."""

  def __init__(self):
    self.sums = {'object_pixel_error': 0.0, 'other_pixel_error': 0.0, 'no_object_pixel_error': 0.0}
    self.counts = {'object': 0, 'other': 0}

  def add(self, error, episodes):
    from envs import shapeherd
    for j, episode in enumerate(episodes):
      image = episode['image'].astype(np.int16)                       # the unpadded steps
      mask = np.zeros(image.shape[:-1], bool)
      for colour in shapeherd.COLORS.values():
        mask |= np.abs(image - np.array(colour)).max(-1) <= 30
      err = error[j, :len(image)]
      floor = np.array(shapeherd.FLOOR_COLOR) / 255.0 - 0.5
      self.sums['object_pixel_error'] += float(err[mask].sum())
      self.sums['other_pixel_error'] += float(err[~mask].sum())
      self.sums['no_object_pixel_error'] += float(
          ((image[mask] / 255.0 - 0.5 - floor) ** 2).sum())
      self.counts['object'] += int(mask.sum())
      self.counts['other'] += int((~mask).sum())

  def report(self):
    per = lambda key, count: self.sums[key] / max(1, self.counts[count])
    return {'object_pixel_error': per('object_pixel_error', 'object'),
            'other_pixel_error': per('other_pixel_error', 'other'),
            'no_object_pixel_error': per('no_object_pixel_error', 'object'),
            'object_pixel_fraction': self.counts['object'] / max(1, sum(self.counts.values()))}


def frame_features(image):
  """(T, 64, 64, 3) uint8 -> (T, 768): the frame box-filtered to 16 x 16, in [0, 1]. Objects of
  radius >= 15 units (4 pixels at 64) still show in it, and a ridge on 768 inputs stays cheap."""
  t, h, w, c = image.shape
  small = image.reshape(t, 16, h // 16, 16, w // 16, c).mean((2, 4), dtype=np.float32)
  return small.reshape(t, -1) / 255.0


def pad(episode, length):
  """An episode's model inputs padded to `length` entries by repeating its last one (the padded
  steps are never read)."""
  out = {}
  for key in ('image', 'action', 'is_first'):
    value = episode[key]
    extra = length - len(value)
    out[key] = np.concatenate([value, np.repeat(value[-1:], extra, 0)]) if extra else value
  return out


def stage_report(args):
  records = []
  for method in args.methods:
    for seed in args.seeds:
      path = args.root / 'models' / method / str(seed) / 'probe.json'
      if path.exists():
        records += json.loads(path.read_text())
  if not records:
    raise SystemExit(f'error: no probe results under {args.root}/models: run the probe stage first')
  (args.root / 'memory.json').write_text(json.dumps(records, indent=1))
  from analysis import memory_plot
  memory_plot.plot(records, args.root / 'memory.png')
  print(memory_plot.table(records) + memory_plot.pixel_table(records), flush=True)
  return records


def copy_results(args):
  dest = args.results
  dest.mkdir(parents=True, exist_ok=True)
  for name in ('memory.json', 'memory.png'):
    shutil.copy2(args.root / name, dest / name)
  for method in args.methods:
    for seed in args.seeds:
      src = args.root / 'models' / method / str(seed)
      for name in ('train.jsonl', 'config.yaml', 'probe.json'):
        if (src / name).exists():
          (dest / 'models' / method / str(seed)).mkdir(parents=True, exist_ok=True)
          shutil.copy2(src / name, dest / 'models' / method / str(seed) / name)


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  begin = time.perf_counter()
  if 'data' in args.stages:
    stage_data(args)
  if {'train', 'probe'} & set(args.stages):
    from common import quiet
    quiet.import_tensorflow()
  for seed in args.seeds:          # every method's seed 0 first: partial results cover all methods
    for method in args.methods:
      done = probed(args.root / 'models' / method / str(seed) / 'probe.json')
      wm = None
      if 'train' in args.stages and not done:
        wm = stage_train(args, method, seed)
      if 'probe' in args.stages and not done:
        stage_probe(args, method, seed, wm)
        print(f'probe {method} seed {seed}: done', flush=True)
  if 'report' in args.stages:
    stage_report(args)
  if args.results:
    copy_results(args)
  print(json.dumps({'root': str(args.root), 'seconds': round(time.perf_counter() - begin, 1)}))


if __name__ == '__main__':
  main()
