# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Data sets for examples, tests and documentation (shipped with the package,
no downloads), and the building blocks of training sets: simulated truth
galaxies (`simulate_galaxies`, needs GalSim), their ground-based
observations (`degrade_to_ground`), normalisation and augmentation of
training pairs, the HDF5 training-set format (`write_training_set`,
`read_training_set`, `TrainingSetFile`, need h5py), and cutouts of real
space-based mosaics (`make_cutouts`).

The recipe that makes a whole training set (``make_training_set``) and the
PyTorch dataset of training pairs (``PairDataset``) are in
`astrodeconv.training`. Neither GalSim, h5py nor PyTorch is imported by
``import astrodeconv.datasets``.
"""

from . import cutouts, degrade, demo, multiband, normalize, simulate, storage
from .cutouts import *  # noqa: F401,F403
from .degrade import *  # noqa: F401,F403
from .demo import *  # noqa: F401,F403
from .multiband import *  # noqa: F401,F403
from .normalize import *  # noqa: F401,F403
from .simulate import *  # noqa: F401,F403
from .storage import *  # noqa: F401,F403

__all__ = (list(demo.__all__) + list(simulate.__all__)
           + list(degrade.__all__) + list(normalize.__all__)
           + list(storage.__all__) + list(cutouts.__all__)
           + list(multiband.__all__))

#: Names that moved to astrodeconv.training.
_MOVED = {'PairDataset': 'astrodeconv.training.PairDataset',
          'make_training_set': 'astrodeconv.training.make_training_set',
          'torch_dataset': 'astrodeconv.training.dataset'}


def __getattr__(name):
    if name in normalize._MOVED_TO_DENOISERS:   # deprecated spellings
        return getattr(normalize, name)
    if name in _MOVED:
        msg = (f'astrodeconv.datasets.{name} has moved: use {_MOVED[name]} '
               'instead')
        raise AttributeError(msg)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
