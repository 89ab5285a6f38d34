# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The arguments and inputs of ``astrodeconv multiband``, checked.

The checks the parser's types cannot make (one band key or SED weight per
input, weights summing to 1), the `MultiBandDeconvolver` of the solver
options, the Band objects of ``--bands``, and the input files with their
names put into the library's messages.
"""

import math
import re
import warnings

import numpy as np

from ._common import UsageError, warn_without_unit

__all__ = []

#: The broad band assumed with --bands when --broad-band is not given.
DEFAULT_BROAD_BAND = 'euclid_vis'

#: The solver options that set the MultiBandDeconvolver argument of the
#: same name when given (the others keep the library's defaults).
SOLVER_OPTIONS = ('n_iter', 'constraint_fraction', 'constraint_weight',
                  'discrepancy', 'tol', 'noise', 'boundary', 'device',
                  'dtype', 'accelerate')


def check_arguments(args):
    """Refuse values the parser's types let through (exit status 2)."""
    from ..multiband.deconvolver import SED_SUM_TOLERANCE

    n_bands = len(args.inputs)
    if args.bands is not None and len(args.bands) != n_bands:
        msg = (f'--bands must give one band key per input image '
               f'({n_bands}), got {len(args.bands)}')
        raise UsageError(msg)
    if args.broad_band is not None and args.bands is None:
        msg = '--broad-band applies only with --bands'
        raise UsageError(msg)
    weights = args.sed_weights
    if weights is None:
        return
    if len(weights) != n_bands:
        msg = (f'--sed-weights must give one weight per input image '
               f'({n_bands}), got {len(weights)}')
        raise UsageError(msg)
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        shown = ' '.join(f'{w:g}' for w in weights)
        msg = f'--sed-weights must be finite and non-negative, got {shown}'
        raise UsageError(msg)
    total = sum(weights)
    if abs(total - 1) > SED_SUM_TOLERANCE:
        msg = (f'--sed-weights must sum to 1 (within {SED_SUM_TOLERANCE}), '
               f'got a sum of {total:.4g}: the broad band is the weighted '
               'sum of the narrow ones, all in one flux unit')
        raise UsageError(msg)


def deconvolver_from_args(args):
    """The MultiBandDeconvolver of the solver options (exit status 2)."""
    from ..multiband import MultiBandDeconvolver

    options = {name: getattr(args, name) for name in SOLVER_OPTIONS
               if getattr(args, name) is not None}
    if args.no_discrepancy:
        options['discrepancy'] = None
    try:
        return MultiBandDeconvolver(progress=args.progress, **options)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def band_objects(args):
    """The Band of every input and of the broad band, or (None, None)."""
    from ..multiband import get_band

    if args.bands is None:
        return None, None
    found = []
    for key in [*args.bands, args.broad_band or DEFAULT_BROAD_BAND]:
        try:
            found.append(get_band(key))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except ImportError as exc:
            # the Rubin and HST curves come with GalSim
            raise RuntimeError(str(exc)) from None
    return found[:-1], found[-1]


def weights_from_bands(bands, broad_band):
    """The flat-f_nu SED weights of --bands, checked (exit status 2)."""
    from ..multiband import sed_weights
    from ..multiband.deconvolver import SED_SUM_TOLERANCE

    weights = np.asarray(sed_weights(bands, broad_band), dtype=float)
    total = float(weights.sum())
    if abs(total - 1) > SED_SUM_TOLERANCE:
        keys = ' '.join(band.key for band in bands)
        msg = (f'--bands {keys} cover {total:.0%} of the flux of the broad '
               f'band {broad_band.key} (their SED weights sum to '
               f'{total:.4g}); they must cover it to within '
               f'{SED_SUM_TOLERANCE:.0%}: give the bands that span the '
               'broad band, or the weights with --sed-weights')
        raise UsageError(msg)
    return weights


class InputNames:
    """Put the input file names into the messages of the library."""

    def __init__(self, inputs, vis):
        self.inputs = [repr(str(path)) for path in inputs]
        self.vis = repr(str(vis))

    def _file(self, index):
        index = int(index)
        if index < len(self.inputs):
            return self.inputs[index]
        return f'bands[{index}]'

    def __call__(self, text):
        text = re.sub(r'\b(?:images|bands)\[(\d+)\]\.psf',
                      lambda m: f'the PSF of {self._file(m[1])}', text)
        text = re.sub(r'(?<![\w-])broad\.psf', f'the PSF of {self.vis}',
                      text)
        text = re.sub(r'\b(?:images|bands)\[(\d+)\]',
                      lambda m: self._file(m[1]), text)
        text = re.sub(r'^broad(?= )', self.vis, text)
        return re.sub(r'(?<=of )broad(?![\w-])', self.vis, text)

    def error(self, exc):
        """The exception with the file names in its message."""
        return type(exc)(self(str(exc)))


def read_inputs(args):
    """The narrow-band images and the broad band, each checked."""
    from ..io import read_image

    images = [read_image(path) for path in args.inputs]
    broad = read_image(args.vis)
    for path, image in [*zip(args.inputs, images), (args.vis, broad)]:
        _check_input(path, image, args.noise != 'measure')
        if image.unit is None:
            warn_without_unit(path, image.meta)
    return images, broad


def _check_input(path, image, need_uncertainty=True):
    """What every input must carry, named as the files name it."""
    wcs = image.wcs
    if wcs is None or not getattr(wcs, 'has_celestial', False):
        msg = (f'{str(path)!r} must have a celestial WCS in its header: the '
               'bands are lined up on the sky by their WCS')
        raise ValueError(msg)
    if image.psf is None:
        msg = (f'{str(path)!r} must have a PSF extension (EXTNAME PSF), '
               'the PSF of its band sampled on the broad-band grid')
        raise ValueError(msg)
    if need_uncertainty and image.uncertainty is None:
        msg = (f'{str(path)!r} must have an UNCERT extension (the 1-sigma '
               'uncertainty of every pixel, in the unit of the image)')
        raise ValueError(msg)


def deconvolve(deconvolver, bandset, weights, names):
    """Run the library with the file names in its errors and warnings."""
    from astropy import units as u

    caught = []
    try:
        # the filters of the caller (astrodeconv.cli.main) still apply
        with warnings.catch_warnings(record=True) as caught:
            return deconvolver.deconvolve(bandset, sed_weights=weights)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise names.error(exc) from None
    finally:
        # outside the block: the caller records them as it records any
        for item in caught:
            warnings.warn(names(str(item.message)), item.category,
                          stacklevel=2)
