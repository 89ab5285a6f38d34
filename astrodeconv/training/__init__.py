"""
Training of the learned denoisers: a resumable, seeded, optionally
distributed trainer implementing the reference recipes (Adam, linear
warm-up then cosine decay, L1 loss, best checkpoint on validation loss).

PyTorch is imported lazily: ``import astrodeconv.training`` is cheap and
torch loads on the first access to one of the names below.
"""

from ..utils._lazy import lazy_module_attributes

_SUBMODULES = {
    'Trainer': 'trainer',
    'TrainingHistory': 'trainer',
    'warmup_cosine_lr': 'trainer',
}

__all__ = sorted(_SUBMODULES)


__getattr__, __dir__ = lazy_module_attributes(__name__, _SUBMODULES)
