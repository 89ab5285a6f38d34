# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv mosaic``: deconvolve a large FITS image in tiles."""

import os

from ._common import UsageError, check_minimum, warn_if_file_without_unit
from ._options import (add_method_options, add_output_options,
                       add_worker_options, make_method_deconvolver)
from ._psf_options import (add_psf_options, analytic_psf, check_psf_options,
                           psf_required, read_psf_file)

__all__ = []

#: The method options of ``mosaic`` (keys of `METHOD_OPTIONS`).
OPTIONS = ('lam', 'denoiser', 'balance', 'n_iter', 'boundary', 'recenter')

#: The arguments of `deconvolve_mosaic` whose invalid values it reports:
#: a bad value of these options (exit status 2), not a failure.
_CHECKED_BY_LIBRARY = ('tile ', 'overlap ', 'workers ')


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
    add_psf_options(
        mos, title='PSF (one of --psf or --psf-fwhm)',
        psf_help='FITS file holding the PSF image, on the grid of the input '
        '(or with a pixel scale in its header, to be resampled onto it)',
        fwhm_help='make an analytic PSF of this FWHM: an angle such as '
        '0.8arcsec or a number of pixels such as 3pix',
        scale_help='input pixel scale for an angular --psf-fwhm, e.g. '
        '0.2arcsec; default: from the input WCS')
    add_method_options(mos, OPTIONS, defaults={
        'boundary': "default: reflect at the mosaic edges for "
                    "tikhonov/wiener, periodic for learned/default"})
    tiles = mos.add_argument_group('tiles and workers')
    tiles.add_argument('--tile', type=int, default=1024, metavar='N',
                       help='largest tile core, in pixels (default: 1024)')
    tiles.add_argument('--overlap', type=int, default=None, metavar='N',
                       help='halo around each tile, in pixels (default: 4 '
                       'times the PSF size)')
    add_worker_options(
        tiles, workers_help='worker processes of a local Dask cluster, one '
        'thread each (default: one per core); 0 runs the tiles one after '
        'the other in this process, without Dask',
        scheduler_help='address of a running Dask scheduler, e.g. '
        'tcp://host:8786 (its workers must see IN.fits at the same path)')
    output = mos.add_argument_group('output')
    add_output_options(mos, group=output, metavar='OUT.fits',
                       help='output FITS file',
                       overwrite_help='replace OUT.fits if it exists',
                       progress_help='print the number of tiles done '
                       '(default: on)')
    return mos


def _header_image(path):
    """A data-less NDData with the shape and WCS of ``path``'s image."""
    import numpy as np
    from astropy.io import fits
    from astropy.nddata import NDData

    from ..io import read_wcs, select_image_hdu

    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        hdu = hdul[select_image_hdu(hdul, path=path)]
        shape = hdu.shape
        wcs = read_wcs(hdu.header, hdul)
    return NDData(np.broadcast_to(np.float64(0), shape), wcs=wcs)


def run(args, out):
    """Deconvolve ``args.input`` in tiles and print one summary line."""
    from astropy import units as u

    from ..parallel.mosaic import deconvolve_mosaic
    from ..utils._files import check_output_path

    options = make_method_deconvolver(args, OPTIONS)[1]
    fwhm = check_psf_options(args)
    if args.psf is None and fwhm is None:
        raise psf_required()
    check_minimum(args, {'--tile': 1, '--overlap': 0, '--workers': 0})
    if args.overlap is not None and args.overlap >= args.tile:
        msg = (f'--tile must be larger than --overlap, got --tile '
               f'{args.tile} and --overlap {args.overlap}')
        raise UsageError(msg)
    check_output_path(args.output, overwrite=args.overwrite)
    if not os.path.isfile(args.input):
        msg = f'input {args.input!r} must be an existing FITS file'
        raise FileNotFoundError(msg)
    warn_if_file_without_unit(args.input)
    if args.psf is not None:
        psf = read_psf_file(args.psf)
    else:
        psf = analytic_psf(args, fwhm, _header_image(args.input), 1)
    try:
        result = deconvolve_mosaic(
            args.input, args.output, psf=psf, method=args.method,
            method_options=options, tile=args.tile, overlap=args.overlap,
            workers=args.workers, scheduler=args.scheduler,
            overwrite=args.overwrite, progress=args.progress,
            psf_center=args.psf_center)
    except (TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        if str(exc).startswith(_CHECKED_BY_LIBRARY):
            raise UsageError(str(exc)) from None
        raise
    memory = ('' if result.peak_memory is None
              else f', peak memory {result.peak_memory / 1e9:.3g} GB')
    print(f'{args.method}: {result.tiles} tiles of at most {result.tile} '
          f'px (overlap {result.overlap} px) in {result.seconds:.3g} s'
          f'{memory}; input flux {result.flux_in:.6g}, output flux '
          f'{result.flux_out:.6g} -> {args.output}', file=out)
    return 0
