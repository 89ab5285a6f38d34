# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv deconvolve``: deconvolve a FITS image."""

import argparse

import numpy as np
from astropy import units as u

from ._common import UsageError, describe_params, parse_quantity

__all__ = []

_METHODS = ('default', 'learned', 'pnp', 'tikhonov', 'richardson-lucy',
            'wiener')
_LAM_RULES = ('auto', 'sure', 'gcv')
_PSF_MODELS = ('gaussian', 'moffat')
_BOUNDARIES = ('periodic', 'reflect', 'apodize')

#: Which methods each method option applies to.
_METHOD_OPTIONS = {'lam': ('--lam', ('tikhonov', 'learned', 'pnp', 'default')),
                   'weights': ('--weights', ('learned', 'pnp', 'default')),
                   'debias': ('--debias/--no-debias', ('learned', 'pnp',
                                                       'default')),
                   'noise_samples': ('--noise-samples', ('learned', 'pnp',
                                                         'default')),
                   'balance': ('--balance', ('wiener',)),
                   'n_iter': ('--n-iter', ('richardson-lucy', 'pnp')),
                   'boundary': ('--boundary', ('tikhonov', 'wiener',
                                               'learned'))}


def add_parser(commands):
    """Register the ``deconvolve`` command."""
    dec = commands.add_parser(
        'deconvolve', help='deconvolve a FITS image',
        description='Deconvolve a FITS image and write the result (data, '
        'UNCERT, MASK, effective PSF, WCS and provenance keywords) to a '
        'new FITS file.')
    dec.add_argument('input', metavar='IN.fits', help='input FITS image; '
                     'its UNCERT and MASK extensions are used')
    psf = dec.add_argument_group('PSF (one of --psf or --psf-fwhm; without '
                                 'either the PSF extension of the input is '
                                 'used)')
    psf.add_argument('--psf', metavar='PSF.fits',
                     help='FITS file holding the PSF image. With a pixel '
                     'scale in its header (CD/CDELT WCS keywords or '
                     'PIXSCALE in arcsec) and a WCS in the input, it is '
                     'resampled onto the output grid if needed; otherwise '
                     'it must be on the output grid, i.e. sampled '
                     '--upsample times finer than the input')
    psf.add_argument('--psf-fwhm', metavar='FWHM',
                     help='make an analytic PSF of this FWHM, with its unit: '
                     'an angle such as 0.8arcsec or 0.8" (quote it in the '
                     "shell), or a number of input pixels such as 3pix")
    psf.add_argument('--psf-model', choices=_PSF_MODELS, default=None,
                     help='analytic PSF profile (default: moffat)')
    psf.add_argument('--moffat-beta', type=float, default=None,
                     metavar='BETA',
                     help='Moffat index (default: 4.765)')
    psf.add_argument('--pixel-scale', metavar='SCALE',
                     help='input pixel scale for an angular --psf-fwhm, '
                     'e.g. 0.2arcsec (a plain number is in arcsec); '
                     'default: from the input WCS')
    method = dec.add_argument_group('method')
    method.add_argument('--method', choices=_METHODS, default='tikhonov',
                        help='deconvolution method (default: tikhonov; '
                        'learned = Tikhonov followed by a trained network; '
                        'pnp = plug-and-play: exact data steps alternated '
                        'with a learned Gaussian denoiser, for any PSF; '
                        'default = the learned method that generalises '
                        'best, see astrodeconv.deconvolution.DEFAULT_METHOD)')
    method.add_argument('--lam', metavar='LAM',
                        help="tikhonov: regularisation weight, or 'auto'/"
                        "'sure' (Stein's unbiased risk estimate) or 'gcv' "
                        '(default: 9e-3)')
    method.add_argument('--weights', metavar='NAME|PATH',
                        help="learned, pnp: registry name or checkpoint "
                        "path of the denoiser (default: learned: 'default', "
                        'the model shipped with astrodeconv; pnp: the '
                        'shipped Gaussian denoiser)')
    method.add_argument('--debias', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='learned, pnp: debias the network output '
                        '(restore '
                        'the flux of its significant structures); default: '
                        'that of LearnedDeconvolver')
    method.add_argument('--noise-samples', type=int, metavar='N',
                        help='learned, pnp: estimate the uncertainty from N '
                        're-noised deconvolutions (default: 0, no '
                        'uncertainty)')
    method.add_argument('--balance', metavar='NSR',
                        help="wiener: noise-to-signal ratio or 'auto' "
                        '(default: auto)')
    method.add_argument('--n-iter', type=int, metavar='N',
                        help='richardson-lucy: number of iterations '
                        '(default: 30); pnp: network passes (default: 8)')
    method.add_argument('--upsample', type=int, default=1, metavar='K',
                        help='super-resolution factor: the output pixels are '
                        'K times smaller (default: 1)')
    method.add_argument('--boundary', choices=_BOUNDARIES,
                        help='tikhonov and wiener: boundary handling '
                        '(default: periodic)')
    dec.add_argument('-o', '--output', required=True, metavar='OUT.fits',
                     help='output FITS file')
    dec.add_argument('--overwrite', action='store_true',
                     help='replace OUT.fits if it exists')
    return dec


def _lam_value(text):
    if text in _LAM_RULES:
        return text
    try:
        return float(text)
    except ValueError:
        msg = (f"--lam must be a positive number or one of 'auto', 'sure', "
               f"'gcv', got {text!r}")
        raise UsageError(msg) from None


def _balance_value(text):
    if text == 'auto':
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"--balance must be a positive number or 'auto', got {text!r}"
        raise UsageError(msg) from None


def _deconvolver_from_args(args):
    from ..deconvolution import make_deconvolver

    for name, (option, methods) in _METHOD_OPTIONS.items():
        if getattr(args, name) is not None and args.method not in methods:
            valid = ', '.join(methods)
            msg = (f'{option} applies only to --method {valid}, got '
                   f'--method {args.method}')
            raise UsageError(msg)
    lam = None if args.lam is None else _lam_value(args.lam)
    balance = None if args.balance is None else _balance_value(args.balance)
    try:
        return make_deconvolver(args.method, upsample=args.upsample,
                                lam=lam, balance=balance, n_iter=args.n_iter,
                                boundary=args.boundary, weights=args.weights,
                                debias=args.debias,
                                n_noise_samples=args.noise_samples)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None


def _pixel_scale_option(text):
    """--pixel-scale as an angle (a plain number is in arcsec)."""
    scale = parse_quantity(text, '--pixel-scale')
    if scale.unit == u.dimensionless_unscaled:
        return scale.value * u.arcsec
    if scale.unit.physical_type != 'angle':
        msg = f'--pixel-scale must be an angle such as 0.2arcsec, got {text!r}'
        raise UsageError(msg)
    return scale


def _check_psf_options(args):
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
    if args.moffat_beta is not None and args.psf_model == 'gaussian':
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
    return fwhm


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


def _analytic_psf(args, fwhm, image, upsample):
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
    try:
        return make_psf_for_image(image, fwhm, model=args.psf_model or
                                  'moffat', beta=args.moffat_beta,
                                  pixel_scale=scale, upsample=upsample)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None


def _flux(image):
    data = np.asarray(image.data, dtype=float)
    good = np.isfinite(data)
    if getattr(image, 'mask', None) is not None:
        good &= ~np.asarray(image.mask, dtype=bool)
    return float(data[good].sum())


def _unit_text(image):
    unit = getattr(image, 'unit', None)
    return '' if unit is None else f' {unit.to_string()}'


def run(args, out):
    """Deconvolve ``args.input`` and print one summary line to ``out``."""
    from ..io import read_image, write_image
    from ..utils._files import check_output_path

    deconvolver = _deconvolver_from_args(args)
    fwhm = _check_psf_options(args)
    check_output_path(args.output, overwrite=args.overwrite)
    image = read_image(args.input)
    if args.psf is not None:
        # the NDData itself: its WCS or PIXSCALE gives the PSF pixel scale
        psf = read_image(args.psf)
        psf.psf = None
    elif fwhm is not None:
        psf = _analytic_psf(args, fwhm, image, deconvolver.upsample)
    elif image.psf is not None:
        psf = None  # the PSF extension of the input
    else:
        msg = ('a PSF is required: give --psf PSF.fits or --psf-fwhm (e.g. '
               f'--psf-fwhm 0.8arcsec); {args.input!r} has no PSF extension')
        raise UsageError(msg)
    if psf is not None:
        image.psf = None
    results = deconvolver.deconvolve(image, psf=psf)
    write_image(results.image, args.output, overwrite=args.overwrite)
    unit = _unit_text(image)
    print(f'{args.method} ({describe_params(args.method, results.params)},'
          f' upsample={deconvolver.upsample}): input flux '
          f'{_flux(image):.6g}{unit}, output flux '
          f'{_flux(results.image):.6g}{unit} -> {args.output}', file=out)
    return 0
