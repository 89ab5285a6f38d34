# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv batch``: deconvolve the objects of a catalogue."""

import argparse

from ._common import UsageError
from .deconvolve import (_BOUNDARIES, _METHOD_OPTIONS, _METHODS, _PSF_MODELS,
                         _analytic_psf, _balance_value, _check_psf_options,
                         _lam_value)

__all__ = []

#: The method options of ``deconvolve`` that ``batch`` accepts.
_OPTIONS = ('lam', 'weights', 'balance', 'n_iter', 'boundary')


def add_parser(commands):
    """Register the ``batch`` command."""
    bat = commands.add_parser(
        'batch', help='deconvolve cutouts around the objects of a catalogue',
        description='Cut the objects of a catalogue out of a mosaic, '
        'deconvolve them in chunks (in parallel on a Dask cluster) and '
        'write one multi-extension FITS file per chunk plus results.ecsv '
        'to the output directory. An interrupted run can be finished with '
        '--resume.')
    bat.add_argument('input', metavar='MOSAIC.fits',
                     help='the mosaic (its first 2D image HDU, read with '
                     'memory mapping)')
    bat.add_argument('--catalog', required=True, metavar='CAT.ecsv',
                     help='catalogue readable by astropy, with columns ra, '
                     'dec (degrees) or x, y (0-indexed pixels), and '
                     'optionally id')
    psf = bat.add_argument_group('PSF (one of --psf or --psf-fwhm)')
    psf.add_argument('--psf', metavar='PSF.fits',
                     help='FITS file holding the PSF image, on the mosaic '
                     'grid unless it carries its pixel scale')
    psf.add_argument('--psf-fwhm', metavar='FWHM',
                     help='make an analytic PSF of this FWHM, e.g. '
                     '0.8arcsec or 3pix')
    psf.add_argument('--psf-model', choices=_PSF_MODELS, default=None,
                     help='analytic PSF profile (default: moffat)')
    psf.add_argument('--moffat-beta', type=float, default=None,
                     metavar='BETA', help='Moffat index (default: 4.765)')
    psf.add_argument('--pixel-scale', metavar='SCALE',
                     help='mosaic pixel scale for an angular --psf-fwhm '
                     '(default: from the mosaic WCS)')
    method = bat.add_argument_group('method')
    method.add_argument('--method', choices=_METHODS, default='tikhonov',
                        help='deconvolution method (default: tikhonov)')
    method.add_argument('--lam', metavar='LAM',
                        help="tikhonov, learned, pnp: regularisation weight "
                        "or 'auto', 'sure', 'gcv'")
    method.add_argument('--weights', metavar='NAME|PATH',
                        help='learned, pnp: registry name or checkpoint path')
    method.add_argument('--balance', metavar='NSR',
                        help="wiener: noise-to-signal ratio or 'auto'")
    method.add_argument('--n-iter', type=int, metavar='N',
                        help='richardson-lucy, pnp: number of iterations')
    method.add_argument('--boundary', choices=_BOUNDARIES,
                        help='tikhonov, wiener, learned: boundary handling')
    run_group = bat.add_argument_group('run')
    run_group.add_argument('-o', '--output', required=True, metavar='OUTDIR',
                           help='output directory')
    run_group.add_argument('--size', type=int, default=64, metavar='N',
                           help='cutout side in mosaic pixels (default: 64)')
    run_group.add_argument('--chunk-size', type=int, default=256,
                           metavar='N',
                           help='objects per chunk file (default: 256)')
    where = run_group.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None, metavar='N',
                       help='worker processes of a local Dask cluster '
                       '(default: one per core); 0 runs without Dask')
    where.add_argument('--scheduler', metavar='ADDRESS',
                       help='address of a running Dask scheduler, e.g. '
                       'tcp://host:8786')
    run_group.add_argument('--resume', action='store_true',
                           help='finish an interrupted run in OUTDIR')
    run_group.add_argument('--overwrite', action='store_true',
                           help='replace the results of an earlier run in '
                           'OUTDIR')
    run_group.add_argument('--progress', action=argparse.BooleanOptionalAction,
                           default=True, help='show a progress bar')
    bat.set_defaults(upsample=1, debias=None, noise_samples=None)
    return bat


def _method_options(args):
    for name in _OPTIONS:
        option, methods = _METHOD_OPTIONS[name]
        if getattr(args, name) is not None and args.method not in methods:
            msg = (f'{option} applies only to --method {", ".join(methods)},'
                   f' got --method {args.method}')
            raise UsageError(msg)
    options = {'lam': None if args.lam is None else _lam_value(args.lam),
               'balance': (None if args.balance is None
                           else _balance_value(args.balance)),
               'n_iter': args.n_iter, 'boundary': args.boundary,
               'weights': args.weights}
    return {key: value for key, value in options.items() if value is not None}


def _psf(args, fwhm):
    import numpy as np
    from astropy.io import fits
    from astropy.nddata import NDData
    from astropy.wcs import WCS

    from ..io import read_image

    if args.psf is not None:
        psf = read_image(args.psf)
        psf.psf = None
        return psf
    if fwhm is None:
        msg = ('a PSF is required: give --psf PSF.fits or --psf-fwhm (e.g. '
               '--psf-fwhm 0.8arcsec)')
        raise UsageError(msg)
    # a stand-in of one cutout: its shape and the mosaic WCS set the PSF
    with fits.open(args.input, memmap=True) as hdul:
        header = next((hdu.header for hdu in hdul if hdu.is_image
                       and hdu.header.get('NAXIS') == 2), None)
    wcs = WCS(header) if header is not None and header.get('CTYPE1') \
        else None
    stand_in = NDData(np.zeros((args.size, args.size)), wcs=wcs)
    return _analytic_psf(args, fwhm, stand_in, 1)


def run(args, out):
    """Run the catalogue mode and print its summary to ``out``."""
    from ..parallel.catalog import deconvolve_catalog

    options = _method_options(args)
    fwhm = _check_psf_options(args)
    for option, value, minimum in (('--size', args.size, 8),
                                   ('--chunk-size', args.chunk_size, 1),
                                   ('--workers', args.workers, 0)):
        if value is not None and value < minimum:
            msg = f'{option} must be at least {minimum}, got {value}'
            raise UsageError(msg)
    psf = _psf(args, fwhm)
    result = deconvolve_catalog(
        args.input, args.catalog, args.output, psf=psf, method=args.method,
        method_options=options, size=args.size, chunk_size=args.chunk_size,
        workers=args.workers, scheduler=args.scheduler, resume=args.resume,
        overwrite=args.overwrite, progress=args.progress)
    print(result.summary(), file=out)
    return 0
