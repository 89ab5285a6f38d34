# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
How much small-scale flux can a data-driven debiasing give back?

A companion of ``bench_debias.py`` that explains its numbers. On the
held-out simulated set (seed 20261125; 100 galaxies per grid by default,
the debiasing runs being long), starting from the output of the default
learned model, it measures the median absolute and signed relative error
of the flux in small-scale structures (clumps on starlet scale 3 of the
truth, threshold 5), the median NMSE and the mean hallucination rate of:

* the published debiasing iteration (support of the network output) driven
  further towards its fixed point with ``accelerate=True``: 50 and 200
  iterations, i.e. the trade-off between flux given back and noise added;
* the same iteration on an *oracle* support, that of the true image
  (thresholded like the default support): what a perfect choice of
  support would give;
* Tikhonov deconvolution of the data alone for a range of ``lam`` (the
  linear, network-free estimates: the lower ``lam``, the less biased and
  the noisier).

It also reports an oracle bound: the relative standard deviation with which
the data determine the amplitude of the true clump pattern (one parameter
per galaxy, its shape known), ``sigma / ||H t||`` with ``t`` the truth's
scale-3 plane inside its clump segments. Writes a JSON file and a Markdown
table. Run::

    python benchmarks/bench_debias_limits.py [--n-galaxies 100]
        [--data FILE] [-o benchmarks/results/bench_debias_limits.json]
"""

import argparse
import time

import numpy as np

from _heldout import (CLUMPS, add_heldout_arguments, as_image_stack,
                      clump_metrics, heldout_groups, report_header,
                      write_results)

from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       TikhonovDeconvolver, debias_mrs)
from astrodeconv.deconvolution.debias import _significant_support
from astrodeconv.operators import ForwardModel
from astrodeconv.metrics import clump_segmentation, small_scale_structure
from astrodeconv.wavelets import estimate_noise

N_SCALES = 4
TIKHONOV_LAMBDAS = (1e-4, 1e-3, 9e-3, 3e-2)


def amplitude_bound(truth, psf, sigma, k):
    """Relative std of the amplitude of the true clump pattern."""
    segments = clump_segmentation(truth, **CLUMPS.detection_kwargs())
    planes = small_scale_structure(truth, scale=CLUMPS.scale)
    bounds = []
    for plane, segm, p, s in zip(planes, segments, psf, sigma):
        if not (segm > 0).any():
            continue
        pattern = plane * (segm > 0)
        shape = (plane.shape[0] // k, plane.shape[1] // k)
        blurred = ForwardModel(p, shape, upsample=k).forward(pattern)
        bounds.append(s / np.linalg.norm(blurred))
    return np.array(bounds)


def evaluate_group(data, args):
    n = args.n_galaxies
    k = data.truth.shape[-1] // data.observed.shape[-1]
    truth = data.truth[:n].astype(float)
    observed = data.observed[:n].astype(float)
    psf = data.psf[:n].astype(float)
    sigma = np.atleast_1d(estimate_noise(observed))
    rows, timings = {}, {}

    start = time.perf_counter()
    model = LearnedDeconvolver(args.weights, upsample=k, device=args.device,
                               debias=False)
    network = as_image_stack(model(observed, psf=psf))
    timings['network'] = time.perf_counter() - start
    rows['network'] = clump_metrics(network, truth)

    runs = {'debias_start_20': dict(n_iter=20),
            'debias_start_fast_50': dict(n_iter=50, accelerate=True),
            'debias_start_fast_200': dict(n_iter=200, accelerate=True),
            'debias_oracle_fast_100': dict(
                n_iter=100, accelerate=True,
                support=_significant_support(
                    truth, ForwardModel(psf, observed.shape[-2:], upsample=k),
                    sigma, N_SCALES, threshold=3.0))}
    for name, kwargs in runs.items():
        start = time.perf_counter()
        out = debias_mrs(network, observed, psf, sigma=sigma, upsample=k,
                         n_scales=N_SCALES, **kwargs).image
        timings[name] = time.perf_counter() - start
        rows[name] = clump_metrics(out, truth)
        print(name, rows[name], flush=True)

    for lam in TIKHONOV_LAMBDAS:
        name = f'tikhonov_{lam:g}'
        start = time.perf_counter()
        out = as_image_stack(TikhonovDeconvolver(lam=lam, upsample=k)(
            observed, psf=psf))
        timings[name] = time.perf_counter() - start
        rows[name] = clump_metrics(out, truth)

    bound = amplitude_bound(truth, psf, data.sigma[:n], k)
    return {'upsample': int(k), 'n_images': int(n), 'methods': rows,
            'timings_s': timings,
            'oracle_amplitude_rel_std_median': float(np.median(bound)),
            'oracle_amplitude_rel_std_quartiles': [
                float(q) for q in np.percentile(bound, [25, 75])]}


LABELS = {
    'network': 'network alone',
    'debias_start_20': 'debias (published, 20 iterations)',
    'debias_start_fast_50': 'debias, accelerated, 50 iterations',
    'debias_start_fast_200': 'debias, accelerated, 200 iterations',
    'debias_oracle_fast_100': 'debias on the true support, accelerated, '
                              '100 iterations',
}


def markdown(report):
    lines = []
    for group, entry in report['groups'].items():
        lines.append(f"**{group}** (observed grid {entry['upsample']}x "
                     f"coarser, {entry['n_images']} galaxies)")
        lines.append('')
        lines.append('| estimate | median abs. rel. clump flux error | '
                     'median rel. clump flux error | median NMSE | '
                     'mean hallucination rate |')
        lines.append('|---|---|---|---|---|')
        for name, row in entry['methods'].items():
            label = LABELS.get(name, name.replace('tikhonov_',
                                                  'Tikhonov, lam = '))
            lines.append(
                f"| {label} | {row['clump_flux_abs_rel_error_median']:.4f} "
                f"| {row['clump_flux_rel_error_median']:+.4f} | "
                f"{row['nmse_median']:.4f} | "
                f"{row['hallucination_rate_mean']:.3f} |")
        low, high = entry['oracle_amplitude_rel_std_quartiles']
        lines.append('')
        lines.append(f"Oracle bound on the clump amplitude (relative std): "
                     f"median {entry['oracle_amplitude_rel_std_median']:.4f}"
                     f" (quartiles {low:.4f}, {high:.4f})")
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    add_heldout_arguments(parser, 'bench_debias_limits.json')
    parser.set_defaults(n_galaxies=100)
    parser.add_argument('--groups', nargs='*', default=None)
    args = parser.parse_args(argv)
    report = dict(report_header('bench_debias_limits', args), groups={})
    for group, data in heldout_groups(args, args.groups or None,
                                      minimum=100):
        report['groups'][group] = evaluate_group(data, args)
    write_results(report, args.output, markdown(report))
    return report


if __name__ == '__main__':
    main()
