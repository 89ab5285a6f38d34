# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Joint Rubin + Euclid deconvolution: speed and quality against a
straightforward implementation of the reference algorithm.

Measured in one run:

* **The reference sample** (``../shared/data/multiband``, Rubin r/i/z at
  0.2" and Euclid VIS at 0.1", HST target):

  - ``reference``: a straightforward implementation of the reference
    algorithm as published (``MBDeconv_FISTA.py``, described in
    ``../shared/reference/methods.md`` section 4), written here: every
    iteration convolves in the image domain (one
    ``scipy.signal.fftconvolve(..., mode='same')`` per convolution, zero
    boundaries), resamples with ``scipy.ndimage.zoom`` (flux-preserving
    2x2 mean x 4 down, bilinear / 4 up), updates the bands one after the
    other, recomputes the balancing weight with ``frac_contr = 0.3``, takes
    a tenth of the inverse Lipschitz bound as step and never updates its
    momentum; 200 iterations. Its data are used as given (PSFs as they
    are, noise map as given).
  - ``ours_default``: `MultiBandDeconvolver` with ``noise='measure'`` (the
    sample's noise map is 3 times too small) and its stopping rule.
  - ``ours_200``: the same for 200 iterations, stopping rules off.
  - ``ours_gradient``: plain projected gradient (``accelerate=False``)
    with the stopping rule.
  - ``ours_plain_arrays``: the sample's arrays as the reference code
    reads them (no WCS, PSFs not shifted), ``noise='measure'``, the PSF
    centre convention declared with ``psf_center='scipy'`` (the even-size
    centre of ``scipy.signal.fftconvolve(mode='same')``, ``n/2 - 1``)
    instead of shifting the arrays as `load_reference_sample` does. Run
    only when `MultiBandDeconvolver.deconvolve` takes ``psf_center``.

  Wall times are medians of ``--repeat`` runs, NMSE per band against the
  HST target, flux per band.
* **A batch of simulated objects** (`simulate_multiband`, ``--n-objects``
  galaxies): one batched call (float64, and float32) against one call per
  object, with the median NMSE of each and of the flux-conserving
  upsampled input.

Run::

    python benchmarks/bench_multiband.py [--n-objects 64] [--repeat 5]
        [--only {sample,batch}] [--profile N]
        [-o benchmarks/results/bench_multiband.json] [--overwrite]

``--profile N`` prints the N functions where one batched float64 call
spends most time (cProfile), after the measurements.

Goals: ours at least 10 times faster than the straightforward reference
at equal or better NMSE, and the batch at least 3 times faster per object
than one object at a time.
"""

import argparse
import inspect
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from astrodeconv import __version__
from astrodeconv.datasets import load_reference_sample, simulate_multiband
from astrodeconv.evaluation import write_report
from astrodeconv.multiband import MultiBandDeconvolver

SAMPLE = Path(__file__).resolve().parents[1] / '..' / 'shared' / 'data' / \
    'multiband'
GOAL_SPEEDUP = 10.0
GOAL_BATCH_SPEEDUP = 3.0
REFERENCE_ITERATIONS = 200
FRAC_CONTR = 0.3


# -- the straightforward reference -------------------------------------------
def _down(image):
    """Flux-preserving 2x downsampling (2x2 mean, times 4)."""
    return ndimage.zoom(image, 0.5, order=1, grid_mode=True,
                        mode='grid-constant') * 4


def _up(image):
    """Flux-preserving 2x bilinear upsampling (divided by 4)."""
    return ndimage.zoom(image, 2, order=1, grid_mode=True,
                        mode='nearest') / 4


def reference_deconvolution(data, psfs, broad, broad_psf, noise, sed,
                            n_iter=REFERENCE_ITERATIONS, frac=FRAC_CONTR):
    """
    The published algorithm, written plainly.

    ``data`` ``(B, ny, nx)``, ``psfs`` ``(B, fy, fx)`` on the fine grid,
    ``noise`` the B narrow-band and the broad-band standard deviations,
    ``sed`` ``(B,)``.
    """
    n_bands = len(data)
    x = np.stack([_up(band) for band in data])
    sum_var = np.sum(noise[:n_bands] ** 2)
    steps = []
    for b in range(n_bands):
        power = np.abs(np.fft.fft2(psfs[b][::-1, ::-1])
                       * np.fft.fft2(psfs[b]))
        steps.append(1.0 / (10 * power.max() / sum_var * (1 + 1e-5)))
    flipped = [psf[::-1, ::-1] for psf in psfs]
    broad_flipped = broad_psf[::-1, ::-1]
    for _ in range(n_iter):
        for b in range(n_bands):
            resid = _down(fftconvolve(x[b], psfs[b], mode='same')) - data[b]
            data_term = 0.5 * np.sum((resid / noise[b]) ** 2)
            combined = np.tensordot(sed, x, axes=1)
            broad_resid = fftconvolve(combined, broad_psf,
                                      mode='same') - broad
            constraint = np.sum((broad_resid / noise[-1]) ** 2)
            lam = frac * data_term / constraint
            grad = (fftconvolve(_up(resid), flipped[b], mode='same')
                    / noise[b] ** 2
                    + 2 * lam * sed[b] * fftconvolve(
                        broad_resid, broad_flipped, mode='same')
                    / noise[-1] ** 2)
            x[b] = np.maximum(x[b] - steps[b] * grad, 0.0)
    return x


def read_raw_sample():
    """The sample's arrays as the reference code reads them."""
    def load(name):
        return np.load(SAMPLE / f'{name}.npy')

    return {'data': np.moveaxis(load('noisy_LSST'), -1, 0),
            'psfs': np.moveaxis(load('psf_LSST'), -1, 0),
            'broad': load('euclid'), 'broad_psf': load('psf_euclid_vis'),
            'noise': load('noisemap_LSST'), 'sed': load('sed'),
            'target': np.moveaxis(load('target_HST'), -1, 0)}


# -- measures -----------------------------------------------------------------
def nmse(x, target):
    return ((x - target) ** 2).sum(axis=(-2, -1)) / (target ** 2).sum(
        axis=(-2, -1))


def timed(function, repeat):
    """Median wall time of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def describe(x, target, seconds, **extra):
    return {'seconds': seconds,
            'nmse': [float(v) for v in nmse(x, target)],
            'flux': [float(v) for v in x.sum(axis=(-2, -1))], **extra}


def bench_sample(repeat):
    raw = read_raw_sample()
    sample = load_reference_sample(SAMPLE)
    target = sample.target
    ref_time, ref_x = timed(lambda: reference_deconvolution(
        raw['data'], raw['psfs'], raw['broad'], raw['broad_psf'],
        raw['noise'], raw['sed']), repeat)
    out = {'target_flux': [float(v) for v in target.sum(axis=(-2, -1))],
           'reference': describe(ref_x, target, ref_time,
                                 iterations=REFERENCE_ITERATIONS)}
    variants = {
        'ours_default': {},
        'ours_200': {'discrepancy': None, 'tol': 0.0,
                     'n_iter': REFERENCE_ITERATIONS},
        'ours_gradient': {'accelerate': False, 'n_iter': 500},
    }
    for name, kwargs in variants.items():
        deconv = MultiBandDeconvolver(noise='measure', **kwargs)

        def run():
            return deconv.deconvolve(sample.bandset,
                                     sed_weights=sample.sed_weights)

        seconds, result = timed(run, repeat)
        x = np.stack([image.data for image in result.image])
        out[name] = describe(x, target, seconds,
                             iterations=int(result.iterations),
                             stop_reason=result.stop_reason,
                             speedup=ref_time / seconds)
    plain = bench_plain_arrays(raw, target, ref_time, repeat)
    if plain is not None:
        out['ours_plain_arrays'] = plain
    best = out['ours_default']
    out['goal_speedup'] = GOAL_SPEEDUP
    out['speedup_met'] = bool(best['speedup'] >= GOAL_SPEEDUP)
    out['nmse_not_worse'] = bool(np.all(np.array(best['nmse'])
                                        <= np.array(out['reference']['nmse'])))
    return out


def bench_plain_arrays(raw, target, ref_time, repeat):
    """
    The sample as plain arrays, the PSF convention declared (None when
    ``deconvolve`` does not take ``psf_center``).
    """
    deconv = MultiBandDeconvolver(noise='measure')
    if 'psf_center' not in inspect.signature(deconv.deconvolve).parameters:
        print('MultiBandDeconvolver.deconvolve takes no psf_center: the '
              'plain-array row is skipped')
        return None

    def run():
        return deconv.deconvolve(
            list(raw['data']), raw['broad'], sed_weights=raw['sed'],
            psf=list(raw['psfs']), broad_psf=raw['broad_psf'],
            psf_center='scipy')

    with warnings.catch_warnings():
        # PSF offsets kept as given are reported by a warning
        warnings.simplefilter('ignore')
        seconds, result = timed(run, repeat)
    x = np.stack(result.image)
    return describe(x, target, seconds, iterations=int(result.iterations),
                    stop_reason=result.stop_reason,
                    speedup=ref_time / seconds)


def batch_inputs(n_objects):
    sim = simulate_multiband(n_objects, seed=20261130)
    bands = [sim.data[:, b] for b in range(sim.data.shape[1])]
    kwargs = dict(sed_weights=sim.sed_weights, psf=list(sim.psfs),
                  broad_psf=sim.broad_psf, error=list(sim.errors),
                  broad_error=sim.broad_error)
    return sim, bands, kwargs


def profile_batch(n_objects, top):
    """cProfile of one batched float64 call: the ``top`` functions."""
    import cProfile
    import io
    import pstats

    sim, bands, kwargs = batch_inputs(n_objects)
    deconv = MultiBandDeconvolver()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        deconv.deconvolve(bands, sim.broad_data, **kwargs)
        profiler = cProfile.Profile()
        profiler.enable()
        deconv.deconvolve(bands, sim.broad_data, **kwargs)
        profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats('tottime').print_stats(
        top)
    return stream.getvalue()


def bench_batch(n_objects, repeat):
    sim, bands, kwargs = batch_inputs(n_objects)
    deconv = MultiBandDeconvolver()
    single = MultiBandDeconvolver(dtype='float32')

    def batch():
        return deconv.deconvolve(bands, sim.broad_data, **kwargs)

    def batch32():
        return single.deconvolve(bands, sim.broad_data, **kwargs)

    def loop():
        return [deconv.deconvolve([band[i] for band in bands],
                                  sim.broad_data[i], **kwargs)
                for i in range(n_objects)]

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        batch_time, batch_result = timed(batch, repeat)
        batch32_time, batch32_result = timed(batch32, repeat)
        loop_time, loop_results = timed(loop, max(1, repeat // 2))
    x = np.stack(batch_result.image, axis=1)
    x32 = np.stack(batch32_result.image, axis=1)
    x_loop = np.stack([np.stack(r.image) for r in loop_results])
    start = np.stack([np.kron(b, np.ones((sim.upsample, sim.upsample)))
                      / sim.upsample ** 2 for b in bands], axis=1)
    return {
        'n_objects': n_objects,
        'batch_seconds': batch_time,
        'loop_seconds': loop_time,
        'per_object_ms_batch': 1e3 * batch_time / n_objects,
        'per_object_ms_loop': 1e3 * loop_time / n_objects,
        'batch_speedup': loop_time / batch_time,
        'goal_batch_speedup': GOAL_BATCH_SPEEDUP,
        'batch_speedup_met': bool(loop_time / batch_time
                                  >= GOAL_BATCH_SPEEDUP),
        'batch_float32_seconds': batch32_time,
        'per_object_ms_batch_float32': 1e3 * batch32_time / n_objects,
        'batch_float32_speedup': loop_time / batch32_time,
        'batch_float32_speedup_met': bool(loop_time / batch32_time
                                          >= GOAL_BATCH_SPEEDUP),
        'max_difference_float32': float(np.abs(x32 - x).max()
                                        / np.abs(x).max()),
        'max_difference_batch_vs_loop': float(np.abs(x - x_loop).max()
                                              / np.abs(x_loop).max()),
        'iterations_median': float(np.median(batch_result.iterations)),
        'iterations_max': int(np.max(batch_result.iterations)),
        'stopped_by_discrepancy': int(sum(
            r == 'discrepancy' for r in batch_result.stop_reason)),
        'median_nmse': [float(v) for v in np.median(nmse(x, sim.truth),
                                                    axis=0)],
        'median_nmse_upsampled_input': [float(v) for v in np.median(
            nmse(start, sim.truth), axis=0)],
    }


def table(report):
    lines = ['| run | iterations | seconds | speed-up | NMSE r / i / z | '
             'flux r / i / z |', '|---|---|---|---|---|---|']
    sample = report.get('sample')
    if sample:
        for name in ('reference', 'ours_default', 'ours_gradient',
                     'ours_200', 'ours_plain_arrays'):
            if name not in sample:
                continue
            row = sample[name]
            speed = row.get('speedup', 1.0)
            lines.append(
                f"| {name} | {row['iterations']} | {row['seconds']:.3f} | "
                f"{speed:.1f} | "
                + ' / '.join(f'{v:.4f}' for v in row['nmse']) + ' | '
                + ' / '.join(f'{v:.2f}' for v in row['flux']) + ' |')
    batch = report.get('batch')
    if not batch:
        return '\n'.join(lines) + '\n'
    lines += ['', f"Batch of {batch['n_objects']} simulated objects: "
              f"{batch['per_object_ms_batch']:.1f} ms per object batched, "
              f"{batch['per_object_ms_loop']:.1f} ms one at a time "
              f"({batch['batch_speedup']:.1f}x), "
              f"{batch['per_object_ms_batch_float32']:.1f} ms batched in "
              f"float32 ({batch['batch_float32_speedup']:.1f}x); median NMSE "
              + ' / '.join(f'{v:.4f}' for v in batch['median_nmse'])
              + ' (upsampled input '
              + ' / '.join(f'{v:.4f}' for v in
                           batch['median_nmse_upsampled_input']) + ').']
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--n-objects', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_multiband.json'))
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument('--only', choices=('sample', 'batch'),
                        help='run one of the two workloads')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='print the N costliest functions of one '
                        'batched call')
    args = parser.parse_args(argv)
    report = {'benchmark': 'bench_multiband', 'version': __version__,
              'machine': platform.machine(), 'cpus': os.cpu_count(),
              'threads': os.environ.get('OMP_NUM_THREADS')}
    report['sample'] = report['batch'] = None
    if args.only != 'batch':
        if SAMPLE.is_dir():
            report['sample'] = bench_sample(args.repeat)
        else:
            print(f'the reference sample is not at {SAMPLE}: skipped')
    if args.only != 'sample':
        report['batch'] = bench_batch(args.n_objects, args.repeat)
    text = table(report)
    print(text)
    if args.profile:
        print(profile_batch(args.n_objects, args.profile))
    write_report(args.output, report, table=text, overwrite=args.overwrite)


if __name__ == '__main__':
    main()
