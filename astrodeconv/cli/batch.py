# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv batch``: deconvolve the objects of a catalogue."""

from ._common import check_minimum, warn_if_file_without_unit
from ._options import (add_method_options, add_output_options,
                       add_worker_options, make_method_deconvolver)
from ._psf_options import (add_psf_options, analytic_psf, check_psf_options,
                           psf_required, read_psf_file)

__all__ = []

#: The method options of ``batch`` (keys of `METHOD_OPTIONS`).
OPTIONS = ('lam', 'denoiser', 'balance', 'n_iter', 'boundary', 'recenter')


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
    add_psf_options(
        bat, title='PSF (one of --psf or --psf-fwhm)',
        psf_help='FITS file holding the PSF image, on the mosaic grid '
        'unless it carries its pixel scale',
        fwhm_help='make an analytic PSF of this FWHM, e.g. 0.8arcsec or '
        '3pix',
        scale_help='mosaic pixel scale for an angular --psf-fwhm (default: '
        'from the mosaic WCS)')
    add_method_options(bat, OPTIONS)
    run_group = bat.add_argument_group('run')
    run_group.add_argument('--size', type=int, default=64, metavar='N',
                           help='cutout side in mosaic pixels (default: 64)')
    run_group.add_argument('--chunk-size', type=int, default=256,
                           metavar='N',
                           help='objects per chunk file (default: 256)')
    add_worker_options(
        run_group, workers_help='worker processes of a local Dask cluster '
        '(default: one per core); 0 runs without Dask',
        scheduler_help='address of a running Dask scheduler, e.g. '
        'tcp://host:8786')
    run_group.add_argument('--resume', action='store_true',
                           help='finish an interrupted run in OUTDIR')
    add_output_options(bat, group=run_group, metavar='OUTDIR',
                       help='output directory',
                       overwrite_help='replace the results of an earlier '
                       'run in OUTDIR', progress_help='show a progress bar')
    return bat


def _stand_in(path, size):
    """A cutout of zeros: its shape and the mosaic WCS set the PSF."""
    import numpy as np
    from astropy.io import fits
    from astropy.nddata import NDData

    from ..io import read_wcs, select_image_hdu

    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        header = hdul[select_image_hdu(hdul, path=path)].header
        wcs = read_wcs(header, hdul)
    return NDData(np.zeros((size, size)), wcs=wcs)


def run(args, out):
    """Run the catalogue mode and print its summary to ``out``."""
    from ..parallel.catalog import deconvolve_catalog

    options = make_method_deconvolver(args, OPTIONS)[1]
    fwhm = check_psf_options(args)
    check_minimum(args, {'--size': 8, '--chunk-size': 1, '--workers': 0})
    if args.psf is not None:
        psf = read_psf_file(args.psf)
    elif fwhm is not None:
        psf = analytic_psf(args, fwhm, _stand_in(args.input, args.size), 1)
    else:
        raise psf_required()
    warn_if_file_without_unit(args.input)
    result = deconvolve_catalog(
        args.input, args.catalog, args.output, psf=psf, method=args.method,
        method_options=options, size=args.size, chunk_size=args.chunk_size,
        workers=args.workers, scheduler=args.scheduler, resume=args.resume,
        overwrite=args.overwrite, progress=args.progress,
        psf_center=args.psf_center)
    print(result.summary(), file=out)
    return 0
