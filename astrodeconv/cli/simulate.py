# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv simulate``: simulate a training set (needs GalSim)."""

import os

from ..deconvolution.tikhonov import REFERENCE_LAM
from ._common import UsageError, check_minimum

__all__ = []


def add_parser(commands):
    """Register the ``simulate`` command."""
    sim = commands.add_parser(
        'simulate', help='simulate a training set (needs GalSim)',
        description='Simulate CANDELS-like galaxies with GalSim, degrade '
        'them to ground-based observations (same grid and/or a coarser '
        'grid), compute their Tikhonov deconvolutions and write everything '
        'to an HDF5 training set with a 0.8/0.1/0.1 train/val/test split.')
    sim.add_argument('-n', '--n-galaxies', type=int, required=True,
                     metavar='N', help='number of galaxies')
    sim.add_argument('--seed', type=int, default=0, help='random seed')
    sim.add_argument('--stamp-size', type=int, default=128, metavar='S',
                     help='stamp side in target pixels (default: 128)')
    sim.add_argument('--pixel-scale', type=float, default=0.05,
                     metavar='ARCSEC', help='target pixel scale in arcsec '
                     '(default: 0.05)')
    sim.add_argument('--recipe', choices=('classic', 'broad'),
                     default='classic',
                     help="the defaults of the options below: 'classic' "
                     "(bulge + disk + knots galaxies, Moffat seeing 0.5-1\", "
                     "grids 1 and 4) or 'broad' (every PSF family, seeing "
                     '0.5-1.2", peak S/N 1-300, grids 1, 2 and 4, irregular, '
                     'clumpy, merging, crowded and sky crops; see '
                     'astrodeconv.training.RECIPES)')
    sim.add_argument('--upsample', type=int, nargs='+', default=None,
                     metavar='K', help='observation grids, K times coarser '
                     'than the target (classic: 1 4)')
    sim.add_argument('--psf-fwhm', type=float, nargs=2, default=None,
                     metavar=('LOW', 'HIGH'), help='range of ground PSF '
                     'FWHMs in arcsec (classic: 0.5 1.0)')
    sim.add_argument('--psf-model',
                     choices=('moffat', 'gaussian', 'kolmogorov', 'mixed'),
                     default=None, help="ground PSF profile; 'mixed' draws "
                     'the family of every image (classic: moffat)')
    sim.add_argument('--moffat-beta', type=float, nargs=2, default=None,
                     metavar=('LOW', 'HIGH'), help='range of the Moffat '
                     'index (classic: 4.765 4.765)')
    sim.add_argument('--psf-ellipticity', type=float, nargs=2, default=None,
                     metavar=('LOW', 'HIGH'), help='range of the PSF '
                     'ellipticity (1 - q) / (1 + q) (classic: 0 0)')
    noise = sim.add_mutually_exclusive_group()
    noise.add_argument('--noise', type=float, nargs=2, default=None,
                       metavar=('LOW', 'HIGH'), help='noise range as '
                       'fractions of the seed rule sigma (faintest object '
                       'at peak SNR 1; classic: 0.05 1.0)')
    noise.add_argument('--peak-snr', type=float, nargs=2, default=None,
                       metavar=('LOW', 'HIGH'), help='range of the peak '
                       "S/N of every image's observation (broad: 1 300)")
    sim.add_argument('--morphology', nargs='+', default=None,
                     metavar='KIND[=P]', help='kinds of truth stamps, with '
                     'optional probabilities, e.g. bulge_disk=0.5 '
                     'clumpy=0.5 (see astrodeconv.datasets.MORPHOLOGIES; '
                     'classic: bulge_disk)')
    sim.add_argument('--workers', '--jobs', dest='workers', type=int,
                     default=1, metavar='N',
                     help='processes for the simulation (default: 1; '
                     '--jobs is the former spelling)')
    sim.add_argument('--lam', type=float, default=REFERENCE_LAM,
                     help='Tikhonov weight of the network inputs (default: '
                     f'{REFERENCE_LAM:g})')
    sim.add_argument('-o', '--output', required=True, metavar='OUT.h5')
    sim.add_argument('--overwrite', action='store_true')
    return sim


def _positive_pair(values, option, *, zero=False):
    low, high = (float(v) for v in values)
    if not ((0 <= low if zero else 0 < low) and low <= high):
        bound = '0 <= LOW' if zero else '0 < LOW'
        msg = (f'{option} must be two numbers {bound} <= HIGH, got '
               f'{values}')
        raise UsageError(msg)
    return (low, high) if low != high else low


def _morphology(values):
    """``KIND`` or ``KIND=P`` words as a name, list or dict."""
    if all('=' not in v for v in values):
        return values[0] if len(values) == 1 else list(values)
    mix = {}
    for word in values:
        name, _, weight = word.partition('=')
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            msg = (f'--morphology must be KIND or KIND=PROBABILITY words, '
                   f'got {word!r}')
            raise UsageError(msg) from None
    return mix


def _options(args):
    """The options of make_training_set: the recipe, then the flags."""
    from ..training import RECIPES

    options = dict(RECIPES[args.recipe])
    pairs = {'psf_fwhm': ('--psf-fwhm', False),
             'moffat_beta': ('--moffat-beta', False),
             'psf_ellipticity': ('--psf-ellipticity', True),
             'noise': ('--noise', False), 'peak_snr': ('--peak-snr', False)}
    for key, (option, zero) in pairs.items():
        value = getattr(args, key)
        if value is not None:
            options[key] = _positive_pair(value, option, zero=zero)
    if args.noise is not None:
        options['peak_snr'] = None
    if args.upsample is not None:
        options['upsample'] = tuple(args.upsample)
    if args.psf_model is not None:
        options['psf_model'] = args.psf_model
    if args.morphology is not None:
        options['morphology'] = _morphology(args.morphology)
    return options


def run(args, out):
    """Simulate the training set and print what was written."""
    from ..training import make_training_set
    from ..utils._files import check_output_path

    if args.n_galaxies < 10:
        msg = f'-n must be at least 10 (for the split), got {args.n_galaxies}'
        raise UsageError(msg)
    check_minimum(args, {'--workers': 1, '--stamp-size': 8})
    options = _options(args)
    # before any simulation: a missing directory or an existing file
    check_output_path(args.output, overwrite=args.overwrite, name='-o')
    make_training_set(
        args.output, args.n_galaxies, seed=args.seed,
        stamp_size=args.stamp_size, pixel_scale=args.pixel_scale,
        lam=args.lam, overwrite=args.overwrite, progress=True,
        workers=args.workers, **options)
    size = os.path.getsize(args.output) / 2 ** 20
    print(f'wrote {args.output} ({args.n_galaxies} galaxies x '
          f"{len(options['upsample'])} grid(s), {size:.1f} MiB)", file=out)
    return 0
