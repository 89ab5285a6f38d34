# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Throughput of TikhonovDeconvolver on a stack of 128x128 images.

Measures, in the same run and on the same images:

* one batched call of `astrodeconv.deconvolution.TikhonovDeconvolver` on
  the whole stack, in float32 (float32 input) and in float64;
* a plain per-image loop of ``scipy.fft.rfft2`` -> multiply by the
  precomputed filter -> ``irfft2``, in float32 and in float64 (the speed of
  the FFT itself, with nothing else around it);
* the peak extra memory of the batched float32 call (numpy allocations,
  traced with `tracemalloc`), against the size of the input.

The batched call and the loop are timed alternately ``--repeat`` times;
``ratio`` compares the best times, ``ratio_median_of_pairs`` the median of
the ratios of each (batched, loop) pair, which is robust to a machine
whose speed drifts.

Run::

    python benchmarks/bench_tikhonov.py [--n-images 2048] [--size 128]
        [--repeat 7] [-o benchmarks/results/bench_tikhonov.json]

Goals: float32 batched at least 1.5 times the float32 per-image loop,
float64 batched at least 1.0 times the float64 loop, peak extra memory
for the float32 stack at most twice the input.
"""

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import fft as sp_fft

from astrodeconv import __version__, conf
from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.operators import ForwardModel
from astrodeconv.operators import fourier as F
from astrodeconv.evaluation import write_report

GOAL_RATIO_FLOAT32 = 1.5
GOAL_RATIO_FLOAT64 = 1.0
GOAL_MEMORY_RATIO = 2.0
LAM = 9e-3


def make_batch(n_images, size, seed=0):
    """Noisy blurred galaxy-like images and their Gaussian PSF."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size)) - size / 2
    radius = np.hypot(xx, yy)
    scales = rng.uniform(3, 10, n_images)[:, None, None]
    images = np.exp(-radius / scales) + rng.normal(0, 0.01, (n_images, size,
                                                             size))
    sigma = 3.0
    psf_size = 31
    py, px = np.indices((psf_size, psf_size)) - psf_size // 2
    psf = np.exp(-(px ** 2 + py ** 2) / (2 * sigma ** 2))
    return images, psf / psf.sum()


def tikhonov_filter(psf, shape, dtype):
    """The Tikhonov filter of the reference code on ``shape``."""
    otf = ForwardModel(psf, shape).transfer()[0]
    w = np.conj(otf) / (np.abs(otf) ** 2
                        + LAM * F.laplacian_otf_squared(shape))
    return w.astype(np.complex64 if dtype == 'float32' else np.complex128)


def per_image_loop(images, w):
    """rfft2 -> multiply -> irfft2, one image at a time (scipy.fft)."""
    out = np.empty_like(images)
    shape = images.shape[-2:]
    for i, image in enumerate(images):
        out[i] = sp_fft.irfft2(sp_fft.rfft2(image) * w, s=shape)
    return out


def interleaved_times(funcs, repeat):
    """
    Time each function ``repeat`` times, alternating between them.

    Alternating spreads slow phases of a shared machine over every
    function instead of penalising whichever ran then. Returns, per
    function, the list of times and the last result.
    """
    times = [[] for _ in funcs]
    results = [None] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            start = time.perf_counter()
            results[i] = func()
            times[i].append(time.perf_counter() - start)
    return times, results


def peak_extra_memory(func):
    """Peak of the numpy allocations made while ``func`` runs (bytes)."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--n-images', type=int, default=2048)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_tikhonov.json'))
    args = parser.parse_args(argv)

    images64, psf = make_batch(args.n_images, args.size)
    shape = (args.size, args.size)
    rows = {}
    for dtype in ('float32', 'float64'):
        images = images64.astype(dtype)
        deconv = TikhonovDeconvolver(lam=LAM, dtype=dtype)
        w = tikhonov_filter(psf, shape, dtype)
        (batched_t, loop_t), (batched, looped) = interleaved_times(
            [lambda: deconv(images, psf=psf),
             lambda: per_image_loop(images, w)], args.repeat)
        batched_s, loop_s = min(batched_t), min(loop_t)
        ratios = np.array(loop_t) / np.array(batched_t)
        rows[dtype] = {
            'batched_seconds': batched_s,
            'batched_images_per_second': args.n_images / batched_s,
            'loop_seconds': loop_s,
            'loop_images_per_second': args.n_images / loop_s,
            'ratio': loop_s / batched_s,
            'ratio_median_of_pairs': float(np.median(ratios)),
            'ratio_min_of_pairs': float(ratios.min()),
            'max_abs_difference': float(np.abs(batched - looped).max()),
        }
    images32 = images64.astype('float32')
    deconv32 = TikhonovDeconvolver(lam=LAM, dtype='float32')
    peak = peak_extra_memory(lambda: deconv32(images32, psf=psf))
    memory_ratio = peak / images32.nbytes
    result = {
        'benchmark': 'bench_tikhonov',
        'astrodeconv_version': __version__,
        'numpy_version': np.__version__,
        'machine': platform.machine(),
        'cpu_count': os.cpu_count(),
        'fft_workers': F.fft_workers(),
        'conf_fft_workers': int(conf.fft_workers),
        'n_images': args.n_images,
        'image_shape': list(shape),
        'psf_shape': list(psf.shape),
        'lam': LAM,
        'float32': rows['float32'],
        'float64': rows['float64'],
        'float32_peak_extra_memory_bytes': peak,
        'float32_input_bytes': images32.nbytes,
        'float32_peak_memory_ratio': memory_ratio,
        'goal_ratio_float32': GOAL_RATIO_FLOAT32,
        'goal_ratio_float64': GOAL_RATIO_FLOAT64,
        'goal_memory_ratio': GOAL_MEMORY_RATIO,
        'goal_met_float32': bool(rows['float32']['ratio']
                                 >= GOAL_RATIO_FLOAT32),
        'goal_met_float64': bool(rows['float64']['ratio']
                                 >= GOAL_RATIO_FLOAT64),
        'goal_met_memory': bool(memory_ratio <= GOAL_MEMORY_RATIO),
    }
    write_report(args.output, result, overwrite=True)
    print(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
