# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The trainer's checkpoint files: writing them atomically, reading and
checking ``latest.pt``.

``latest.pt`` holds the full training state (see
`~astrodeconv.training.Trainer`); ``best.pt`` holds
`~astrodeconv.denoisers.denoiser_payload`, the content of the files of
`~astrodeconv.denoisers.save_denoiser` and
`~astrodeconv.denoisers.package_weights`. Both are written through the
package's atomic writer and read through its one checkpoint reader
(``torch.load(..., weights_only=True)``).
"""

import inspect
from pathlib import Path

import torch

from ..denoisers.checkpoints import read_checkpoint
from ..utils._files import atomic_write

__all__ = []

#: Value of the ``'format'`` key of ``latest.pt``.
CHECKPOINT_FORMAT = 'astrodeconv-training-checkpoint'
CHECKPOINT_VERSION = 1
LATEST_NAME = 'latest.pt'
BEST_NAME = 'best.pt'

REQUIRED_KEYS = ('format', 'architecture', 'arch_kwargs', 'state_dict',
                 'optimizer_state', 'epoch', 'global_step', 'history',
                 'rng_states')


def cpu_state(state_dict):
    """A copy of a state dict with every tensor on the CPU."""
    return {key: value.detach().to('cpu')
            for key, value in state_dict.items()}


def full_kwargs(cls, kwargs):
    """Constructor arguments with the defaults filled in, for comparison."""
    try:
        bound = inspect.signature(cls).bind(**kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.update(arguments.pop('kwargs', {}) or {})
    return arguments


def save_checkpoint(payload, path):
    """Write ``payload`` atomically to ``path``, replacing any old file."""
    with atomic_write(path, overwrite=True) as stream:
        torch.save(payload, stream)


def read_training_checkpoint(path):
    """
    Read and check a ``latest.pt`` (or the one in the directory ``path``).

    Returns
    -------
    path : `~pathlib.Path`
        The file read.
    checkpoint : dict

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is unreadable or not a training checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        path = path / LATEST_NAME
    checkpoint = read_checkpoint(path, kind='training checkpoint',
                                 advice='Delete it to train from scratch')
    missing = ([key for key in REQUIRED_KEYS if key not in checkpoint]
               if isinstance(checkpoint, dict) else list(REQUIRED_KEYS))
    if missing or checkpoint['format'] != CHECKPOINT_FORMAT:
        msg = (f'{path} is not an astrodeconv training checkpoint '
               f'(missing {", ".join(missing) or "format tag"}). '
               f'Resume from the {LATEST_NAME} written by Trainer')
        raise ValueError(msg)
    return path, checkpoint
