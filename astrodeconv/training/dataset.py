# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
PyTorch datasets of (input, target, noise level) triplets: Tikhonov
images and their truth (`PairDataset`), or truth images with added white
Gaussian noise for plain denoisers (`DenoisingDataset`).

This module imports PyTorch; ``import astrodeconv.training`` does not (the
class is reached lazily as ``astrodeconv.training.PairDataset``).
"""

import numpy as np
import torch

from ..datasets.normalize import augment as augment_pair
from ..denoisers.normalization import normalize_pair
from ..datasets.storage import SPLITS, TrainingSetFile
from ..utils._validation import check_choice, check_positive_int

__all__ = ['DenoisingDataset', 'PairDataset']

__doctest_requires__ = {
    ('PairDataset', 'DenoisingDataset'): ['h5py', 'galsim']}

_NORMALIZATIONS = ('inference', 'target', 'sky')


def _check_index(i, n):
    """``i`` as a non-negative index into ``n`` items (IndexError if out)."""
    if not -n <= i < n:
        msg = f'index must be in [0, {n}), got {i}'
        raise IndexError(msg)
    return int(i) % n


def _crop_origin(shape, crop, rng):
    """Corner of a ``crop`` window: drawn with ``rng``, or centred."""
    ny, nx = shape
    if rng is None:
        return (ny - crop) // 2, (nx - crop) // 2
    return (int(rng.integers(0, ny - crop + 1)),
            int(rng.integers(0, nx - crop + 1)))


class PairDataset(torch.utils.data.Dataset):
    """
    Training pairs streamed from a training-set file.

    Item ``i`` is ``(input, target, sigma)``:

    * ``input``: the Tikhonov image, normalised, as a ``float32`` tensor
      ``(1, c, c)``;
    * ``target``: the truth image normalised with the same numbers
      (`astrodeconv.denoisers.normalize_pair`), ``(1, c, c)``;
    * ``sigma``: the noise level in the network's units, a ``float32``
      scalar tensor: the observation's 1-sigma noise divided by
      ``upsample**2`` (the flux of one observed pixel is spread over
      ``upsample**2`` output pixels) and by the normalisation scale, as
      `astrodeconv.deconvolution.LearnedDeconvolver` computes it at
      inference.

    The normalisation uses the numbers of the **full** image, before any
    augmentation or crop, so that a crop is scaled exactly like the same
    region of a whole image processed in tiles at inference. Then, when
    augmenting, one of the 8 symmetries of the square and a circular shift
    of up to 10 pixels (`astrodeconv.datasets.augment`) are applied, and a
    crop of ``crop`` pixels is taken at a random position; without
    augmentation the crop is centred.

    The file is opened on first access in each process (never shared
    across a fork), so the dataset works with ``DataLoader`` workers. The
    random draws of item ``i`` depend only on ``(seed, epoch, i)``: results
    are reproducible and independent of the number of workers. Call
    ``set_epoch`` before each epoch to draw new augmentations (workers see
    the new epoch when they are re-created, i.e. with the default
    ``persistent_workers=False``).

    Parameters
    ----------
    path : str or path-like
        A file written by `astrodeconv.training.make_training_set` or
        `astrodeconv.datasets.write_training_set`.
    split : {'train', 'val', 'test'} or None, optional
        Which images to use (None: all of them).
    groups : str or sequence of str, optional
        Groups (regimes) to draw from; default all groups of the file.
    crop : int, optional
        Side of the square crops; default the whole image.
    augment : bool, optional
        Augment the pairs; default True for ``split='train'`` only.
    normalization : {'inference', 'target', 'sky'}, optional
        Normalisation mode of `astrodeconv.denoisers.normalize_pair`.
        ``'inference'`` (default) matches what
        `~astrodeconv.deconvolution.LearnedDeconvolver` does at inference.
    seed : int, optional
        Seed of the augmentation draws.
    in_memory : bool, optional
        Read the selected images into memory at once (faster epochs).

    Examples
    --------
    >>> import os, tempfile
    >>> from astrodeconv.training import PairDataset, make_training_set
    >>> path = os.path.join(tempfile.mkdtemp(), 'train.h5')
    >>> _ = make_training_set(path, 10, stamp_size=64, upsample=2,
    ...                       progress=False)
    >>> data = PairDataset(path, 'train', crop=32)
    >>> x, y, sigma = data[0]
    >>> len(data), tuple(x.shape), tuple(y.shape), tuple(sigma.shape)
    (8, (1, 32, 32), (1, 32, 32), ())
    """

    def __init__(self, path, split='train', *, groups=None, crop=None,
                 augment=None, normalization='inference', seed=0,
                 in_memory=False):
        if split is not None:
            check_choice(split, 'split', tuple(SPLITS))
        self.split = split
        self.file = TrainingSetFile(path)
        if groups is None:
            groups = self.file.groups
        elif isinstance(groups, str):
            groups = (groups,)
        groups = tuple(groups)
        unknown = [g for g in groups if g not in self.file.groups]
        if unknown or not groups:
            names = ', '.join(repr(g) for g in self.file.groups)
            msg = (f'groups must be names of groups of the file ({names}), '
                   f'got {groups!r}')
            raise ValueError(msg)
        self.groups = groups
        self.normalization = check_choice(normalization, 'normalization',
                                          _NORMALIZATIONS)
        self.augment = (split == 'train') if augment is None else bool(
            augment)
        self.seed = check_positive_int(seed, 'seed', minimum=0)
        self.epoch = 0

        sizes = {g: self.file.shape(g, 'truth')[1:] for g in groups}
        smallest = min(min(s) for s in sizes.values())
        if crop is not None:
            crop = check_positive_int(crop, 'crop')
            if crop > smallest:
                msg = (f'crop must not exceed the image size ({smallest} '
                       f'pixels), got {crop}')
                raise ValueError(msg)
        self.crop = crop
        self._upsample = {g: int(self.file.attrs(g).get('upsample', 1))
                          for g in groups}

        group_ids, rows = [], []
        for gid, name in enumerate(groups):
            codes = self.file.read(name, 'split')
            selected = (np.arange(len(codes)) if split is None
                        else np.flatnonzero(codes == SPLITS[split]))
            group_ids.append(np.full(len(selected), gid))
            rows.append(selected)
        self._group_ids = np.concatenate(group_ids)
        self._rows = np.concatenate(rows)
        self.file.close()
        if len(self._rows) == 0:
            msg = (f'split {split!r} is empty in group(s) '
                   f'{", ".join(groups)} of {self.file.path!r}')
            raise ValueError(msg)

        self._memory = None
        if in_memory:
            self._memory = {}
            for gid, name in enumerate(groups):
                rows_g = self._rows[self._group_ids == gid]
                if len(rows_g):
                    self._memory[name] = {
                        key: self.file.read(name, key, rows_g)
                        for key in ('tikhonov', 'truth', 'sigma')}
                    self._memory[name]['position'] = {
                        int(r): j for j, r in enumerate(rows_g)}
            self.file.close()

    def __len__(self):
        return len(self._rows)

    def __repr__(self):
        return (f'PairDataset({self.file.path!r}, split={self.split!r}, '
                f'groups={self.groups}, n={len(self)}, crop={self.crop}, '
                f'augment={self.augment}, '
                f'normalization={self.normalization!r})')

    def set_epoch(self, epoch):
        """Set the epoch, which reseeds the augmentation draws."""
        self.epoch = check_positive_int(epoch, 'epoch', minimum=0)

    def locate(self, i):
        """The ``(group, row)`` of item ``i`` in the file."""
        return self.groups[self._group_ids[i]], int(self._rows[i])

    def _load(self, group, row):
        if self._memory is not None:
            store = self._memory[group]
            j = store['position'][row]
            return store['tikhonov'][j], store['truth'][j], store['sigma'][j]
        return (self.file.read(group, 'tikhonov', row),
                self.file.read(group, 'truth', row),
                self.file.read(group, 'sigma', row))

    def __getitem__(self, i):
        i = _check_index(i, len(self))
        group, row = self.locate(i)
        tikhonov, truth, sigma = self._load(group, row)
        x, y, params = normalize_pair(np.asarray(tikhonov, dtype=float),
                                      np.asarray(truth, dtype=float),
                                      mode=self.normalization)
        k = self._upsample[group]
        sigma = float(sigma) / k ** 2 / float(params.scale.squeeze())
        c = self.crop
        rng = None
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            x, y = augment_pair(x, y, rng)
        if c is not None:
            y0, x0 = _crop_origin(x.shape, c, rng)
            x = x[y0:y0 + c, x0:x0 + c]
            y = y[y0:y0 + c, x0:x0 + c]
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
        return x[None], y[None], torch.tensor(sigma, dtype=torch.float32)


#: Default range of the noise levels of `DenoisingDataset`, relative to the
#: peak of each truth image (log-uniform draws).
DENOISING_SIGMA_RANGE = (1e-3, 0.5)


class DenoisingDataset(torch.utils.data.Dataset):
    """
    Truth images with white Gaussian noise, for plain denoisers.

    Item ``i`` is ``(noisy, clean, sigma)``: the truth image divided by its
    peak (its maximum over the full image), the same plus white Gaussian
    noise of standard deviation ``sigma``, and ``sigma`` (a ``float32``
    scalar tensor) drawn log-uniformly in ``sigma_range``. A denoiser
    trained on it removes noise of a *given* level from space-resolution
    images and knows nothing of any PSF: it is the prior of
    `astrodeconv.deconvolution.PnPDeconvolver`, which brings the PSF in
    through its data step only.

    The draws of item ``i`` (symmetry, shift, crop position, noise level and
    noise) depend only on ``(seed, epoch, i)``; without augmentation the
    crop is centred and only the noise is drawn (from ``(seed, i)``), so a
    validation set is the same at every epoch.

    Parameters
    ----------
    path : str or path-like
        A training-set file (only its ``truth`` images are used).
    split : {'train', 'val', 'test'} or None, optional
        Which images to use (None: all of them).
    group : str, optional
        The group whose truth images are read (every group of a file made
        by `astrodeconv.training.make_training_set` holds the same truth
        images); default the first.
    crop : int, optional
        Side of the square crops; default the whole image.
    sigma_range : tuple of 2 float, optional
        Range of the noise standard deviation relative to the peak.
    augment : bool, optional
        Augment the images; default True for ``split='train'`` only.
    seed : int, optional
        Seed of the draws.
    in_memory : bool, optional
        Read the selected images into memory at once.

    Examples
    --------
    >>> import os, tempfile
    >>> from astrodeconv.training import DenoisingDataset, make_training_set
    >>> path = os.path.join(tempfile.mkdtemp(), 'train.h5')
    >>> _ = make_training_set(path, 10, stamp_size=64, upsample=1,
    ...                       progress=False)
    >>> data = DenoisingDataset(path, 'train', crop=32)
    >>> noisy, clean, sigma = data[0]
    >>> tuple(noisy.shape), float(clean.max()) <= 1.0, 1e-3 <= float(sigma)
    ((1, 32, 32), True, True)
    """

    #: What the model learns (recorded in its checkpoint).
    task = 'gaussian-denoising'
    #: How the images are normalised (recorded in the checkpoint).
    normalization = 'peak'

    def __init__(self, path, split='train', *, group=None, crop=None,
                 sigma_range=DENOISING_SIGMA_RANGE, augment=None, seed=0,
                 in_memory=False):
        from ..utils._validation import check_real

        if split is not None:
            check_choice(split, 'split', tuple(SPLITS))
        self.split = split
        self.file = TrainingSetFile(path)
        groups = self.file.groups
        if group is None:
            group = groups[0]
        self.group = check_choice(group, 'group', tuple(groups))
        try:
            low, high = (float(v) for v in sigma_range)
        except (TypeError, ValueError):
            msg = (f'sigma_range must be a (low, high) pair of positive '
                   f'numbers, got {sigma_range!r}')
            raise ValueError(msg) from None
        low = check_real(low, 'sigma_range[0]', minimum=0, strict=True)
        high = check_real(high, 'sigma_range[1]', minimum=0, strict=True)
        if low > high:
            msg = f'sigma_range must satisfy low <= high, got {sigma_range}'
            raise ValueError(msg)
        self.sigma_range = (low, high)
        self.augment = (split == 'train') if augment is None else bool(
            augment)
        self.seed = check_positive_int(seed, 'seed', minimum=0)
        self.epoch = 0
        size = min(self.file.shape(self.group, 'truth')[1:])
        if crop is not None:
            crop = check_positive_int(crop, 'crop')
            if crop > size:
                msg = (f'crop must not exceed the image size ({size} '
                       f'pixels), got {crop}')
                raise ValueError(msg)
        self.crop = crop
        codes = self.file.read(self.group, 'split')
        self._rows = (np.arange(len(codes)) if split is None
                      else np.flatnonzero(codes == SPLITS[split]))
        if len(self._rows) == 0:
            msg = (f'split {split!r} is empty in group {self.group!r} of '
                   f'{self.file.path!r}')
            raise ValueError(msg)
        self._memory = (self.file.read(self.group, 'truth', self._rows)
                        if in_memory else None)
        self.file.close()

    def __len__(self):
        return len(self._rows)

    def __repr__(self):
        return (f'DenoisingDataset({self.file.path!r}, split={self.split!r}, '
                f'group={self.group!r}, n={len(self)}, crop={self.crop}, '
                f'sigma_range={self.sigma_range}, augment={self.augment})')

    def set_epoch(self, epoch):
        """Set the epoch, which reseeds the draws of the training items."""
        self.epoch = check_positive_int(epoch, 'epoch', minimum=0)

    def __getitem__(self, i):
        i = _check_index(i, len(self))
        truth = np.asarray(
            self._memory[i] if self._memory is not None else
            self.file.read(self.group, 'truth', int(self._rows[i])),
            dtype=float)
        peak = float(truth.max())
        if not peak > 0:
            peak = float(np.abs(truth).max()) or 1.0
        clean = truth / peak
        c = self.crop
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            clean = augment_pair(clean, clean, rng)[0]
        else:
            rng = np.random.default_rng([self.seed, i])
        if c is not None:
            # training crops are drawn, validation crops centred
            y0, x0 = _crop_origin(clean.shape, c,
                                  rng if self.augment else None)
            clean = clean[y0:y0 + c, x0:x0 + c]
        low, high = self.sigma_range
        sigma = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        noisy = clean + sigma * rng.standard_normal(clean.shape)
        noisy = torch.from_numpy(np.ascontiguousarray(noisy, np.float32))
        clean = torch.from_numpy(np.ascontiguousarray(clean, np.float32))
        return noisy[None], clean[None], torch.tensor(sigma,
                                                      dtype=torch.float32)
