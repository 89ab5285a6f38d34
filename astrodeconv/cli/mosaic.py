# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv mosaic``: deconvolve a large FITS image in tiles."""

import argparse
import os

from ._common import UsageError
from .deconvolve import (_BOUNDARIES, _METHOD_OPTIONS, _METHODS,
                         _analytic_psf, _balance_value, _check_psf_options,
                         _lam_value)

__all__ = []

#: The method options of ``deconvolve`` that ``mosaic`` offers.
_OPTIONS = ('lam', 'weights', 'balance', 'n_iter', 'boundary')


def add_parser(commands):
    """Register the ``mosaic`` command."""
    mos = commands.add_parser(
        'mosaic', help='deconvolve a large FITS image in overlapping tiles',
        description='Deconvolve a FITS image too large for memory in '
        'overlapping tiles, in this process or on a Dask cluster, and '
        'write the blended result (with the WCS, BUNIT and provenance '
        'keywords of the input) to a new FITS file. The input is read '
        'window by window and the output is written tile by tile.')
    mos.add_argument('input', metavar='IN.fits', help='input FITS image '
                     '(its first 2D image HDU)')
    psf = mos.add_argument_group('PSF (one of --psf or --psf-fwhm)')
    psf.add_argument('--psf', metavar='PSF.fits',
                     help='FITS file holding the PSF image, on the grid of '
                     'the input (or with a pixel scale in its header, to be '
                     'resampled onto it)')
    psf.add_argument('--psf-fwhm', metavar='FWHM',
                     help='make an analytic PSF of this FWHM: an angle such '
                     'as 0.8arcsec or a number of pixels such as 3pix')
    psf.add_argument('--psf-model', choices=('gaussian', 'moffat'),
                     default=None,
                     help='analytic PSF profile (default: moffat)')
    psf.add_argument('--moffat-beta', type=float, default=None,
                     metavar='BETA', help='Moffat index (default: 4.765)')
    psf.add_argument('--pixel-scale', metavar='SCALE',
                     help='input pixel scale for an angular --psf-fwhm, '
                     'e.g. 0.2arcsec; default: from the input WCS')
    method = mos.add_argument_group('method')
    method.add_argument('--method', choices=_METHODS, default='tikhonov',
                        help='deconvolution method (default: tikhonov)')
    method.add_argument('--lam', metavar='LAM',
                        help='tikhonov: regularisation weight (default: '
                        "9e-3); 'auto' chooses one per tile")
    method.add_argument('--weights', metavar='NAME|PATH',
                        help='learned, pnp: registry name or checkpoint '
                        'path of the denoiser')
    method.add_argument('--balance', metavar='NSR',
                        help="wiener: noise-to-signal ratio or 'auto' (per "
                        'tile; default: auto)')
    method.add_argument('--n-iter', type=int, metavar='N',
                        help='richardson-lucy, pnp: number of iterations')
    method.add_argument('--boundary', choices=_BOUNDARIES,
                        help='tikhonov and wiener: boundary handling at the '
                        'tile edges (default: reflect)')
    tiles = mos.add_argument_group('tiles and workers')
    tiles.add_argument('--tile', type=int, default=1024, metavar='N',
                       help='largest tile core, in pixels (default: 1024)')
    tiles.add_argument('--overlap', type=int, default=None, metavar='N',
                       help='halo around each tile, in pixels (default: 4 '
                       'times the PSF size)')
    where = tiles.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None, metavar='N',
                       help='worker processes of a local Dask cluster, one '
                       'thread each (default: one per core); 0 runs the '
                       'tiles one after the other in this process, '
                       'without Dask')
    where.add_argument('--scheduler', metavar='ADDRESS',
                       help='address of a running Dask scheduler, e.g. '
                       'tcp://host:8786 (its workers must see IN.fits at '
                       'the same path)')
    mos.add_argument('-o', '--output', required=True, metavar='OUT.fits',
                     help='output FITS file')
    mos.add_argument('--overwrite', action='store_true',
                     help='replace OUT.fits if it exists')
    mos.add_argument('--progress', action=argparse.BooleanOptionalAction,
                     default=True,
                     help='print the number of tiles done (default: on)')
    mos.set_defaults(debias=None, noise_samples=None)
    return mos


def _method_options(args):
    """The ``method_options`` of `deconvolve_mosaic` from the arguments."""
    for name, (option, methods) in _METHOD_OPTIONS.items():
        if getattr(args, name) is not None and args.method not in methods:
            valid = ', '.join(methods)
            msg = (f'{option} applies only to --method {valid}, got '
                   f'--method {args.method}')
            raise UsageError(msg)
    options = {name: getattr(args, name) for name in _OPTIONS
               if getattr(args, name) is not None}
    if 'lam' in options:
        options['lam'] = _lam_value(options['lam'])
    if 'balance' in options:
        options['balance'] = _balance_value(options['balance'])
    return options


def _header_image(path):
    """A data-less NDData with the shape and WCS of ``path``'s image."""
    import numpy as np
    from astropy.io import fits
    from astropy.nddata import NDData

    from ..io.fits import _read_wcs, _select_hdu

    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        hdu = hdul[_select_hdu(hdul, None, path)]
        shape = hdu.shape
        wcs = _read_wcs(hdu.header, hdul)
    return NDData(np.broadcast_to(np.float64(0), shape), wcs=wcs)


def run(args, out):
    """Deconvolve ``args.input`` in tiles and print one summary line."""
    from astropy import units as u

    from ..io import read_image
    from ..parallel.mosaic import deconvolve_mosaic
    from ..utils._files import check_output_path

    options = _method_options(args)
    fwhm = _check_psf_options(args)
    if args.psf is None and fwhm is None:
        msg = ('a PSF is required: give --psf PSF.fits or --psf-fwhm (e.g. '
               '--psf-fwhm 0.8arcsec)')
        raise UsageError(msg)
    check_output_path(args.output, overwrite=args.overwrite)
    if not os.path.isfile(args.input):
        msg = f'input {args.input!r} must be an existing FITS file'
        raise FileNotFoundError(msg)
    if args.psf is not None:
        psf = read_image(args.psf)
        psf.psf = None
    else:
        psf = _analytic_psf(args, fwhm, _header_image(args.input), 1)
    try:
        result = deconvolve_mosaic(
            args.input, args.output, psf=psf, method=args.method,
            method_options=options, tile=args.tile, overlap=args.overlap,
            workers=args.workers, scheduler=args.scheduler,
            overwrite=args.overwrite, progress=args.progress)
    except (TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None
    memory = ('' if result.peak_memory is None
              else f', peak memory {result.peak_memory / 1e9:.3g} GB')
    print(f'{args.method}: {result.tiles} tiles of at most {result.tile} '
          f'px (overlap {result.overlap} px) in {result.seconds:.3g} s'
          f'{memory}; input flux {result.flux_in:.6g}, output flux '
          f'{result.flux_out:.6g} -> {args.output}', file=out)
    return 0
