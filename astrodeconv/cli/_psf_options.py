# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The PSF options of ``deconvolve``, ``batch`` and ``mosaic``.

``--psf PSF.fits`` or an analytic PSF (``--psf-fwhm`` with
``--psf-model``, ``--moffat-beta`` and ``--pixel-scale``) made by
`astrodeconv.psf.make_psf_for_image`, whose models the ``--psf-model``
choices are.
"""

from astropy import units as u

from ._common import UsageError, parse_quantity

__all__ = []


def add_psf_options(parser, *, title, psf_help, fwhm_help, scale_help):
    """Add the PSF group; the texts name the command's image."""
    from ..psf import DEFAULT_MOFFAT_BETA
    from ..psf.for_image import PSF_MODELS

    psf = parser.add_argument_group(title)
    psf.add_argument('--psf', metavar='PSF.fits', help=psf_help)
    psf.add_argument('--psf-fwhm', metavar='FWHM', help=fwhm_help)
    psf.add_argument('--psf-model', choices=PSF_MODELS, default=None,
                     help=f'analytic PSF profile (default: {PSF_MODELS[0]})')
    psf.add_argument('--moffat-beta', type=float, default=None,
                     metavar='BETA',
                     help=f'Moffat index (default: {DEFAULT_MOFFAT_BETA})')
    psf.add_argument('--pixel-scale', metavar='SCALE', help=scale_help)
    psf.add_argument('--psf-center', metavar='CONVENTION|Y,X',
                     type=_psf_center,
                     help='where the centre of a PSF image is (they differ '
                     "for even sizes): 'astrodeconv' (default, pixel n//2), "
                     "'scipy' (pixel (n-1)//2, the kernel centre of scipy's "
                     "fftconvolve), 'photutils' (position (n-1)/2), or a "
                     '0-indexed position Y,X; not with --psf-fwhm')
    return psf


def _psf_center(text):
    """``--psf-center``: a name of `PSF_CENTERS` or a ``Y,X`` position."""
    from ..psf import PSF_CENTERS

    if text in PSF_CENTERS:
        return text
    try:
        y, x = (float(part) for part in text.split(','))
    except ValueError:
        names = ', '.join(repr(name) for name in PSF_CENTERS)
        msg = (f'--psf-center must be one of {names} or a position Y,X '
               f'such as 12.5,12.5, got {text!r}')
        raise UsageError(msg) from None
    return (y, x)


def _fwhm_text(text):
    """``0.75"`` and ``3px`` spelled the way astropy parses them."""
    text = text.strip()
    if text.endswith("''"):
        return text[:-2] + 'arcsec'
    if text.endswith('"'):
        return text[:-1] + 'arcsec'
    if text.endswith('px'):
        return text[:-2] + 'pix'
    return text


def check_psf_options(args):
    """The --psf-fwhm as a Quantity (pixels or angle), or None."""
    if args.psf is not None and args.psf_fwhm is not None:
        msg = ('--psf and --psf-fwhm must not be combined: give a PSF file '
               'or the FWHM of an analytic PSF, not both')
        raise UsageError(msg)
    if args.psf_fwhm is None:
        for option, value in (('--psf-model', args.psf_model),
                              ('--moffat-beta', args.moffat_beta),
                              ('--pixel-scale', args.pixel_scale)):
            if value is not None:
                msg = f'{option} applies only with --psf-fwhm'
                raise UsageError(msg)
        return None
    if args.psf_center is not None:
        msg = ('--psf-center applies only to a PSF image (--psf or the PSF '
               'extension of the input); the PSF of --psf-fwhm is centred')
        raise UsageError(msg)
    if args.moffat_beta is not None and args.psf_model not in (None,
                                                               'moffat'):
        msg = '--moffat-beta applies only to --psf-model moffat'
        raise UsageError(msg)
    fwhm = parse_quantity(_fwhm_text(args.psf_fwhm), '--psf-fwhm')
    if fwhm.unit == u.dimensionless_unscaled:
        msg = (f'--psf-fwhm must have a unit: arcsec for an angle (e.g. '
               f'{args.psf_fwhm}arcsec or {args.psf_fwhm}") or pix for input '
               f'pixels (e.g. {args.psf_fwhm}pix), got {args.psf_fwhm!r}')
        raise UsageError(msg)
    if fwhm.unit.physical_type != 'angle' and fwhm.unit != u.pix:
        msg = (f'--psf-fwhm must be an angle (e.g. 0.8arcsec) or a number '
               f'of pixels (e.g. 3pix), got {args.psf_fwhm!r}')
        raise UsageError(msg)
    if args.pixel_scale is not None:
        _pixel_scale_option(args.pixel_scale)
    return fwhm


def _pixel_scale_option(text):
    """--pixel-scale as an angle (a plain number is in arcsec)."""
    scale = parse_quantity(text, '--pixel-scale')
    if scale.unit == u.dimensionless_unscaled:
        return scale.value * u.arcsec
    if scale.unit.physical_type != 'angle':
        msg = f'--pixel-scale must be an angle such as 0.2arcsec, got {text!r}'
        raise UsageError(msg)
    return scale


def analytic_psf(args, fwhm, image, upsample):
    """The analytic PSF of the options, made for ``image``."""
    from ..psf import image_pixel_scale, make_psf_for_image

    scale = None
    if fwhm.unit != u.pix:
        scale = (_pixel_scale_option(args.pixel_scale)
                 if args.pixel_scale is not None
                 else image_pixel_scale(image))
        if scale is None:
            msg = (f'--psf-fwhm {args.psf_fwhm} is an angle but the pixel '
                   'scale is unknown (the input has no celestial WCS); give '
                   '--pixel-scale, e.g. --pixel-scale 0.2arcsec, or the FWHM '
                   'in pixels')
            raise UsageError(msg)
    extra = {} if args.psf_model is None else {'model': args.psf_model}
    try:
        return make_psf_for_image(image, fwhm, beta=args.moffat_beta,
                                  pixel_scale=scale, upsample=upsample,
                                  **extra)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None


def read_psf_file(path):
    """The PSF of ``--psf``: the NDData, whose WCS gives its scale."""
    from ..io import read_image

    psf = read_image(path)
    psf.psf = None
    return psf


def psf_required(where=''):
    """The error of a command without a PSF."""
    return UsageError('a PSF is required: give --psf PSF.fits or --psf-fwhm '
                      f'(e.g. --psf-fwhm 0.8arcsec){where}')
