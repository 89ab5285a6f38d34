# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv evaluate``: metrics of a model on a training-set split."""

import math

from ..evaluation.harness import DEFAULT_MAG_BINS, EVALUATION_METHODS
from ._common import UsageError

__all__ = []


def add_parser(commands):
    """Register the ``evaluate`` command."""
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
                    choices=EVALUATION_METHODS,
                    help='methods to compare (default: learned tikhonov); '
                    'learned-debiased adds the MRS debiasing')
    ev.add_argument('--mag-bins', nargs='+', type=float,
                    default=list(DEFAULT_MAG_BINS), metavar='EDGE',
                    help='magnitude bin edges: at least two, increasing')
    ev.add_argument('--max-images', type=int, default=None, metavar='N',
                    help='use at most N images of each group (N >= 1)')
    ev.add_argument('--device', default='auto')
    ev.add_argument('-o', '--output', metavar='REPORT.json',
                    help='write the report to this JSON file, with '
                    'REPORT.md and REPORT.png beside it')
    ev.add_argument('--overwrite', action='store_true')
    return ev


def _check_arguments(args):
    """Refuse values the parser's types let through (exit status 2)."""
    if args.max_images is not None and args.max_images < 1:
        msg = f'--max-images must be at least 1, got {args.max_images}'
        raise UsageError(msg)
    edges = args.mag_bins
    if len(edges) < 2:
        msg = ('--mag-bins must be at least two bin edges (e.g. --mag-bins '
               f'20 23 26), got {len(edges)}: {edges[0]:g}')
        raise UsageError(msg)
    if not all(math.isfinite(e) for e in edges) or any(
            b <= a for a, b in zip(edges[:-1], edges[1:])):
        shown = ' '.join(f'{e:g}' for e in edges)
        msg = f'--mag-bins must be finite and increasing, got {shown}'
        raise UsageError(msg)


def run(args, out):
    """Evaluate, print the Markdown table and write the report files."""
    from ..evaluation import EvaluationReport, evaluate_training_set
    from ..utils import _optional_deps

    _check_arguments(args)
    if args.output is not None and not args.overwrite:
        for path in EvaluationReport.output_paths(args.output):
            if path.exists():
                msg = f'{path} already exists; pass --overwrite to replace it'
                raise FileExistsError(msg)
    report = evaluate_training_set(
        args.data, split=args.split, methods=args.methods,
        weights=args.weights, device=args.device, mag_bins=args.mag_bins,
        max_images=args.max_images)
    print(report.to_markdown(), file=out)
    if args.output is not None:
        written = report.write(args.output, overwrite=args.overwrite)
        if not _optional_deps.HAS_MATPLOTLIB:
            print('note: matplotlib is not installed; no figure made',
                  file=out)
        print('wrote ' + ', '.join(str(p) for p in written), file=out)
    return 0
