# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv simulate``: simulate a training set (needs GalSim)."""

import os

from ..deconvolution.tikhonov import REFERENCE_LAM

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
    sim.add_argument('--upsample', type=int, nargs='+', default=[1, 4],
                     metavar='K', help='observation grids, K times coarser '
                     'than the target (default: 1 4)')
    sim.add_argument('--psf-fwhm', type=float, nargs=2, default=[0.5, 1.0],
                     metavar=('LOW', 'HIGH'), help='range of ground PSF '
                     'FWHMs in arcsec (default: 0.5 1.0)')
    sim.add_argument('--psf-model', choices=('moffat', 'gaussian'),
                     default='moffat', help='ground PSF profile')
    sim.add_argument('--noise', type=float, nargs=2, default=[0.05, 1.0],
                     metavar=('LOW', 'HIGH'), help='noise range as '
                     'fractions of the seed rule sigma (faintest object at '
                     'peak SNR 1; default: 0.05 1.0)')
    sim.add_argument('--lam', type=float, default=REFERENCE_LAM,
                     help='Tikhonov weight of the network inputs (default: '
                     f'{REFERENCE_LAM:g})')
    sim.add_argument('-o', '--output', required=True, metavar='OUT.h5')
    sim.add_argument('--overwrite', action='store_true')
    return sim


def _positive_pair(values, option):
    low, high = (float(v) for v in values)
    if not 0 < low <= high:
        msg = f'{option} must be two numbers 0 < LOW <= HIGH, got {values}'
        raise ValueError(msg)
    return (low, high) if low != high else low


def run(args, out):
    """Simulate the training set and print what was written."""
    from ..training import make_training_set
    from ..utils._files import check_output_path

    if args.n_galaxies < 10:
        msg = f'-n must be at least 10 (for the split), got {args.n_galaxies}'
        raise ValueError(msg)
    # before any simulation: a missing directory or an existing file
    check_output_path(args.output, overwrite=args.overwrite, name='-o')
    make_training_set(
        args.output, args.n_galaxies, seed=args.seed,
        stamp_size=args.stamp_size, pixel_scale=args.pixel_scale,
        upsample=tuple(args.upsample),
        psf_fwhm=_positive_pair(args.psf_fwhm, '--psf-fwhm'),
        psf_model=args.psf_model,
        noise=_positive_pair(args.noise, '--noise'), lam=args.lam,
        overwrite=args.overwrite, progress_bar=True)
    size = os.path.getsize(args.output) / 2 ** 20
    print(f'wrote {args.output} ({args.n_galaxies} galaxies x '
          f'{len(args.upsample)} grid(s), {size:.1f} MiB)', file=out)
    return 0
