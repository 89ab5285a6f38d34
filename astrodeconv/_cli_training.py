"""
The ``simulate``, ``train`` and ``evaluate`` commands of the command line.

Kept apart from `astrodeconv.cli` so that the deconvolution commands do not
pay for the training imports (torch, GalSim, h5py).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

__all__ = []

_ARCHS = {'unet': 'UNet64', 'learnlet': 'Learnlet', 'sunet': 'SUNet'}


def _positive_pair(values, option):
    low, high = (float(v) for v in values)
    if not 0 < low <= high:
        msg = f'{option} must be two numbers 0 < LOW <= HIGH, got {values}'
        raise ValueError(msg)
    return (low, high) if low != high else low


def add_commands(commands, usage_error):
    """Register the training sub-commands on the ``commands`` subparsers."""
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
    sim.add_argument('--lam', type=float, default=9e-3,
                     help='Tikhonov weight of the network inputs')
    sim.add_argument('-o', '--output', required=True, metavar='OUT.h5')
    sim.add_argument('--overwrite', action='store_true')

    train = commands.add_parser(
        'train', help='train a denoiser on a training set',
        description='Train a denoiser on the Tikhonov/truth pairs of an '
        'HDF5 training set (L1 loss, Adam with warm-up and cosine decay). '
        'Writes best.pt (loadable by LearnedDeconvolver) and latest.pt '
        '(resumable with --resume) into OUT_DIR.')
    train.add_argument('data', metavar='DATA.h5')
    train.add_argument('--arch', choices=tuple(_ARCHS), default='unet')
    train.add_argument('--base-width', type=int, default=16,
                       help='unet: channels of the first level (default 16)')
    train.add_argument('--n-levels', type=int, default=4,
                       help='unet: resolution levels (default 4)')
    train.add_argument('--n-filters', type=int, default=256,
                       help='learnlet: filters per scale (default 256)')
    train.add_argument('--epochs', type=int, default=30)
    train.add_argument('--batch-size', type=int, default=32)
    train.add_argument('--crop', type=int, default=64,
                       help='training crop size in pixels (default 64; 0 '
                       'for whole stamps)')
    train.add_argument('--lr', type=float, default=1e-3)
    train.add_argument('--min-lr', type=float, default=1e-5)
    train.add_argument('--warmup-epochs', type=int, default=3)
    train.add_argument('--seed', type=int, default=0)
    train.add_argument('--device', default='auto')
    train.add_argument('--workers', type=int, default=0,
                       help='data-loading processes (default 0)')
    train.add_argument('--resume', action='store_true',
                       help='continue from OUT_DIR/latest.pt')
    train.add_argument('-o', '--output-dir', required=True,
                       metavar='OUT_DIR')
    train.add_argument('--no-progress', action='store_true')

    ev = commands.add_parser(
        'evaluate', help='metrics of a model on a test split',
        description='Deconvolve the observations of a split of an HDF5 '
        'training set with a learned model (and classical baselines) and '
        'report NMSE, PSNR and SSIM against the truth.')
    ev.add_argument('data', metavar='DATA.h5')
    ev.add_argument('--weights', default='default',
                    help="registry name or checkpoint path (default: "
                    "'default')")
    ev.add_argument('--split', choices=('train', 'val', 'test'),
                    default='test')
    ev.add_argument('--methods', nargs='+', default=['learned', 'tikhonov'],
                    choices=('learned', 'tikhonov', 'tikhonov-auto',
                             'richardson-lucy', 'wiener'))
    ev.add_argument('--max-images', type=int, default=None, metavar='N')
    ev.add_argument('--device', default='auto')
    ev.add_argument('-o', '--output', metavar='REPORT.json',
                    help='write the metrics to this JSON file')
    ev.add_argument('--overwrite', action='store_true')
    return {'simulate': _run_simulate, 'train': _run_train,
            'evaluate': _run_evaluate}


def _run_simulate(args, out):
    from .datasets import make_training_set

    if args.n_galaxies < 10:
        msg = f'-n must be at least 10 (for the split), got {args.n_galaxies}'
        raise ValueError(msg)
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


def _build_model(args):
    from .denoisers import build_denoiser

    arch = _ARCHS[args.arch]
    if arch == 'UNet64':
        return build_denoiser(arch, base_width=args.base_width,
                              n_levels=args.n_levels)
    if arch == 'Learnlet':
        return build_denoiser(arch, n_filters=args.n_filters)
    return build_denoiser(arch)


def _run_train(args, out):
    import torch

    from .datasets.torch_dataset import PairDataset
    from .training import Trainer

    if not Path(args.data).is_file():
        msg = f'training set {args.data!r} does not exist'
        raise FileNotFoundError(msg)
    crop = args.crop or None
    train = PairDataset(args.data, 'train', crop=crop, augment=True,
                        seed=args.seed)
    val = PairDataset(args.data, 'val', crop=crop, augment=False,
                      seed=args.seed)
    torch.manual_seed(args.seed)
    model = _build_model(args)
    trainer = Trainer(
        model, train, val, epochs=args.epochs,
        checkpoint_dir=args.output_dir, batch_size=args.batch_size,
        lr=args.lr, min_lr=args.min_lr, warmup_epochs=args.warmup_epochs,
        device=args.device, seed=args.seed, num_workers=args.workers,
        progress_bar=not args.no_progress, resume=args.resume,
        log=lambda text: print(text, file=out, flush=True))
    with trainer:
        history = trainer.fit()
    last = history[-1] if len(history) else {}
    print(f'best checkpoint: {trainer.best_path} (epoch '
          f'{trainer.best_epoch}); last val SSIM '
          f"{last.get('val_ssim')}", file=out)
    return 0


def _evaluate_group(data, methods, weights, device, split, max_images):
    from .deconvolution import (LearnedDeconvolver,
                                RichardsonLucyDeconvolver,
                                TikhonovDeconvolver, WienerDeconvolver)
    from .metrics import nmse, psnr, ssim

    keep = np.nonzero(data.split == split)[0]
    if max_images is not None:
        keep = keep[:max_images]
    if keep.size == 0:
        return None
    k = data.truth.shape[-1] // data.observed.shape[-1]
    observed, psf = data.observed[keep], data.psf[keep]
    truth = data.truth[keep].astype(float)
    error = np.broadcast_to(data.sigma[keep][:, None, None],
                            observed.shape)
    factories = {
        'learned': lambda: LearnedDeconvolver(weights, upsample=k,
                                              device=device),
        'tikhonov': lambda: TikhonovDeconvolver(upsample=k),
        'tikhonov-auto': lambda: TikhonovDeconvolver(lam='auto',
                                                     upsample=k),
        'richardson-lucy': lambda: RichardsonLucyDeconvolver(
            upsample=k, n_iter=30),
        'wiener': lambda: WienerDeconvolver(upsample=k)}
    results = {'n_images': int(keep.size), 'upsample': k}
    for method in methods:
        deconv = factories[method]()
        kwargs = {'error': np.array(error)} if method in (
            'tikhonov-auto', 'wiener') else {}
        image = deconv(observed.astype(float), psf=psf.astype(float),
                       **kwargs)
        scores = {'nmse': nmse(image, truth),
                  'psnr': psnr(image, truth, data_range='reference'),
                  'ssim': ssim(image, truth, data_range='reference')}
        results[method] = {name: {'median': float(np.median(v)),
                                  'mean': float(np.mean(v))}
                           for name, v in scores.items()}
    return results


def _run_evaluate(args, out):
    from .datasets import TrainingSetFile, read_training_set

    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.overwrite:
        msg = (f'{output} already exists; pass --overwrite to replace it')
        raise FileExistsError(msg)
    split = {'train': 0, 'val': 1, 'test': 2}[args.split]
    report = {'data': str(args.data), 'weights': str(args.weights),
              'split': args.split, 'groups': {}}
    with TrainingSetFile(args.data) as handle:
        groups = handle.groups
    for group in groups:
        data = read_training_set(args.data, group)
        result = _evaluate_group(data, args.methods, args.weights,
                                 args.device, split, args.max_images)
        if result is not None:
            report['groups'][group] = result
    print(_format_report(report), file=out)
    if output is not None:
        tmp = output.with_name(output.name + '.tmp')
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, output)
        print(f'wrote {output}', file=out)
    return 0


def _format_report(report):
    lines = [f"split {report['split']} of {report['data']}",
             f"{'group':<14}{'method':<18}{'NMSE':>9}{'PSNR':>9}"
             f"{'SSIM':>9}   (medians)"]
    for group, result in report['groups'].items():
        for method, scores in result.items():
            if not isinstance(scores, dict):
                continue
            lines.append(f"{group:<14}{method:<18}"
                         f"{scores['nmse']['median']:9.4f}"
                         f"{scores['psnr']['median']:9.2f}"
                         f"{scores['ssim']['median']:9.4f}")
    return '\n'.join(lines)


def _stderr(text):
    print(text, file=sys.stderr)
