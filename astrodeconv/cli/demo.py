# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``astrodeconv demo``: deconvolve the bundled simulated galaxy."""

import sys
from pathlib import Path

import numpy as np

from ._common import PROG, describe_params

__all__ = []

_METHODS = ('learned', 'tikhonov', 'richardson-lucy', 'wiener')

#: The method run by ``astrodeconv demo`` unless --method is given. This is
#: the single place to change when a better default becomes available.
DEMO_METHOD = 'learned'

_DEMO_FITS = 'demo_deconvolved.fits'
_DEMO_PNG = 'demo_panel.png'
#: Resolution of the demo figure.
_DPI = 100


def add_parser(commands):
    """Register the ``demo`` command."""
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
                      help='accepted for compatibility: the demo always '
                      f'replaces its own outputs ({_DEMO_FITS}, '
                      f'{_DEMO_PNG}) and says so')
    return demo


def _demo_deconvolver(method, upsample):
    """The deconvolver of ``astrodeconv demo`` for ``method``."""
    from ..deconvolution import make_deconvolver

    options = {'tikhonov': {'lam': 'auto'},
               # ten re-noised copies give the per-pixel uncertainty
               'learned': {'n_noise_samples': 10}}.get(method, {})
    return make_deconvolver(method, upsample=upsample, **options)


def _panel(demo, results, title):
    """The observed / deconvolved / truth / residual figure."""
    from ..visualization import plot_panel

    k = demo.upsample
    coarse = float(demo.observed.meta.get('PIXSCALE', 0.2))
    fine = coarse / k
    titles = [f'Observed ({coarse:g}"/px, seeing '
              f'{demo.observed.meta.get("FWHM", 0.7):g}")',
              f'{title} (x{k}, {fine:g}"/px)',
              f'Truth (HST-like, {fine:g}"/px)',
              'Residual: observed - blurred model']
    return plot_panel([demo.observed, results.image, demo.truth],
                      titles=titles, truth_index=2,
                      residual=results.residual)


def run(args, out):
    """Deconvolve the demo galaxy, write the outputs, print the metrics."""
    from ..datasets import load_demo_data
    from ..io import write_image
    from ..metrics import flux_ratio, nmse, ssim
    from ..operators import upsample_flux
    from ..utils import _optional_deps
    from ..utils._files import check_output_path
    from ..visualization import save_figure

    directory = Path(args.output_dir)
    if directory.exists() and not directory.is_dir():
        msg = f'-o {str(directory)!r} must be a directory, got a file'
        raise NotADirectoryError(msg)
    fits_path = directory / _DEMO_FITS
    png_path = directory / _DEMO_PNG
    plot = _optional_deps.HAS_MATPLOTLIB
    directory.mkdir(parents=True, exist_ok=True)
    # the demo is rerunnable: it replaces the files it wrote before
    outputs = [fits_path, png_path] if plot else [fits_path]
    for path in outputs:
        check_output_path(path, overwrite=True, name='-o')
    replaced = [str(path) for path in outputs if path.exists()]

    demo = load_demo_data()
    deconvolver = _demo_deconvolver(args.method, demo.upsample)
    results = deconvolver.deconvolve(demo.observed)
    image, truth = results.image, demo.truth
    write_image(image, fits_path, overwrite=True)

    data_range = float(truth.data.max() - truth.data.min())
    baseline = upsample_flux(np.asarray(demo.observed.data, dtype=float),
                             demo.upsample)
    name = type(deconvolver).__name__
    print(f'astrodeconv demo: {name} '
          f'({describe_params(args.method, results.params)}), '
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
        figure = _panel(demo, results, name.replace('Deconvolver', ''))
        save_figure(figure, png_path, overwrite=True, dpi=_DPI)
        written.append(str(png_path))
    else:
        print(f'{PROG}: note: matplotlib is not installed; {_DEMO_PNG} was '
              'not made (pip install matplotlib)', file=sys.stderr)
    print(f'  wrote {", ".join(written)}', file=out)
    if replaced:
        print(f'  (replaced the existing {", ".join(replaced)})', file=out)
    return 0
