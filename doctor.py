"""Preflight and budget check before a big grid: does this machine run the agent, how fast, and what
would the paper's grids cost here.

  python doctor.py                              # the `dmc` size for vsg, on this machine's device
  python doctor.py --configs dmc vsg cpu        # the CPU-sized model
  python doctor.py --smoke --out /tmp/doctor    # every part at `debug` sizes (a test runs this)

Four parts, each in its own process with its own time budget (a part that fails or runs out of time
is reported with its error and skipped, never the whole check):
  device  the GPU (name, memory, compute capability, which precision `auto` picks and which we
          advise), TF/CUDA/cuDNN versions, and that a matmul ran on it; or `CPU only` and why
  render  one DMC frame in a process without TensorFlow (as the env workers), EGL then OSMesa
  speed   first call and median full training step at each precision the device runs, jit off and
          on, peak memory and retracing (python -m bench.train_step); then a short real train.py run
          (prefill, pretrain, updates, an evaluation) for env steps/s, updates/s and s per eval
  budget  from those: hours per run, runs per device, the grids' device-hours and the sweep.py
          command that packs them, replay RAM and disk against this machine's
A line per check, then one JSON line with every figure (also written to --out/doctor.json). Exit 0
when everything a run needs works (device, rendering, a training step, the short run), else 1.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from common import budget, config as configlib

ROOT = pathlib.Path(__file__).resolve().parent
GRIDS = {'paper_dmc': (['dmc'], 200, 500_000), 'paper_shapeherd': (['shapeherd'], 20, 1_000_000)}
INSTALL_GL = ('apt install libegl1 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa); on a GPU machine '
              "the driver's libEGL_nvidia gives hardware EGL")


def child(code, env=None, timeout=60):
  """Runs `python -c code` in a fresh process; its last stdout line is JSON. Returns that dict, or
  {'error': ...} with the reason (exit code and last stderr line, or the timeout)."""
  try:
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **(env or {})})
  except subprocess.TimeoutExpired:
    return {'error': f'no answer within {timeout:.0f} s'}
  lines = done.stdout.strip().splitlines()
  if done.returncode or not lines:
    tail = [line for line in done.stderr.strip().splitlines() if line.strip()] or ['no output']
    return {'error': f'exit {done.returncode}: {tail[-1][:300]}'}
  return json.loads(lines[-1])


DEVICE = r'''
import json, os, subprocess
from common import quiet
tf = quiet.import_tensorflow()
from common import device, tfutils
info = device.describe()
name = '/GPU:0' if info['gpu'] else '/CPU:0'
with tf.device(name):
  x = tf.random.normal((512, 512))
  y = tf.matmul(x, x)
info['matmul_device'] = y.device
info['matmul_ok'] = bool(tf.reduce_all(tf.math.is_finite(y))) and (
    'GPU' in y.device if info['gpu'] else True)
info['auto_precision'] = tfutils.resolve_precision('auto')
info['auto_jit'] = tfutils.resolve_jit('auto')
if info['gpu']:
  try:
    out = subprocess.run(['nvidia-smi', '--query-gpu=memory.total',
                          '--format=csv,noheader,nounits'],
                         capture_output=True, text=True, timeout=20).stdout.split()
    info['memory_bytes'] = int(out[0]) * 2**20
  except (OSError, subprocess.SubprocessError, IndexError, ValueError):
    info['memory_bytes'] = None
print(json.dumps(info))
'''

RENDER = r'''
import json, os, time
from dm_control import suite
env = suite.load('cartpole', 'swingup', task_kwargs={'random': 0})
env.reset()
start = time.perf_counter()
for _ in range(20):
  frame = env.physics.render(64, 64, camera_id=0)
per_frame = (time.perf_counter() - start) / 20
print(json.dumps({'backend': os.environ['MUJOCO_GL'], 'shape': list(frame.shape),
                  'nonblank': bool(frame.std() > 0), 'per_frame_s': per_frame,
                  'tensorflow_loaded': 'tensorflow' in __import__('sys').modules}))
'''


def cpu_flags():
  try:
    text = pathlib.Path('/proc/cpuinfo').read_text()
  except OSError:
    return set()
  line = next((line for line in text.splitlines() if line.startswith('flags')), '')
  return set(line.split(':', 1)[-1].split())


def machine():
  """RAM, disk free at the logdir root and CPU count: what a run's replay is checked against."""
  ram = None
  try:
    for line in pathlib.Path('/proc/meminfo').read_text().splitlines():
      if line.startswith('MemTotal'):
        ram = int(line.split()[1]) * 1024
  except OSError:
    pass
  return {'ram_bytes': ram, 'cpus': os.cpu_count()}


def check_device(budget_s):
  info = child(DEVICE, timeout=budget_s)
  if 'error' in info:
    return info, [f'device: FAILED ({info["error"]})']
  lines = [f"device: {info['text']}; TensorFlow {info['tensorflow']}, CUDA {info['cuda']}, "
           f"cuDNN {info['cudnn']}",
           f"device: a 512x512 matmul ran on {info['matmul_device']}: "
           f"{'ok' if info['matmul_ok'] else 'NOT on the GPU'}"]
  if info['gpu']:
    cc = float(info['compute_capability'] or 0)
    advice = ('bf16 (float32 range, no loss scaling; Ampere and newer)' if cc >= 8.0 else
              '16 (mixed float16 with loss scaling; tensor cores from 7.0)' if cc >= 7.0 else
              '32 (no tensor cores below compute capability 7.0)')
    info['advised_precision'] = advice.split()[0]
    memory = info.get('memory_bytes')
    lines.append(f"device: {memory / 2**30:.1f} GiB of GPU memory" if memory else
                 'device: GPU memory unknown (nvidia-smi not found)')
    lines.append(f"device: precision auto picks {info['auto_precision']}, jit auto picks "
                 f"{info['auto_jit']}; advised here: --precision {advice}")
  else:
    bf16 = bool(cpu_flags() & {'avx512_bf16', 'amx_bf16'})
    info['advised_precision'] = '32'
    lines.append(f"device: precision auto picks {info['auto_precision']}, jit auto picks "
                 f"{info['auto_jit']} (on a CPU: float16 is for checking the GPU path only, XLA is "
                 f"slower; bf16 {'runs natively' if bf16 else 'is emulated'} on this CPU)")
  return info, lines


def check_render(budget_s):
  tried = []
  for backend in ('egl', 'osmesa'):
    result = child(RENDER, env={'MUJOCO_GL': backend, 'PYOPENGL_PLATFORM': backend},
                   timeout=budget_s / 2)
    if 'error' not in result and result['nonblank'] and not result['tensorflow_loaded']:
      return result, [f"render: one DMC frame {tuple(result['shape'])} with MUJOCO_GL={backend} "
                      "in a TensorFlow-free process, "
                      f"{result['per_frame_s'] * 1e3:.1f} ms per frame"
                      + ('' if not tried else f" (egl failed: {tried[0][1]})")]
    tried.append((backend, result.get('error', 'a blank frame')))
  why = '; '.join(f'{b}: {e}' for b, e in tried)
  return {'error': why}, [f'render: FAILED with EGL and OSMesa ({why}); install {INSTALL_GL}']


def precisions(device):
  """The precisions this device runs: a GPU all three (bf16 from compute capability 8.0); a CPU
  float32, and bf16 where the CPU has native bf16 (float16 on a CPU is 1000x slower: not timed)."""
  if device.get('gpu'):
    cc = float(device.get('compute_capability') or 0)
    return ['32', '16'] + (['bf16'] if cc >= 8.0 else [])
  return ['32'] + (['bf16'] if cpu_flags() & {'avx512_bf16', 'amx_bf16'} else [])


def time_cell(configs, precision, jit, steps, timeout, env):
  cmd = [sys.executable, '-m', 'bench.train_step', '--configs', *configs,
         '--precision', precision, '--jit', str(jit), '--steps', str(steps), '--warmup', '1',
         '--policy_steps', '20', '--no_peak']
  try:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
  except subprocess.TimeoutExpired:
    return {'error': f"out of time: the speed part had {timeout:.0f} s left (an XLA compile of a "
                     f"big model can take longer; time it alone with python -m bench.train_step)"}
  lines = done.stdout.strip().splitlines()
  if done.returncode or not lines:
    tail = [line for line in done.stderr.strip().splitlines() if line.strip()] or ['no output']
    return {'error': f'exit {done.returncode}: {tail[-1][:300]}'}
  return json.loads(lines[-1])


def short_run(configs, config, env, timeout, updates, logdir):
  """A real train.py run: a short prefill, a few pretraining updates, `updates` updates while
  collecting, and the final evaluation; returns the loop's measured speeds (done.json) and the
  episodes' bytes on disk per agent step."""
  repeat, every = config.action_repeat, config.train_every
  prefill = min(int(config.prefill), 2 * int(config.time_limit))
  steps = prefill + updates * every * repeat
  cmd = [sys.executable, str(ROOT / 'train.py'), '--configs', *configs, '--task', config.task,
         '--logdir', str(logdir), '--steps', str(steps), '--prefill', str(prefill),
         '--pretrain', str(min(int(config.pretrain), 3)), '--eval_every', str(10 * steps),
         '--eval_eps', '1', '--log_every', str(10 * steps), '--checkpoint_every', str(10 * steps),
         '--progress_every', '1e9']
  start = time.perf_counter()
  try:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
  except subprocess.TimeoutExpired:
    return {'error': f'out of time: the speed part had {timeout:.0f} s left'}
  if done.returncode:
    tail = [line for line in (done.stderr + done.stdout).strip().splitlines() if line.strip()]
    return {'error': f'exit {done.returncode}: {(tail or ["no output"])[-1][:300]}'}
  result = json.loads((logdir / 'done.json').read_text())['timing']
  files = list((logdir / 'train_episodes').glob('*.npz'))
  stored = result['collected'] / repeat
  result.update(wall_s=time.perf_counter() - start, steps=steps,
                disk_per_agent_step=sum(f.stat().st_size for f in files) / max(stored, 1))
  return result


def check_speed(configs, device, budget_s, smoke, threads, out):
  deadline = time.monotonic() + budget_s
  config = configlib.parse(['--configs', *configs])
  env = {**os.environ}
  if threads:
    env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
  cells, lines = [], []

  # --smoke checks that every part runs: float32 only (tests run a whole step at every precision).
  timed = ['32'] if smoke else precisions(device)

  def time_cells(jit):
    for precision in timed:
      left = deadline - time.monotonic()
      if left < 20:
        cells.append({'precision': precision, 'jit': jit, 'error': 'out of time (skipped)'})
        lines.append(f'speed: precision {precision}, jit {jit}: skipped, out of time')
        continue
      cell = {'precision': precision, 'jit': jit,
              **time_cell(configs, precision, jit, 3 if smoke else 10, left, env)}
      cells.append(cell)
      if 'error' in cell:
        lines.append(f'speed: precision {precision}, jit {jit}: FAILED ({cell["error"]})')
        continue
      memory = (f", peak GPU memory {cell['peak_device_mb']:.0f} MB" if cell.get('peak_device_mb')
                else f", peak RSS {cell['peak_rss_mb']} MB")
      lines.append(f"speed: precision {precision}, jit {jit}: full step median "
                   f"{cell['median_s']:.3f} s "
                   f"(first call {cell['first_call_s']:.1f} s), policy step "
                   f"{cell.get('policy_median_s', 0) * 1e3:.1f} ms{memory}; traces "
                   f"{cell['traces']}{'' if cell['traces'] == 1 else ' (RETRACED)'}")

  # What a run needs first (jit off, then the real run); XLA's compile last, with what time is left.
  time_cells(False)
  left = deadline - time.monotonic()
  run = short_run(configs, config, env, left, 5 if smoke else 30, out / 'run') if (
      left > 30) else {'error': 'out of time (skipped)'}
  if 'error' in run:
    lines.append(f"speed: short train.py run FAILED ({run['error']})")
  else:
    lines.append(f"speed: short train.py run ({run['steps']} env steps, {run['updates']} updates) "
                 f"in {run['wall_s']:.0f} s: {1 / run['per_env_step']:.1f} env steps/s collecting, "
                 f"{1 / run['per_update']:.2f} updates/s, {run['per_eval']:.1f} s per evaluation "
                 "episode"
                 if run.get('per_update') and run.get('per_env_step') and run.get('per_eval')
                 else f"speed: short train.py run finished but timed too little: {run}")
  time_cells(True)
  return {'cells': cells, 'run': run}, lines


def check_budget(configs, device, speed, machine_info):
  """Hours of one run at each grid's steps, runs per device, the grids' cost and sweep command."""
  run = speed.get('run', {})
  cells = [c for c in speed.get('cells', []) if 'error' not in c]
  if not cells or not run.get('per_env_step') or not run.get('per_eval'):
    return {'error': 'no speed figures to budget from'}, ['budget: skipped (no speed figures)']
  config = configlib.parse(['--configs', *configs])
  # The short run trains as train.py will: the precision and jit the config resolves to here.
  precision = str(config.precision) if str(config.precision) != 'auto' else str(
      device.get('auto_precision', '32'))
  jit = device.get('auto_jit', False) if str(config.jit) == 'auto' else str(config.jit) == 'True'
  cell = next((c for c in cells if str(c['precision']) == precision and c['jit'] == jit), cells[0])
  fastest = min(cells, key=lambda c: c['median_s'])
  per_update = run.get('per_update') or cell['median_s']   # the loop's: the step plus its sampling
  plan = budget.schedule(config)
  per_eval = run['per_eval'] * plan['eval_eps']             # the short run evaluated one episode
  seconds = budget.run_seconds(plan, run['per_env_step'], per_update, per_eval)
  gpu_bytes = device.get('memory_bytes') if device.get('gpu') else None
  peak = (fastest.get('peak_device_mb') or 0) * 2**20 if gpu_bytes else None
  per_device = budget.runs_per_device(gpu_bytes, peak) if gpu_bytes else 1
  ram, disk = budget.replay_bytes(plan), budget.disk_bytes(plan, run['disk_per_agent_step'])
  free = shutil.disk_usage(ROOT).free
  result = {'precision': precision, 'jit': jit, 'per_update_s': per_update,
            'per_env_step_s': run['per_env_step'], 'per_eval_s': per_eval,
            'run_hours': seconds['total'] / 3600, 'steps': plan['steps'],
            'parts_hours': {k: v / 3600 for k, v in seconds.items() if k != 'total'},
            'runs_per_device': per_device, 'replay_ram_bytes': ram, 'disk_bytes': disk,
            'ram_bytes': machine_info['ram_bytes'], 'disk_free_bytes': free, 'grids': {}}
  where = 'GPU' if gpu_bytes else 'machine'
  lines = [f"budget: one run of {configs} to {plan['steps']:.0f} env steps: "
           f"{result['run_hours']:.1f} h at precision {precision}, jit {jit} "
           f"({seconds['update'] / 3600:.1f} h of updates at {per_update:.3f} s, "
           f"{seconds['collect'] / 3600:.1f} h collecting, {seconds['eval'] / 3600:.1f} h "
           f"evaluating)",
           f"budget: replay {ram / 2**30:.1f} GiB of RAM and {disk / 2**30:.1f} GiB of disk "
           f"per run (this machine: {(machine_info['ram_bytes'] or 0) / 2**30:.0f} GiB RAM, "
           f"{free / 2**30:.0f} GiB free disk)"]
  if fastest is not cell:
    lines.append(f"budget: precision {fastest['precision']}, jit {fastest['jit']} steps "
                 f"{cell['median_s'] / fastest['median_s']:.2f}x faster than the default here "
                 f"(--precision {fastest['precision']} --jit {fastest['jit']})")
  if gpu_bytes:
    lines.append(f'budget: {per_device} run(s) fit one GPU by memory (peak {peak / 2**20:.0f} MB '
                 f'of {gpu_bytes / 2**20:.0f} MB, 10% kept free)')
  for name, (grid_configs, runs, steps) in GRIDS.items():
    grid_plan = budget.schedule(configlib.parse(['--configs', *grid_configs, *configs[1:]]))
    hours = budget.run_seconds(grid_plan, run['per_env_step'], per_update, per_eval,
                               steps=steps)['total'] / 3600
    cost = budget.grid(runs, hours, per_device)
    cpus = max(1, (machine_info['cpus'] or 1) // per_device)
    command = (f'python sweep.py --logdir runs/ --grid {name} --gpus_per_run {1 / per_device:.2g} '
               f'--cpus_per_run {cpus}' if gpu_bytes else
               f'python sweep.py --logdir runs/ --grid {name} --cpus_per_run {cpus}')
    result['grids'][name] = {**cost, 'hours_per_run': hours, 'command': command}
    lines.append(f"budget: --grid {name}: {runs} runs x {hours:.1f} h = "
                 f"{runs * hours:.0f} run-hours,"
                 f" {cost['device_hours']:.0f} {where}-hours with {per_device} per {where} "
                 f"(assumes the model of {' '.join(configs)} and this device's env speed); "
                 f"`{command}`")
  return result, lines


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', nargs='+', default=['dmc', 'vsg'],
                      help='the configs to time and budget (default: dmc vsg, the full size)')
  parser.add_argument('--smoke', action='store_true',
                      help='every part at debug sizes, float32 only (CPU, minutes)')
  parser.add_argument('--out', type=pathlib.Path, help='where doctor.json and the short run go '
                      '(default: a temporary directory, removed)')
  parser.add_argument('--threads', type=int, default=0,
                      help='TF threads of the timed processes (default: TF picks; 1 = a run that '
                           'shares the machine, as two runs on 2 cores)')
  args = parser.parse_args(argv)
  configs = list(args.configs) + (['debug'] if args.smoke and 'debug' not in args.configs else [])
  try:
    configlib.parse(['--configs', *configs])
  except ValueError as error:
    parser.error(str(error))
  budgets = {'device': 120, 'render': 120, 'speed': 240 if args.smoke else 420}
  out = args.out or pathlib.Path(tempfile.mkdtemp(prefix='doctor-'))
  out.mkdir(parents=True, exist_ok=True)
  shutil.rmtree(out / 'run', ignore_errors=True)
  report = {'configs': configs, 'smoke': args.smoke, 'machine': machine()}
  started = time.monotonic()

  def part(name, fn, *fn_args):
    begin = time.monotonic()
    try:
      result, lines = fn(*fn_args)
    except Exception as error:   # a part's failure is reported, never the whole check's
      result, lines = {'error': f'{type(error).__name__}: {error}'}, [f'{name}: FAILED ({error})']
    result['seconds'] = round(time.monotonic() - begin, 1)
    for line in lines:
      print(line, flush=True)
    report[name] = result
    return result

  device = part('device', check_device, budgets['device'])
  render = part('render', check_render, budgets['render'])
  speed = part('speed', check_speed, configs, device, budgets['speed'], args.smoke, args.threads,
               out)
  part('budget', check_budget, configs, device, speed, report['machine'])
  ok = (device.get('matmul_ok') and 'error' not in render
        and any('error' not in c for c in speed.get('cells', []))
        and 'error' not in speed.get('run', {'error': 1}))
  report.update(ok=bool(ok), seconds=round(time.monotonic() - started, 1))
  text = json.dumps(report, default=str)
  (out / 'doctor.json').write_text(text + '\n')
  if not args.out:
    shutil.rmtree(out / 'run', ignore_errors=True)
  print("doctor: "
        f"{'everything a run needs works' if ok else 'SOMETHING A RUN NEEDS FAILED (above)'}"
        f" ({report['seconds']:.0f} s); figures in {out / 'doctor.json'}", flush=True)
  print(text, flush=True)
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
