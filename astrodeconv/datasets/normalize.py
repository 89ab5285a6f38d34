# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Augmentation and splitting of training pairs.

`augment` applies the augmentations of the published training to a pair,
`split_indices` splits a set into training, validation and test parts.
The normalisation of the pairs is the one inference uses:
`~astrodeconv.denoisers.normalize_pair`, `~astrodeconv.denoisers.
denormalize`, `~astrodeconv.denoisers.sky_level` and
`~astrodeconv.denoisers.NormalizationParams`
(``astrodeconv.denoisers.normalization``); their former spellings
``astrodeconv.datasets.normalize_pair`` etc. still work for one release,
with an `~astropy.utils.exceptions.AstropyDeprecationWarning`.
"""

import warnings

import numpy as np
from astropy.utils.exceptions import AstropyDeprecationWarning

from ..denoisers import normalization as _normalization
from ..utils._validation import check_positive_int

__all__ = ['augment', 'split_indices']

# The normalisation names that moved to astrodeconv.denoisers (0.1).
_MOVED_TO_DENOISERS = ('NormalizationParams', 'normalize_pair',
                       'denormalize', 'sky_level')


def __getattr__(name):
    if name in _MOVED_TO_DENOISERS:
        warnings.warn(
            f'astrodeconv.datasets.{name} is deprecated since 0.1: use '
            f'astrodeconv.denoisers.{name} (the normalisation shared by '
            'training and inference)', AstropyDeprecationWarning,
            stacklevel=2)
        return getattr(_normalization, name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def _dihedral(a, rot, flip):
    """Rotate the last two axes by ``rot`` quarter turns, then flip."""
    out = np.rot90(a, rot, axes=(-2, -1))
    if flip:
        out = out[..., ::-1]
    return out


def augment(x, y, rng, *, max_shift=10):
    """
    Apply one random augmentation identically to an (input, target) pair.

    The augmentations of the published training: one of the 8 symmetries
    of the square (rotation by 0, 90, 180 or 270 deg, optionally followed
    by a flip along the horizontal axis; together with the rotations this
    gives the vertical and diagonal flips), equally likely, then a circular
    translation (`numpy.roll`) by an integer number of pixels drawn
    uniformly in ``[-max_shift, max_shift]`` along each axis. All these
    keep the flux exactly.

    Parameters
    ----------
    x, y : array_like
        Arrays ``(..., ny, nx)`` with the same last two dimensions; the
        last two axes are transformed.
    rng : `numpy.random.Generator` or int
        Random generator (or seed) of the draws.
    max_shift : int, optional
        Largest translation in pixels (0 disables translations).

    Returns
    -------
    x, y : `~numpy.ndarray`
        The transformed copies.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.datasets import augment
    >>> x = np.arange(64.0).reshape(8, 8)
    >>> a, b = augment(x, 2 * x, np.random.default_rng(1))
    >>> bool(np.array_equal(b, 2 * a)), float(a.sum()) == float(x.sum())
    (True, True)
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    max_shift = check_positive_int(max_shift, 'max_shift', minimum=0)
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-2:] != y.shape[-2:]:
        msg = (f'x and y must be arrays (..., ny, nx) with the same last two '
               f'dimensions, got shapes {x.shape} and {y.shape}')
        raise ValueError(msg)
    rot = int(rng.integers(4))
    flip = bool(rng.integers(2))
    shift = tuple(int(s) for s in rng.integers(-max_shift, max_shift + 1,
                                               2))
    out = []
    for a in (x, y):
        a = _dihedral(a, rot, flip)
        if max_shift:
            a = np.roll(a, shift, axis=(-2, -1))
        out.append(np.ascontiguousarray(a))
    return out[0], out[1]


def split_indices(n, fractions=(0.8, 0.1, 0.1), seed=0):
    """
    Split ``range(n)`` at random into training, validation and test sets.

    Parameters
    ----------
    n : int
        Number of items.
    fractions : tuple of 3 float, optional
        Fractions of the three sets (non-negative, summing to 1). The counts
        are rounded with the largest-remainder rule so they add up to
        ``n``.
    seed : int, optional
        Seed of the permutation: the same ``n``, ``fractions`` and ``seed``
        always give the same split.

    Returns
    -------
    train, val, test : `~numpy.ndarray`
        Sorted, disjoint index arrays covering ``range(n)``.

    Examples
    --------
    >>> from astrodeconv.datasets import split_indices
    >>> train, val, test = split_indices(10, seed=1)
    >>> len(train), len(val), len(test)
    (8, 1, 1)
    >>> sorted([*train, *val, *test]) == list(range(10))
    True
    """
    n = check_positive_int(n, 'n', minimum=0)
    frac = np.asarray(fractions, dtype=float)
    if frac.shape != (3,) or not np.all(np.isfinite(frac)) or np.any(
            frac < 0) or not np.isclose(frac.sum(), 1.0, atol=1e-6):
        msg = (f'fractions must be 3 non-negative numbers summing to 1, got '
               f'{fractions!r}')
        raise ValueError(msg)
    exact = frac * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind='stable')
    counts[order[:n - counts.sum()]] += 1
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum(counts)[:-1]
    return tuple(np.sort(part) for part in np.split(perm, bounds))
