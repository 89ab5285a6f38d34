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
        'training set with a learned model (with or without debiasing) and '
        'classical baselines, and report NMSE, PSNR, SSIM, the flux error '
        'in small-scale structures, the hallucination rate, completeness '
        'and the residual chi2, overall and per magnitude bin: a JSON '
        'file, a Markdown table and a PNG figure.')
    ev.add_argument('data', metavar='DATA.h5')
    ev.add_argument('--weights', default='default',
                    help="registry name or checkpoint path (default: "
                    "'default')")
    ev.add_argument('--split', choices=('train', 'val', 'test'),
                    default='test')
    ev.add_argument('--methods', nargs='+', default=['learned', 'tikhonov'],
                    choices=_EVAL_METHODS,
                    help='methods to compare (default: learned tikhonov); '
                    'learned-debiased adds the MRS debiasing')
    ev.add_argument('--mag-bins', nargs='+', type=float,
                    default=[20.0, 21.5, 23.0, 24.0, 25.0, 26.0],
                    metavar='EDGE', help='magnitude bin edges')
    ev.add_argument('--max-images', type=int, default=None, metavar='N')
    ev.add_argument('--device', default='auto')
    ev.add_argument('-o', '--output', metavar='REPORT.json',
                    help='write the report to this JSON file, with '
                    'REPORT.md and REPORT.png beside it')
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


#: The statistic shown in the Markdown table when it is not the median.
_SUMMARY = {'hallucination': 'mean', 'completeness': 'mean'}
_METRICS = ('nmse', 'psnr', 'ssim', 'clump_flux_error', 'hallucination',
            'completeness', 'chi2')
_EVAL_METHODS = ('learned', 'learned-debiased', 'tikhonov', 'tikhonov-auto',
                 'richardson-lucy', 'wiener')


def _deconvolver(method, k, weights, device):
    from .deconvolution import (LearnedDeconvolver,
                                RichardsonLucyDeconvolver,
                                TikhonovDeconvolver, WienerDeconvolver)

    if method.startswith('learned'):
        return LearnedDeconvolver(weights, upsample=k, device=device,
                                  debias=method == 'learned-debiased')
    return {'tikhonov': lambda: TikhonovDeconvolver(upsample=k),
            'tikhonov-auto': lambda: TikhonovDeconvolver(lam='auto',
                                                         upsample=k),
            'richardson-lucy': lambda: RichardsonLucyDeconvolver(
                upsample=k, n_iter=30),
            'wiener': lambda: WienerDeconvolver(upsample=k)}[method]()


def _scores(image, truth, observed, psf, error, k):
    """Per-image metrics of one method (arrays of length N)."""
    import warnings

    from .metrics import (clump_flux_error, completeness,
                          hallucination_rate, nmse, psnr, reduced_chi2, ssim)

    clumps = {'threshold': 5.0}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return {
            'nmse': nmse(image, truth),
            'psnr': psnr(image, truth, data_range='reference'),
            'ssim': ssim(image, truth, data_range='reference'),
            'clump_flux_error': np.abs(clump_flux_error(image, truth,
                                                        **clumps)),
            'hallucination': hallucination_rate(image, truth, **clumps),
            'completeness': completeness(image, truth, **clumps),
            'chi2': reduced_chi2(image, observed, psf, error=error,
                                 upsample=k)}


def _summary(values, mags, edges):
    """Median over all images and per magnitude bin (NaN-aware)."""
    out = {'median': float(np.nanmedian(values)),
           'mean': float(np.nanmean(values)), 'by_magnitude': []}
    for low, high in zip(edges[:-1], edges[1:]):
        sel = (mags >= low) & (mags < high)
        finite = values[sel][np.isfinite(values[sel])]
        out['by_magnitude'].append(
            {'mag_min': float(low), 'mag_max': float(high),
             'n': int(sel.sum()),
             'median': float(np.median(finite)) if finite.size else None})
    return out


def _evaluate_group(data, methods, weights, device, split, max_images,
                    edges):
    keep = np.nonzero(data.split == split)[0]
    if max_images is not None:
        keep = keep[:max_images]
    if keep.size == 0:
        return None, None
    k = data.truth.shape[-1] // data.observed.shape[-1]
    observed = data.observed[keep].astype(float)
    psf = data.psf[keep].astype(float)
    truth = data.truth[keep].astype(float)
    error = np.broadcast_to(data.sigma[keep][:, None, None],
                            observed.shape).copy()
    mags = np.asarray(data.catalogue['mag'], dtype=float)[keep] if (
        data.catalogue is not None and 'mag' in data.catalogue.colnames
    ) else np.full(keep.size, np.nan)
    results = {'n_images': int(keep.size), 'upsample': k}
    raw = {'mag': mags}
    for method in methods:
        deconv = _deconvolver(method, k, weights, device)
        kwargs = {'error': error} if method in ('tikhonov-auto',
                                                'wiener') else {}
        image = deconv(observed, psf=psf, **kwargs)
        scores = _scores(image, truth, observed, psf, error, k)
        raw[method] = scores
        results[method] = {name: _summary(np.asarray(v, float), mags, edges)
                           for name, v in scores.items()}
    return results, raw


def _plot_report(raw_by_group, path):
    """Metric-versus-magnitude figure of every group (NMSE, clump flux)."""
    from matplotlib.figure import Figure

    from .visualization import plot_metric_vs_magnitude

    groups = list(raw_by_group)
    fig = Figure(figsize=(10, 3.6 * len(groups)))
    axes = fig.subplots(len(groups), 2, squeeze=False)
    for row, group in zip(axes, groups):
        raw = raw_by_group[group]
        mags = raw['mag']
        methods = [m for m in raw if m != 'mag']
        for ax, metric, label in zip(row, ('nmse', 'clump_flux_error'),
                                     ('NMSE', '|clump flux error|')):
            values = {m: np.asarray(raw[m][metric], float) for m in methods}
            plot_metric_vs_magnitude(mags, values, metric_name=label, ax=ax)
            ax.set_title(group)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _run_evaluate(args, out):
    from .datasets import TrainingSetFile, read_training_set

    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.overwrite:
        msg = (f'{output} already exists; pass --overwrite to replace it')
        raise FileExistsError(msg)
    split = {'train': 0, 'val': 1, 'test': 2}[args.split]
    edges = np.asarray(args.mag_bins, dtype=float)
    report = {'data': str(args.data), 'weights': str(args.weights),
              'split': args.split, 'metrics': list(_METRICS),
              'clump_threshold': 5.0, 'mag_bins': edges.tolist(),
              'groups': {}}
    with TrainingSetFile(args.data) as handle:
        groups = handle.groups
    raw_by_group = {}
    for group in groups:
        data = read_training_set(args.data, group)
        result, raw = _evaluate_group(data, args.methods, args.weights,
                                      args.device, split, args.max_images,
                                      edges)
        if result is not None:
            report['groups'][group] = result
            raw_by_group[group] = raw
    table = _format_report(report)
    print(table, file=out)
    if output is not None:
        tmp = output.with_name(output.name + '.tmp')
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, output)
        output.with_suffix('.md').write_text(table + '\n')
        written = [output, output.with_suffix('.md')]
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print('note: matplotlib is not installed; no figure made',
                  file=out)
        else:
            png = output.with_suffix('.png')
            _plot_report(raw_by_group, png)
            written.append(png)
        print('wrote ' + ', '.join(str(p) for p in written), file=out)
    return 0


def _format_report(report):
    lines = [f"Split {report['split']} of {report['data']} (medians, but "
             'means for the hallucination rate and completeness, whose '
             'medians are mostly 0 and 1; clump metrics on starlet scale 3, '
             '5 sigma)', '',
             '| group | method | NMSE | PSNR | SSIM | clump flux err | '
             'halluc. | complet. | chi2 |', '|---' * 9 + '|']
    for group, result in report['groups'].items():
        for method, scores in result.items():
            if not isinstance(scores, dict):
                continue
            cells = [f"{scores[m][_SUMMARY.get(m, 'median')]:.4g}"
                     for m in _METRICS]
            lines.append(f'| {group} | {method} | ' + ' | '.join(cells)
                         + ' |')
    return '\n'.join(lines)


def _stderr(text):
    print(text, file=sys.stderr)
