# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Training of the learned denoisers, in one place: the recipe that makes
training sets (simulated galaxies, their ground-based observations and
the Tikhonov deconvolutions that are the network inputs), the PyTorch
dataset that streams augmented pairs from such a file, and a resumable,
seeded, optionally distributed trainer implementing the reference recipes
(Adam, linear warm-up then cosine decay, L1 loss, best checkpoint on
validation loss).

PyTorch is imported lazily: ``import astrodeconv.training`` is cheap and
torch loads on the first access to `PairDataset` or the trainer.
"""

from ..utils._lazy import lazy_module_attributes

_SUBMODULES = {
    'DenoisingDataset': 'dataset',
    'PairDataset': 'dataset',
    'RECIPES': 'recipe',
    'Trainer': 'trainer',
    'TrainingHistory': 'trainer',
    'make_tikhonov_inputs': 'recipe',
    'make_training_set': 'recipe',
    'warmup_cosine_lr': 'trainer',
}

__all__ = sorted(_SUBMODULES)


__getattr__, __dir__ = lazy_module_attributes(__name__, _SUBMODULES)
