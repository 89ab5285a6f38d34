"""
The ``astrodeconv`` command-line interface.

Commands::

    astrodeconv deconvolve IN.fits (--psf PSF.fits | --psf-fwhm 0.8arcsec)
                           [--method tikhonov] [--upsample 4] -o OUT.fits
    astrodeconv demo [-o DIR] [--overwrite]
    astrodeconv simulate -n N -o TRAIN.h5 [--upsample 1 4] ...
    astrodeconv train TRAIN.h5 -o RUN_DIR [--arch unet] [--epochs 30] ...
    astrodeconv evaluate TRAIN.h5 [--weights NAME|PATH] [-o REPORT.json]
    astrodeconv --version

Errors are reported as one line, ``astrodeconv: error: <message>``, on
standard error, with exit status 2 for invalid arguments and 1 for failures
while running (missing or unreadable files, existing outputs...).
"""

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u

__all__ = ['main']

_PROG = 'astrodeconv'
_METHODS = ('learned', 'tikhonov', 'richardson-lucy', 'wiener')
_LAM_RULES = ('auto', 'sure', 'gcv')
_PSF_MODELS = ('gaussian', 'moffat')
_BOUNDARIES = ('periodic', 'reflect', 'apodize')

#: The method run by ``astrodeconv demo`` unless --method is given. This is
#: the single place to change when a better default becomes available.
DEMO_METHOD = 'learned'

_DEMO_FITS = 'demo_deconvolved.fits'
_DEMO_PNG = 'demo_panel.png'


class _UsageError(Exception):
    """Invalid command-line arguments (exit status 2)."""


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing and exiting."""

    def error(self, message):
        raise _UsageError(f'{message} (see {self.prog} --help)')


# -- argument parsing --------------------------------------------------------

def _lam_value(text):
    if text in _LAM_RULES:
        return text
    try:
        return float(text)
    except ValueError:
        msg = (f"--lam must be a positive number or one of 'auto', 'sure', "
               f"'gcv', got {text!r}")
        raise _UsageError(msg) from None


def _balance_value(text):
    if text == 'auto':
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"--balance must be a positive number or 'auto', got {text!r}"
        raise _UsageError(msg) from None


def _quantity(text, option):
    """Parse '0.8arcsec', '0.8 arcsec' or '3.2' (no unit) into a Quantity."""
    try:
        value = u.Quantity(text)
    except (TypeError, ValueError) as exc:
        msg = (f'{option} must be a number with an optional unit (e.g. '
               f'0.8arcsec or 3.5 for pixels), got {text!r}: {exc}')
        raise _UsageError(msg) from None
    if not value.isscalar or not np.isfinite(value.value) or value.value <= 0:
        msg = f'{option} must be a positive number, got {text!r}'
        raise _UsageError(msg)
    return value


def _build_parser():
    from astrodeconv import __version__

    parser = _ArgumentParser(
        prog=_PROG,
        description='Deconvolution of ground-based galaxy images.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

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
                     help='FITS file holding the PSF image (on the output '
                     'grid, i.e. sampled --upsample times finer than the '
                     'input)')
    psf.add_argument('--psf-fwhm', metavar='FWHM',
                     help='make an analytic PSF of this FWHM: an angle such '
                     'as 0.8arcsec, or a plain number in input pixels')
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
                        'learned = Tikhonov followed by a trained network)')
    method.add_argument('--lam', metavar='LAM',
                        help="tikhonov: regularisation weight, or 'auto'/"
                        "'sure' (Stein's unbiased risk estimate) or 'gcv' "
                        '(default: 9e-3)')
    method.add_argument('--weights', metavar='NAME|PATH',
                        help="learned: registry name or checkpoint path of "
                        "the denoiser (default: 'default', the model "
                        'shipped with astrodeconv)')
    method.add_argument('--balance', metavar='NSR',
                        help="wiener: noise-to-signal ratio or 'auto' "
                        '(default: auto)')
    method.add_argument('--n-iter', type=int, metavar='N',
                        help='richardson-lucy: number of iterations '
                        '(default: 30)')
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

    demo = commands.add_parser(
        'demo', help='deconvolve the bundled simulated galaxy',
        description='Deconvolve the simulated ground-based galaxy shipped '
        f'with astrodeconv, write {_DEMO_FITS} and {_DEMO_PNG} (observed / '
        'deconvolved / truth / residual) and print quality metrics '
        'against the truth.')
    demo.add_argument('-o', '--output-dir', default='.', metavar='DIR',
                      help='output directory (created if needed; default: '
                      'the current directory)')
    demo.add_argument('--method', choices=_METHODS, default=DEMO_METHOD,
                      help=f'deconvolution method (default: {DEMO_METHOD})')
    demo.add_argument('--overwrite', action='store_true',
                      help='replace existing outputs')
    from ._cli_training import add_commands
    parser.runners = {'deconvolve': _run_deconvolve, 'demo': _run_demo,
                      **add_commands(commands, _UsageError)}
    return parser


# -- shared helpers ----------------------------------------------------------

def _make_deconvolver(method, *, upsample, lam=None, balance=None,
                      n_iter=None, boundary=None, weights=None):
    """Build a deconvolver; None arguments take the library defaults."""
    from .deconvolution import (LearnedDeconvolver,
                                RichardsonLucyDeconvolver,
                                TikhonovDeconvolver, WienerDeconvolver)

    kwargs = {'upsample': upsample}
    if method == 'learned':
        cls, extra = LearnedDeconvolver, {'denoiser': weights, 'lam': lam,
                                          'boundary': boundary}
    elif method == 'tikhonov':
        cls, extra = TikhonovDeconvolver, {'lam': lam, 'boundary': boundary}
    elif method == 'wiener':
        cls, extra = WienerDeconvolver, {'balance': balance,
                                         'boundary': boundary}
    else:
        cls, extra = RichardsonLucyDeconvolver, {'n_iter': n_iter}
    kwargs.update({k: v for k, v in extra.items() if v is not None})
    return cls(**kwargs)


def _demo_deconvolver(method, upsample):
    """The deconvolver of ``astrodeconv demo`` for ``method``."""
    if method == 'tikhonov':
        return _make_deconvolver(method, upsample=upsample, lam='auto')
    if method == 'learned':
        from .deconvolution import LearnedDeconvolver

        # ten re-noised copies give the per-pixel uncertainty of the result
        return LearnedDeconvolver(upsample=upsample, n_noise_samples=10)
    return _make_deconvolver(method, upsample=upsample)


def _describe_params(method, params):
    if method == 'learned':
        return (f"lam={float(params['lam']):.4g}, "
                f"sigma={float(params['sigma']):.4g}")
    if method == 'tikhonov':
        return f"lam={float(params['lam']):.4g}"
    if method == 'wiener':
        return f"balance={float(params['balance']):.4g}"
    return f"n_iter={int(params['n_iter'])}"


def _flux(image):
    data = np.asarray(image.data, dtype=float)
    good = np.isfinite(data)
    if getattr(image, 'mask', None) is not None:
        good &= ~np.asarray(image.mask, dtype=bool)
    return float(data[good].sum())


def _unit_text(image):
    unit = getattr(image, 'unit', None)
    return '' if unit is None else f' {unit.to_string()}'


# -- deconvolve --------------------------------------------------------------

_METHOD_OPTIONS = {'lam': ('--lam', ('tikhonov', 'learned')),
                   'weights': ('--weights', ('learned',)),
                   'balance': ('--balance', ('wiener',)),
                   'n_iter': ('--n-iter', ('richardson-lucy',)),
                   'boundary': ('--boundary', ('tikhonov', 'wiener',
                                               'learned'))}


def _deconvolver_from_args(args):
    for name, (option, methods) in _METHOD_OPTIONS.items():
        if getattr(args, name) is not None and args.method not in methods:
            valid = ', '.join(methods)
            msg = (f'{option} applies only to --method {valid}, got '
                   f'--method {args.method}')
            raise _UsageError(msg)
    lam = None if args.lam is None else _lam_value(args.lam)
    balance = None if args.balance is None else _balance_value(args.balance)
    try:
        return _make_deconvolver(args.method, upsample=args.upsample,
                                 lam=lam, balance=balance,
                                 n_iter=args.n_iter, boundary=args.boundary,
                                 weights=args.weights)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise _UsageError(str(exc)) from None


def _check_psf_options(args):
    if args.psf is not None and args.psf_fwhm is not None:
        msg = ('--psf and --psf-fwhm must not be combined: give a PSF file '
               'or the FWHM of an analytic PSF, not both')
        raise _UsageError(msg)
    if args.psf_fwhm is None:
        for option, value in (('--psf-model', args.psf_model),
                              ('--moffat-beta', args.moffat_beta),
                              ('--pixel-scale', args.pixel_scale)):
            if value is not None:
                msg = f'{option} applies only with --psf-fwhm'
                raise _UsageError(msg)
        return None
    if args.moffat_beta is not None and args.psf_model == 'gaussian':
        msg = '--moffat-beta applies only to --psf-model moffat'
        raise _UsageError(msg)
    fwhm = _quantity(args.psf_fwhm, '--psf-fwhm')
    if fwhm.unit == u.dimensionless_unscaled:
        fwhm = fwhm.value * u.pix
    elif fwhm.unit.physical_type != 'angle' and fwhm.unit != u.pix:
        msg = (f'--psf-fwhm must be an angle (e.g. 0.8arcsec) or a number '
               f'of pixels, got {args.psf_fwhm!r}')
        raise _UsageError(msg)
    return fwhm


def _pixel_scale(args, image):
    """The input pixel scale as an angle, or None if unknown."""
    if args.pixel_scale is not None:
        scale = _quantity(args.pixel_scale, '--pixel-scale')
        if scale.unit == u.dimensionless_unscaled:
            return scale.value * u.arcsec
        if scale.unit.physical_type != 'angle':
            msg = (f'--pixel-scale must be an angle such as 0.2arcsec, got '
                   f'{args.pixel_scale!r}')
            raise _UsageError(msg)
        return scale
    wcs = getattr(image, 'wcs', None)
    if wcs is None or not getattr(wcs, 'has_celestial', False):
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(wcs.celestial)
    units = [u.Unit(unit) for unit in wcs.celestial.wcs.cunit]
    values = [(s * unit).to_value(u.arcsec) for s, unit in zip(scales, units)]
    if abs(values[0] - values[1]) > 0.01 * max(values):
        warnings.warn(f'the input pixels are not square ({values[0]:.4g}" x '
                      f'{values[1]:.4g}"); the geometric mean is used as '
                      'the pixel scale', UserWarning, stacklevel=2)
    return math.sqrt(values[0] * values[1]) * u.arcsec


def _analytic_psf(args, fwhm, image, upsample):
    from .psf import make_gaussian_psf, make_moffat_psf

    scale = None
    if fwhm.unit == u.pix:
        fwhm_pixels = fwhm.value
    else:
        scale = _pixel_scale(args, image)
        if scale is None:
            msg = (f'--psf-fwhm {args.psf_fwhm} is an angle but the pixel '
                   'scale is unknown (the input has no celestial WCS); give '
                   '--pixel-scale, e.g. --pixel-scale 0.2arcsec, or the FWHM '
                   'in pixels')
            raise _UsageError(msg)
        fwhm_pixels = (fwhm / scale).to_value(u.dimensionless_unscaled)
    # odd size of about 6 FWHM on the output grid, within the output image
    size = max(3, math.ceil(6 * fwhm_pixels * upsample))
    size += 1 - size % 2
    shape = []
    for n in image.data.shape:
        limit = n * upsample
        limit -= 1 - limit % 2
        shape.append(min(size, limit))
    model = args.psf_model or 'moffat'
    try:
        if model == 'gaussian':
            return make_gaussian_psf(fwhm, tuple(shape), pixel_scale=scale,
                                     oversample=upsample)
        beta = 4.765 if args.moffat_beta is None else args.moffat_beta
        return make_moffat_psf(fwhm, beta, tuple(shape), pixel_scale=scale,
                               oversample=upsample)
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise _UsageError(str(exc)) from None


def _run_deconvolve(args, out):
    from .io import read_image, write_image
    from .io.fits import _check_output_path

    deconvolver = _deconvolver_from_args(args)
    fwhm = _check_psf_options(args)
    _check_output_path(args.output, args.overwrite)
    image = read_image(args.input)
    if args.psf is not None:
        psf = np.asarray(read_image(args.psf).data, dtype=float)
    elif fwhm is not None:
        psf = _analytic_psf(args, fwhm, image, deconvolver.upsample)
    elif image.psf is not None:
        psf = None  # the PSF extension of the input
    else:
        msg = ('a PSF is required: give --psf PSF.fits or --psf-fwhm (e.g. '
               f'--psf-fwhm 0.8arcsec); {args.input!r} has no PSF extension')
        raise _UsageError(msg)
    if psf is not None:
        image.psf = None
    results = deconvolver.deconvolve(image, psf=psf)
    write_image(results.image, args.output, overwrite=args.overwrite)
    unit = _unit_text(image)
    print(f'{args.method} ({_describe_params(args.method, results.params)},'
          f' upsample={deconvolver.upsample}): input flux '
          f'{_flux(image):.6g}{unit}, output flux '
          f'{_flux(results.image):.6g}{unit} -> {args.output}', file=out)
    return 0


# -- demo --------------------------------------------------------------------

def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plot_demo(demo, results, title, path):
    """Save the observed / deconvolved / truth / residual panel."""
    from matplotlib.figure import Figure
    from astropy.visualization import AsinhStretch, ImageNormalize

    k = demo.upsample
    coarse = float(demo.observed.meta.get('PIXSCALE', 0.2))
    fine = coarse / k
    # surface brightness (nJy/arcsec^2), comparable across pixel sizes
    panels = [demo.observed.data / coarse ** 2,
              np.asarray(results.image.data) / fine ** 2,
              demo.truth.data / fine ** 2]
    sigma = float(np.median(demo.observed.uncertainty.array))
    norm = ImageNormalize(vmin=-2 * sigma / coarse ** 2,
                          vmax=float(panels[2].max()),
                          stretch=AsinhStretch(a=0.02))
    ny, nx = demo.observed.shape
    half = (nx * coarse / 2, ny * coarse / 2)
    extent = [-half[0], half[0], -half[1], half[1]]
    unit = demo.observed.unit.to_string()

    fig = Figure(figsize=(16, 4.4), layout='constrained')
    axes = fig.subplots(1, 4, sharex=True, sharey=True)
    titles = [f'Observed ({coarse:g}"/px, seeing '
              f'{demo.observed.meta.get("FWHM", 0.7):g}")',
              f'{title} (x{k}, {fine:g}"/px)',
              f'Truth (HST-like, {fine:g}"/px)']
    for ax, image, text in zip(axes[:3], panels, titles):
        im = ax.imshow(image, origin='lower', extent=extent, norm=norm,
                       cmap='magma', interpolation='nearest')
        ax.set_title(text, fontsize=10)
    fig.colorbar(im, ax=axes[:3], label=f'{unit} / arcsec$^2$ (asinh)',
                 shrink=0.9)
    residual = np.asarray(results.residual.data)
    limit = 4 * sigma
    im = axes[3].imshow(residual, origin='lower', extent=extent,
                        cmap='RdBu_r', vmin=-limit, vmax=limit,
                        interpolation='nearest')
    axes[3].set_title('Residual: observed - blurred model', fontsize=10)
    fig.colorbar(im, ax=axes[3], label=f'{unit} per pixel (±4σ)',
                 shrink=0.9)
    for ax in axes:
        ax.set_xlabel('Δx [arcsec]')
    axes[0].set_ylabel('Δy [arcsec]')
    fig.savefig(path, dpi=100)


def _run_demo(args, out):
    from .datasets import load_demo_data
    from .operators import upsample_flux
    from .io import write_image
    from .io.fits import _check_output_path
    from .metrics import flux_ratio, nmse, ssim

    directory = Path(args.output_dir)
    if directory.exists() and not directory.is_dir():
        msg = f'-o {str(directory)!r} must be a directory, got a file'
        raise NotADirectoryError(msg)
    fits_path = directory / _DEMO_FITS
    png_path = directory / _DEMO_PNG
    plot = _has_matplotlib()
    directory.mkdir(parents=True, exist_ok=True)
    _check_output_path(fits_path, args.overwrite)
    if plot:
        _check_output_path(png_path, args.overwrite)

    demo = load_demo_data()
    deconvolver = _demo_deconvolver(args.method, demo.upsample)
    results = deconvolver.deconvolve(demo.observed)
    image, truth = results.image, demo.truth
    write_image(image, fits_path, overwrite=args.overwrite)

    data_range = float(truth.data.max() - truth.data.min())
    baseline = upsample_flux(np.asarray(demo.observed.data, dtype=float),
                             demo.upsample)
    name = type(deconvolver).__name__
    print(f'astrodeconv demo: {name} '
          f'({_describe_params(args.method, results.params)}), '
          f'x{demo.upsample} super-resolution', file=out)
    print(f'  observed {demo.observed.shape[1]}x{demo.observed.shape[0]} px'
          f' -> deconvolved and truth {truth.shape[1]}x{truth.shape[0]} px',
          file=out)
    print(f'  NMSE vs truth: deconvolved {nmse(image, truth):.4f}, '
          f'upsampled observation (baseline) '
          f'{nmse(baseline, truth.data):.4f}', file=out)
    print(f'  SSIM vs truth: deconvolved '
          f'{ssim(image, truth, data_range=data_range):.4f}, upsampled '
          f'observation (baseline) '
          f'{ssim(baseline, truth.data, data_range=data_range):.4f}',
          file=out)
    print(f'  flux ratio (deconvolved / observed): '
          f'{flux_ratio(image, demo.observed):.4f}', file=out)
    written = [str(fits_path)]
    if plot:
        _plot_demo(demo, results, name.replace('Deconvolver', ''), png_path)
        written.append(str(png_path))
    else:
        print(f'{_PROG}: note: matplotlib is not installed; {_DEMO_PNG} was '
              'not made (pip install matplotlib)', file=sys.stderr)
    print(f'  wrote {", ".join(written)}', file=out)
    return 0


# -- entry point -------------------------------------------------------------

_RUNTIME_ERRORS = (OSError, ValueError, TypeError, RuntimeError, u.UnitsError,
                   MemoryError)


def _report(kind, message):
    print(f'{_PROG}: {kind}: {message}', file=sys.stderr)


def main(argv=None):
    """
    Run the ``astrodeconv`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 2 for invalid arguments, 1 for errors while running.
    """
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _report('error', exc)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    run = parser.runners[args.command]
    caught, error = [], ''
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('ignore')
            warnings.simplefilter('always', UserWarning)
            status = run(args, sys.stdout)
    except _UsageError as exc:
        status = 2
        error = str(exc)
    except _RUNTIME_ERRORS as exc:
        status = 1
        error = str(exc) or type(exc).__name__
    except KeyboardInterrupt:
        status = 130
        error = 'interrupted'
    seen = set()
    for item in caught:
        text = str(item.message)
        if text not in seen:
            seen.add(text)
            _report('warning', text)
    if status != 0:
        _report('error', error)
    return status


if __name__ == '__main__':
    sys.exit(main())
