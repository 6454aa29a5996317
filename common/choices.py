"""The names every choice key of configs.yaml takes, written once (TF-free).

common/config.py checks flags against them at parse time, before a logdir or TensorFlow exists;
the model modules raise with the same lists when called directly. The registries that map a name to
code (nets.CELLS, world_model.REWARD_TRANSFORMS, tfutils.PRECISIONS) must hold exactly these names:
tests/test_cells.py holds them to it.
"""

DYNAMICS = ('rssm', 'svsg')                  # RSSM of Eq. 1 (with cell.type) | SVSG (Section 4)
# Recurrent cells by name: whether the cell has the Bernoulli update gate of Eq. 2 (its states
# carry gates, the world model adds the sparsity loss, SVSG and a soft gate can use it).
CELLS = {'gru': False, 'vsg': True}
GATE_MODES = ('sample', 'soft')              # u ~ Bernoulli(u~) (Eq. 2) | u = u~ (an ablation)
LATENTS = ('categorical', 'gaussian')        # the RSSM's z: DreamerV2 | DreamerV1
PRECISIONS = ('32', '16', 'bf16', 'auto')
JIT = ('true', 'false', '1', '0', 'auto')
REWARD_TRANSFORMS = ('identity', 'tanh', 'sign')
ACTOR_GRADS = ('dynamics', 'reinforce', 'both', 'auto')
ACTOR_DISTS = ('auto', 'trunc_normal', 'onehot')
HEAD_DISTS = ('mse', 'binary')


def gated_cells():
  """The names of the gated CELLS, for rules and error messages."""
  return sorted(name for name, gated in CELLS.items() if gated)


def cross_check(flat):
  """The rules between keys: a one-line message for the first broken one, else None. `flat` maps
  dotted keys to values (a config's `flat`)."""
  cell, gated = flat.get('cell.type'), CELLS.get(flat.get('cell.type'))
  if flat.get('dynamics') == 'svsg':
    if not gated:
      return (f'--dynamics svsg needs a gated --cell.type (one of {gated_cells()}), got {cell!r}: '
              'SVSG gates its one state with the cell\'s update gate (Eq. 7, 8)')
    if flat.get('rssm.latent') != 'gaussian':
      return (f"--dynamics svsg needs --rssm.latent gaussian (the paper trains SVSG with Gaussian "
              f"latents only), got {flat.get('rssm.latent')!r}")
  if flat.get('cell.gate', 'sample') != 'sample' and cell in CELLS and not gated:
    return (f"--cell.gate {flat['cell.gate']} needs a gated --cell.type (one of {gated_cells()}), "
            f"got {cell!r}")
  return None
