# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv deconvolve``: deconvolve a FITS image."""

from ._common import (UsageError, describe_params, flux_summary,
                      warn_without_unit)
from ._options import (add_method_options, add_output_options,
                       make_method_deconvolver, method_defaults,
                       method_names)
from ._psf_options import (add_psf_options, analytic_psf, check_psf_options,
                           read_psf_file)

__all__ = []

#: The method options of ``deconvolve`` (keys of `METHOD_OPTIONS`).
OPTIONS = ('lam', 'denoiser', 'debias', 'n_noise_samples', 'balance',
           'n_iter', 'upsample', 'boundary', 'recenter')


def add_parser(commands):
    """Register the ``deconvolve`` command."""
    dec = commands.add_parser(
        'deconvolve', help='deconvolve a FITS image',
        description='Deconvolve a FITS image and write the result (data, '
        'UNCERT, MASK, effective PSF, WCS and provenance keywords) to a '
        'new FITS file.')
    dec.add_argument('input', metavar='IN.fits', help='input FITS image; '
                     'its UNCERT and MASK extensions are used')
    add_psf_options(
        dec, title='PSF (one of --psf or --psf-fwhm; without either the PSF '
        'extension of the input is used)',
        psf_help='FITS file holding the PSF image. With a pixel scale in '
        'its header (CD/CDELT WCS keywords or PIXSCALE in arcsec) and a '
        'WCS in the input, it is resampled onto the output grid if needed; '
        'otherwise it must be on the output grid, i.e. sampled --upsample '
        'times finer than the input',
        fwhm_help='make an analytic PSF of this FWHM, with its unit: an '
        'angle such as 0.8arcsec or 0.8" (quote it in the shell), or a '
        'number of input pixels such as 3pix',
        scale_help='input pixel scale for an angular --psf-fwhm, e.g. '
        '0.2arcsec (a plain number is in arcsec); default: from the input '
        'WCS')
    add_method_options(dec, OPTIONS)
    output = dec.add_argument_group('output')
    add_output_options(dec, group=output, metavar='OUT.fits',
                       help='output FITS file',
                       overwrite_help='replace OUT.fits if it exists',
                       progress_help='show a progress bar on the standard '
                       'error (methods that show one: '
                       f'{", ".join(_methods_with_progress())}; default: '
                       'on)')
    return dec


def _methods_with_progress():
    """The ``--method`` values whose deconvolver can show a bar."""
    return [method for method in method_names()
            if progress_option(method, True)]


def progress_option(method, progress):
    """
    The keyword argument that gives ``method``'s deconvolver a progress
    bar (``{'progress': progress}``), or ``{}`` if it takes none.
    """
    if 'progress' in method_defaults(method):
        return {'progress': bool(progress)}
    return {}


def _deconvolver_from_args(args):
    """
    The deconvolver of the method options (exit status 2 if invalid), with
    a progress bar if the method shows one and ``--progress`` is on.
    """
    progress = progress_option(args.method, args.progress)
    return make_method_deconvolver(args, OPTIONS, **progress)[0]


def run(args, out):
    """Deconvolve ``args.input`` and print one summary line to ``out``."""
    from ..io import read_image, write_image
    from ..utils._files import check_output_path

    deconvolver = _deconvolver_from_args(args)
    fwhm = check_psf_options(args)
    check_output_path(args.output, overwrite=args.overwrite)
    image = read_image(args.input)
    if image.unit is None:
        warn_without_unit(args.input, image.meta)
    if args.psf is not None:
        psf = read_psf_file(args.psf)
    elif fwhm is not None:
        psf = analytic_psf(args, fwhm, image, deconvolver.upsample)
    elif image.psf is not None:
        psf = None  # the PSF extension of the input
    else:
        msg = ('a PSF is required: give --psf PSF.fits or --psf-fwhm (e.g. '
               f'--psf-fwhm 0.8arcsec); {args.input!r} has no PSF extension')
        raise UsageError(msg)
    if psf is not None:
        image.psf = None
    results = deconvolver.deconvolve(image, psf=psf,
                                     psf_center=args.psf_center)
    write_image(results.image, args.output, overwrite=args.overwrite)
    print(f'{args.method} ({describe_params(args.method, results.params)},'
          f' upsample={deconvolver.upsample}): '
          f'{flux_summary(image, results.image)} -> {args.output}', file=out)
    return 0
