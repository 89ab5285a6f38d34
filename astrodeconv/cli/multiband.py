# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv multiband``: joint deconvolution of several bands."""

import argparse

import numpy as np

from ._common import AliasedOption
from ._multiband_fits import band_hdu, extension_names, summary_header, write
from ._multiband_options import (DEFAULT_BROAD_BAND, InputNames,
                                 band_objects, check_arguments, deconvolve,
                                 deconvolver_from_args, read_inputs,
                                 weights_from_bands)
from ._options import add_output_options

__all__ = []

_NOISE_MODES = ('uncertainty', 'measure')
_BOUNDARIES = ('zero', 'periodic')

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
                     f'(default: {DEFAULT_BROAD_BAND})')
    _add_solver_options(mb)
    output = mb.add_argument_group('output')
    add_output_options(mb, group=output, metavar='OUT.fits',
                       help='output multi-extension FITS file',
                       overwrite_help='replace OUT.fits if it exists',
                       progress_help='show a progress bar over the '
                       'iterations on standard error (default: shown)')
    return mb


def _add_solver_options(mb):
    """The options that set the MultiBandDeconvolver arguments."""
    solver = mb.add_argument_group(
        'solver', 'The arguments of astrodeconv.multiband.'
        'MultiBandDeconvolver of the same names; those not given keep its '
        'defaults.')
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
    solver.add_argument('--accelerate', default=None,
                        action=argparse.BooleanOptionalAction,
                        help='FISTA momentum with adaptive restart '
                        '(default), or plain projected gradient steps')
    solver.add_argument('--no-acceleration', dest='accelerate', nargs=0,
                        const=False, action=AliasedOption,
                        deprecated=('--no-acceleration',),
                        current='--no-accelerate',
                        help='deprecated spelling of --no-accelerate')
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
    solver.add_argument('--device',
                        help="'cpu' (default), 'cuda', 'cuda:N' or "
                        "'auto' (the GPU when there is one)")
    solver.add_argument('--dtype', choices=('float64', 'float32'),
                        help='precision (default: float64 on the CPU, '
                        'float32 on a GPU)')


def _flux(image):
    data = np.asarray(image.data, dtype=float)
    good = np.isfinite(data)
    if getattr(image, 'mask', None) is not None:
        good &= ~np.asarray(image.mask, dtype=bool)
    return float(data[good].sum())


def run(args, out):
    """Deconvolve the bands jointly, write the file, print a summary."""
    from astropy import units as u

    from ..multiband import BandSet
    from ..utils._files import check_output_path

    check_arguments(args)
    deconvolver = deconvolver_from_args(args)
    bands, broad_band = band_objects(args)
    weights = (weights_from_bands(bands, broad_band) if bands is not None
               else np.asarray(args.sed_weights, dtype=float))
    # before any reading: a missing directory or an existing file
    check_output_path(args.output, overwrite=args.overwrite, name='-o')
    names = InputNames(args.inputs, args.vis)
    images, broad = read_inputs(args)
    try:
        bandset = BandSet(images, broad, bands=bands, broad_band=broad_band,
                          require_uncertainty=args.noise != 'measure')
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise names.error(exc) from None
    results = deconvolve(deconvolver, bandset, weights, names)
    extnames = extension_names(args)
    primary = summary_header(args, results, extnames, weights,
                             bandset.upsample, broad_band)
    extensions = [band_hdu(image, name, path) for image, name, path
                  in zip(results.image, extnames, args.inputs)]
    write(args.output, primary, extensions, args.overwrite)

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
            extnames, args.inputs, images, results.image, weights):
        print(f'  {name} ({path}): SED weight {weight:.4f}, input flux '
              f'{_flux(image):.6g}{unit}, output flux '
              f'{_flux(result):.6g}{unit}', file=out)
    return 0
