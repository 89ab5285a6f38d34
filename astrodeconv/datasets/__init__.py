"""
Data sets for examples, tests and documentation (shipped with the package,
no downloads), and the tools that make training sets: simulated truth
galaxies (`simulate_galaxies`, needs GalSim), their ground-based
observations (`degrade_to_ground`), normalisation and augmentation of
training pairs, HDF5 storage (`make_training_set`, needs h5py), and
cutouts of real space-based mosaics (`make_cutouts`).

Neither GalSim, h5py nor PyTorch is imported by ``import
astrodeconv.datasets``. The PyTorch dataset ``PairDataset`` lives in
``astrodeconv.datasets.torch_dataset`` and is loaded on first access to
``astrodeconv.datasets.PairDataset``.
"""

import importlib

from . import cutouts, degrade, demo, normalize, simulate, storage
from .cutouts import *  # noqa: F401,F403
from .degrade import *  # noqa: F401,F403
from .demo import *  # noqa: F401,F403
from .normalize import *  # noqa: F401,F403
from .simulate import *  # noqa: F401,F403
from .storage import *  # noqa: F401,F403

__all__ = (list(demo.__all__) + list(simulate.__all__)
           + list(degrade.__all__) + list(normalize.__all__)
           + list(storage.__all__) + list(cutouts.__all__))

_LAZY = {'PairDataset': 'torch_dataset'}


def __getattr__(name):
    # PyTorch is imported only when the torch dataset is asked for.
    if name == 'torch_dataset':
        return importlib.import_module('.torch_dataset', __name__)
    if name in _LAZY:
        module = importlib.import_module(f'.{_LAZY[name]}', __name__)
        return getattr(module, name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
