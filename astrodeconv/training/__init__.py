"""
Training of the learned denoisers: a resumable, seeded, optionally
distributed trainer implementing the reference recipes (Adam, linear
warm-up then cosine decay, L1 loss, best checkpoint on validation loss).

PyTorch is imported lazily: ``import astrodeconv.training`` is cheap and
torch loads on the first access to one of the names below.
"""

import importlib

_SUBMODULES = {
    'Trainer': 'trainer',
    'TrainingHistory': 'trainer',
    'warmup_cosine_lr': 'trainer',
}

__all__ = sorted(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f'.{_SUBMODULES[name]}', __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(__all__))
