# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv train``: train a denoiser on a training set."""

import math
from pathlib import Path

from ._common import UsageError

__all__ = []

#: The --arch choices and the architecture each one builds.
_ARCHS = {'unet': 'UNet64', 'learnlet': 'Learnlet', 'sunet': 'SUNet'}


def add_parser(commands):
    """Register the ``train`` command."""
    train = commands.add_parser(
        'train', help='train a denoiser on a training set',
        description='Train a denoiser on the Tikhonov/truth pairs of an '
        'HDF5 training set (L1 loss, Adam with warm-up and cosine decay). '
        'Writes best.pt (loadable by LearnedDeconvolver) and latest.pt '
        '(resumable with --resume) into OUT_DIR; an OUT_DIR holding them '
        'is refused unless --resume or --overwrite is given. With --task '
        'denoise the network learns instead to remove white Gaussian noise '
        'of a given level from the truth images (the prior of the '
        'plug-and-play method, PnPDeconvolver).')
    train.add_argument('data', metavar='DATA.h5')
    train.add_argument('--arch', choices=tuple(_ARCHS), default='unet')
    train.add_argument('--base-width', type=int, default=16,
                       help='unet: channels of the first level (default 16)')
    train.add_argument('--n-levels', type=int, default=4,
                       help='unet: resolution levels (default 4)')
    train.add_argument('--n-filters', type=int, default=256,
                       help='learnlet: filters per scale (default 256)')
    train.add_argument('--sigma-input', action='store_true',
                       help='unet: take the noise level as a second input '
                       'channel (one network for every noise level)')
    train.add_argument('--task', choices=('tikhonov', 'denoise'),
                       default='tikhonov',
                       help="'tikhonov' (default): map Tikhonov images to "
                       "the truth; 'denoise': remove white Gaussian noise "
                       'from the truth images (a plain denoiser for '
                       'PnPDeconvolver)')
    train.add_argument('--sigma-range', type=float, nargs=2,
                       metavar=('LOW', 'HIGH'), default=None,
                       help='denoise: range of the noise level relative to '
                       'the image peak, drawn log-uniformly (default 1e-3 '
                       '0.5)')
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
    train.add_argument('--threads', type=int, default=None, metavar='N',
                       help='CPU threads of PyTorch (default: its own '
                       'choice, all cores); give 1 when several runs share '
                       'the cores, as oversubscribed threads slow training '
                       'several-fold')
    train.add_argument('--resume', action='store_true',
                       help='continue from OUT_DIR/latest.pt')
    train.add_argument('--overwrite', action='store_true',
                       help='start a new run in an OUT_DIR that holds the '
                       'checkpoints of an earlier one, replacing them')
    train.add_argument('-o', '--output-dir', required=True,
                       metavar='OUT_DIR')
    train.add_argument('--no-progress', action='store_true')
    train.add_argument('--normalization',
                       choices=('inference', 'target', 'sky'),
                       default='inference',
                       help="how inputs and targets are normalised: "
                       "'inference' (x - mean) / max, the reference; 'sky' "
                       "(x - sky) / max above the sky (see "
                       "astrodeconv.datasets.normalize_pair)")
    train.add_argument('--init', metavar='NAME|PATH',
                       help='start from these weights (a registry name or '
                       'a checkpoint) instead of a random initialisation; '
                       'the architecture options are then ignored')
    return train


def _build_model(args):
    from ..denoisers import build_denoiser

    arch = _ARCHS[args.arch]
    if arch == 'UNet64':
        return build_denoiser(arch, base_width=args.base_width,
                              n_levels=args.n_levels,
                              sigma_input=args.sigma_input)
    if arch == 'Learnlet':
        return build_denoiser(arch, n_filters=args.n_filters)
    return build_denoiser(arch)


#: Integer options and their smallest value.
_MINIMUM = {'epochs': 1, 'batch_size': 1, 'base_width': 1, 'n_levels': 1,
            'n_filters': 1, 'crop': 0, 'warmup_epochs': 0, 'workers': 0,
            'seed': 0, 'threads': 1}


def _check_arguments(args):
    """Refuse values the parser's types let through (exit status 2)."""
    for name, minimum in _MINIMUM.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            option = '--' + name.replace('_', '-')
            msg = f'{option} must be at least {minimum}, got {value}'
            raise UsageError(msg)
    for option, value, positive in (('--lr', args.lr, True),
                                    ('--min-lr', args.min_lr, False)):
        if not math.isfinite(value) or value < 0 or (positive
                                                     and value == 0):
            bound = 'positive' if positive else 'zero or positive'
            msg = f'{option} must be a finite {bound} number, got {value}'
            raise UsageError(msg)
    if args.sigma_range is not None:
        if args.task != 'denoise':
            msg = '--sigma-range needs --task denoise'
            raise UsageError(msg)
        low, high = args.sigma_range
        if not (math.isfinite(low) and math.isfinite(high)
                and 0 < low <= high):
            msg = ('--sigma-range must be two finite numbers with 0 < LOW '
                   f'<= HIGH, got {low} {high}')
            raise UsageError(msg)
    if args.min_lr > args.lr:
        msg = f'--min-lr must not exceed --lr ({args.lr}), got {args.min_lr}'
        raise UsageError(msg)


def _check_output_dir(folder, args):
    """Refuse, before any work, to replace the checkpoints of a run."""
    if folder.exists() and not folder.is_dir():
        msg = f'-o/--output-dir {str(folder)!r} must be a directory'
        raise NotADirectoryError(msg)
    if args.resume or args.overwrite:
        return
    found = [name for name in ('best.pt', 'latest.pt')
             if (folder / name).is_file()]
    if found:
        msg = (f'{str(folder)!r} already holds {" and ".join(found)} of an '
               'earlier run; pass --resume to continue it or --overwrite to '
               'replace it')
        raise FileExistsError(msg)


def run(args, out):
    """Train, printing one line per epoch and the best checkpoint."""
    import torch

    from ..training import DenoisingDataset, PairDataset, Trainer

    _check_arguments(args)
    if not Path(args.data).is_file():
        msg = f'training set {args.data!r} does not exist'
        raise FileNotFoundError(msg)
    if args.resume and args.overwrite:
        msg = '--resume and --overwrite must not be given together'
        raise UsageError(msg)
    _check_output_dir(Path(args.output_dir), args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    crop = args.crop or None
    if args.task == 'denoise':
        options = {} if args.sigma_range is None else {
            'sigma_range': tuple(args.sigma_range)}
        train = DenoisingDataset(args.data, 'train', crop=crop,
                                 augment=True, seed=args.seed, **options)
        val = DenoisingDataset(args.data, 'val', crop=crop, augment=False,
                               seed=args.seed, **options)
    else:
        train = PairDataset(args.data, 'train', crop=crop, augment=True,
                            seed=args.seed,
                            normalization=args.normalization)
        val = PairDataset(args.data, 'val', crop=crop, augment=False,
                          seed=args.seed, normalization=args.normalization)
    torch.manual_seed(args.seed)
    if args.init is not None:
        from ..denoisers import load_denoiser

        model = load_denoiser(args.init).train()
    else:
        model = _build_model(args)
    trainer = Trainer(
        model, train, val, epochs=args.epochs,
        checkpoint_dir=args.output_dir, batch_size=args.batch_size,
        lr=args.lr, min_lr=args.min_lr, warmup_epochs=args.warmup_epochs,
        device=args.device, seed=args.seed, num_workers=args.workers,
        progress=not args.no_progress, resume=args.resume,
        overwrite=args.overwrite,
        log=lambda text: print(text, file=out, flush=True))
    with trainer:
        history = trainer.fit()
    last = history[-1] if len(history) else {}
    print(f'best checkpoint: {trainer.best_path} (epoch '
          f'{trainer.best_epoch}); last val SSIM '
          f"{last.get('val_ssim')}", file=out)
    return 0
