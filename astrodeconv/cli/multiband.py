# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv multiband``: joint deconvolution of several bands."""

import argparse
import math
import re
import warnings
from pathlib import Path

import numpy as np

from ._common import UsageError

__all__ = []

_NOISE_MODES = ('uncertainty', 'measure')
_BOUNDARIES = ('zero', 'periodic')

#: The broad band assumed with --bands when --broad-band is not given.
_DEFAULT_BROAD_BAND = 'euclid_vis'

#: Extension names that a band extension must not take: the primary HDU
#: and the auxiliary extensions of `astrodeconv.io.read_image`.
_RESERVED_EXTNAMES = ('PRIMARY', 'UNCERT', 'MASK', 'PSF', 'PSFIMAGE')

#: Parameters of MultiBandDeconvolver and the options that set them, to
#: name the option in the library's messages.
_OPTION_NAMES = {'n_iter': '--n-iter',
                 'constraint_fraction': '--constraint-fraction',
                 'constraint_weight': '--constraint-weight',
                 'discrepancy': '--discrepancy', 'tol': '--tol',
                 'noise': '--noise', 'boundary': '--boundary',
                 'device': '--device'}

#: What each stop reason of MultiBandResults means.
_STOP_REASONS = {'discrepancy': 'the broad band is fitted to within its '
                                'noise (discrepancy principle)',
                 'tol': 'the images changed by less than --tol',
                 'n_iter': 'reached --n-iter'}


def add_parser(commands):
    """Register the ``multiband`` command."""
    mb = commands.add_parser(
        'multiband', help='deconvolve narrow bands jointly with a broad '
        'band (e.g. Rubin r, i, z with Euclid VIS)',
        description='Deconvolve several narrow-band images (e.g. Rubin r, '
        'i, z) jointly with a sharper broad-band image that covers them '
        '(e.g. Euclid VIS), onto the pixel grid of the broad band '
        '(astrodeconv.multiband.MultiBandDeconvolver). Every input is a '
        'FITS image with a celestial WCS, a BUNIT in a flux per pixel '
        '(one unit for all), an UNCERT extension (1-sigma uncertainty) '
        'and a PSF extension sampled on the broad-band grid. The narrow '
        'bands share one pixel grid, and the broad-band pixels nest in '
        'theirs (a pixel scale k times finer, k an integer). The result '
        'is one multi-extension FITS file: an empty primary HDU whose '
        'header summarises the run, then one image extension per narrow '
        'band on the broad-band grid, with its WCS, BUNIT and provenance '
        'keywords.')
    mb.add_argument('inputs', nargs='+', metavar='BAND.fits',
                    help='the narrow-band images, one file per band')
    mb.add_argument('--vis', required=True, metavar='VIS.fits',
                    help='the broad-band image (e.g. Euclid VIS), k times '
                    'finer than the narrow bands over the same sky area')
    mb.add_argument('-o', '--output', required=True, metavar='OUT.fits',
                    help='output multi-extension FITS file')
    sed = mb.add_argument_group(
        'SED weights (exactly one of --bands or --sed-weights)',
        'The broad band is modelled as the sum of the narrow bands, each '
        'times its SED weight.')
    choice = sed.add_mutually_exclusive_group(required=True)
    choice.add_argument('--bands', nargs='+', metavar='KEY',
                        help='the band of each input, in their order, as '
                        'keys of astrodeconv.multiband.list_bands (e.g. '
                        'rubin_r rubin_i rubin_z): the SED weights are '
                        'computed from the throughputs for a flat f_nu '
                        'spectrum, and the keys name the output extensions')
    choice.add_argument('--sed-weights', nargs='+', type=float,
                        metavar='W', help='the SED weights, one per input '
                        'in their order, non-negative and summing to 1 '
                        'within 0.1 (e.g. 0.46 0.34 0.20); the output '
                        'extensions are named after the input files')
    sed.add_argument('--broad-band', metavar='KEY',
                     help='with --bands: the band key of the --vis image '
                     f'(default: {_DEFAULT_BROAD_BAND})')
    solver = mb.add_argument_group('solver')
    solver.add_argument('--n-iter', type=int, metavar='N',
                        help='largest number of iterations (default: 200)')
    weight = solver.add_mutually_exclusive_group()
    weight.add_argument('--constraint-fraction', type=float,
                        metavar='F',
                        help='weight the broad-band term of each band, at '
                        'every iteration, to this fraction of its data '
                        'term (default: 0.6)')
    weight.add_argument('--constraint-weight', type=float, metavar='W',
                        help='a fixed weight of the broad-band term for '
                        'every band, instead of --constraint-fraction')
    solver.add_argument('--no-acceleration', action='store_true',
                        help='plain projected gradient steps instead of '
                        'FISTA momentum with adaptive restart')
    stop = solver.add_mutually_exclusive_group()
    stop.add_argument('--discrepancy', type=float, metavar='CHI2',
                      help='stop once the reduced chi-square of the broad '
                      'band falls to this value (default: 1, the '
                      'discrepancy principle)')
    stop.add_argument('--no-discrepancy', action='store_true',
                      help='never stop on the broad-band fit (only --tol '
                      'and --n-iter stop the iterations)')
    solver.add_argument('--tol', type=float, metavar='TOL',
                        help='stop once the images change by less than '
                        'this, relative, in one iteration (default: 1e-4)')
    solver.add_argument('--noise', choices=_NOISE_MODES,
                        help="'uncertainty' (default): weigh every pixel "
                        "by the UNCERT extensions; 'measure': one noise "
                        'level per image, measured in its pixels (no '
                        'UNCERT extension is needed)')
    solver.add_argument('--boundary', choices=_BOUNDARIES,
                        help="'zero' (default): the images are zero outside "
                        "their area (linear convolutions); 'periodic': "
                        'circular convolutions')
    solver.add_argument('--device', default='cpu',
                        help="'cpu' (default), 'cuda', 'cuda:N' or "
                        "'auto' (the GPU when there is one)")
    solver.add_argument('--dtype', choices=('float64', 'float32'),
                        help='precision (default: float64 on the CPU, '
                        'float32 on a GPU)')
    mb.add_argument('--progress', action=argparse.BooleanOptionalAction,
                    default=True,
                    help='show a progress bar over the iterations on '
                    'standard error (default: shown)')
    mb.add_argument('--overwrite', action='store_true',
                    help='replace OUT.fits if it exists')
    return mb


def _check_arguments(args):
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


def _deconvolver_from_args(args):
    from ..multiband import MultiBandDeconvolver

    options = {'n_iter': args.n_iter,
               'constraint_fraction': args.constraint_fraction,
               'constraint_weight': args.constraint_weight,
               'discrepancy': args.discrepancy, 'tol': args.tol,
               'noise': args.noise, 'boundary': args.boundary,
               'dtype': args.dtype}
    # the options not given keep the library's defaults
    options = {key: value for key, value in options.items()
               if value is not None}
    if args.no_discrepancy:
        options['discrepancy'] = None
    try:
        return MultiBandDeconvolver(accelerate=not args.no_acceleration,
                                    device=args.device,
                                    progress=args.progress, **options)
    except (ValueError, TypeError) as exc:
        raise UsageError(_option_text(str(exc))) from None


def _option_text(text):
    """The library's parameter names in ``text`` spelled as options."""
    for name, option in _OPTION_NAMES.items():
        # 'n_iter must be ...' -> '--n-iter must be ...'
        text = re.sub(rf'^{name}(?= )', option, text)
        # noise='measure' -> --noise measure, discrepancy=1 -> --discrepancy 1
        text = re.sub(rf"(?<![\w-]){name}='?([\w.:]+)'?(?![\w=])",
                      rf'{option} \1', text)
    return text


def _band_objects(args):
    """The Band of every input and of the broad band, or (None, None)."""
    from ..multiband import get_band

    if args.bands is None:
        return None, None
    found = []
    for key in [*args.bands, args.broad_band or _DEFAULT_BROAD_BAND]:
        try:
            found.append(get_band(key))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except ImportError as exc:
            # the Rubin and HST curves come with GalSim
            raise RuntimeError(str(exc)) from None
    return found[:-1], found[-1]


def _weights_from_bands(bands, broad_band):
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


class _InputNames:
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
        text = re.sub(r'(?<=of )broad(?![\w-])', self.vis, text)
        return _option_text(text)

    def error(self, exc):
        """The exception with the file names in its message."""
        return type(exc)(self(str(exc)))


def _read_inputs(args):
    """The narrow-band images and the broad band, each checked."""
    from ..io import read_image

    images = [read_image(path) for path in args.inputs]
    broad = read_image(args.vis)
    for path, image in [*zip(args.inputs, images), (args.vis, broad)]:
        _check_input(path, image, args.noise != 'measure')
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


def _extension_names(args):
    """One unique EXTNAME per band: its key, or the stem of its file."""
    if args.bands is not None:
        names = [key.strip() for key in args.bands]
    else:
        names = [Path(path).stem for path in args.inputs]
    unique, taken = [], set(_RESERVED_EXTNAMES)
    for name in names:
        name = re.sub(r'[^A-Z0-9_.-]', '_', name.upper()) or 'BAND'
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f'{name}_{n}'
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _fits_text(text):
    """``text`` with every character FITS cannot hold replaced by '?'."""
    return ''.join(c if 32 <= ord(c) <= 126 else '?' for c in str(text))


def _summary_header(args, results, names, weights, upsample, broad_band):
    """The primary header: the run, its inputs and the band extensions."""
    from astropy.io import fits

    from ..utils._provenance import add_provenance

    params = {'DCNVITER': int(results.iterations),
              'DCNVSTOP': results.stop_reason, 'DCNVUPS': int(upsample),
              'DCNVNBND': len(names),
              'DCNVSEDS': 'bands' if args.bands is not None else 'given',
              'DCNVVIS': _fits_text(Path(args.vis).name)}
    comments = {'DECONV': 'deconvolution method',
                'DCNVITER': 'iterations run',
                'DCNVSTOP': 'why the iterations stopped',
                'DCNVUPS': 'narrow / broad-band pixel scale ratio',
                'DCNVNBND': 'number of narrow bands (image extensions)',
                'DCNVSEDS': 'SED weights from --bands or --sed-weights',
                'DCNVVIS': 'broad-band input file',
                'DCNVBBND': 'band key of the broad band',
                'DCNVVER': 'astrodeconv version'}
    if broad_band is not None:
        params['DCNVBBND'] = broad_band.key
    for i, (name, path) in enumerate(zip(names, args.inputs), start=1):
        params[f'DCNVEX{i}'] = name
        params[f'DCNVIN{i}'] = _fits_text(Path(path).name)
        params[f'DCNVSW{i}'] = float(weights[i - 1])
        comments[f'DCNVEX{i}'] = f'EXTNAME of HDU {i}'
        comments[f'DCNVIN{i}'] = f'input file of HDU {i}'
        comments[f'DCNVSW{i}'] = f'SED weight of HDU {i}'
    meta = add_provenance({}, 'MultiBandDeconvolver', params)
    header = fits.Header()
    for key, value in meta.items():
        header[key] = (value, comments.get(key, ''))
    return header


def _band_hdu(image, name, path):
    """One image extension: the data, WCS, BUNIT and the meta of a band."""
    from astropy import units as u
    from astropy.io import fits

    from ..io.fits import _header_from_meta, _meta_from_header, _unit_string

    meta = _header_from_meta(image.meta)
    header = _meta_from_header(meta, strip_wcs=image.wcs is not None)
    if image.wcs is not None:
        header.update(image.wcs.to_header(relax=True))
    if image.unit is not None and image.unit != u.dimensionless_unscaled:
        header['BUNIT'] = _unit_string(image.unit)
    elif str(meta.get('BUNIT', '')).strip():
        # a BUNIT astropy could not parse, kept as text
        header['BUNIT'] = str(meta['BUNIT'])
    header['DCNVIN'] = (_fits_text(Path(path).name), 'input file')
    return fits.ImageHDU(np.asarray(image.data), header=header, name=name)


def _write(path, primary, extensions, overwrite):
    """Write the file under a temporary name, then move it in place."""
    from astropy.io import fits

    from ..utils._files import atomic_path

    hdul = fits.HDUList([fits.PrimaryHDU(header=primary), *extensions])
    with atomic_path(path, overwrite=overwrite) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify='exception')


def _flux(image):
    data = np.asarray(image.data, dtype=float)
    good = np.isfinite(data)
    if getattr(image, 'mask', None) is not None:
        good &= ~np.asarray(image.mask, dtype=bool)
    return float(data[good].sum())


def _deconvolve(deconvolver, bandset, weights, names):
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


def run(args, out):
    """Deconvolve the bands jointly, write the file, print a summary."""
    from astropy import units as u

    from ..multiband import BandSet
    from ..utils._files import check_output_path

    _check_arguments(args)
    deconvolver = _deconvolver_from_args(args)
    bands, broad_band = _band_objects(args)
    weights = (_weights_from_bands(bands, broad_band) if bands is not None
               else np.asarray(args.sed_weights, dtype=float))
    # before any reading: a missing directory or an existing file
    check_output_path(args.output, overwrite=args.overwrite, name='-o')
    names = _InputNames(args.inputs, args.vis)
    images, broad = _read_inputs(args)
    try:
        bandset = BandSet(images, broad, bands=bands, broad_band=broad_band,
                          require_uncertainty=args.noise != 'measure')
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise names.error(exc) from None
    results = _deconvolve(deconvolver, bandset, weights, names)
    extnames = _extension_names(args)
    primary = _summary_header(args, results, extnames, weights,
                              bandset.upsample, broad_band)
    extensions = [_band_hdu(image, name, path) for image, name, path
                  in zip(results.images, extnames, args.inputs)]
    _write(args.output, primary, extensions, args.overwrite)

    unit = '' if bandset.unit is None else f' {bandset.unit.to_string()}'
    fy, fx = bandset.fine_shape
    source = ('from --bands (flat f_nu)' if args.bands is not None
              else 'from --sed-weights')
    reason = _STOP_REASONS.get(results.stop_reason, results.stop_reason)
    count = f'{len(extnames)} band' + ('s' if len(extnames) > 1 else '')
    print(f'multiband: {count} onto the {fx}x{fy} grid of '
          f'{args.vis} (x{bandset.upsample}), SED weights {source}; '
          f'{results.iterations} iterations (stopped: {reason}) -> '
          f'{args.output}', file=out)
    for name, path, image, result, weight in zip(
            extnames, args.inputs, images, results.images, weights):
        print(f'  {name} ({path}): SED weight {weight:.4f}, input flux '
              f'{_flux(image):.6g}{unit}, output flux '
              f'{_flux(result):.6g}{unit}', file=out)
    return 0
