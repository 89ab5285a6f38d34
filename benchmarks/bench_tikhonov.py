"""
Throughput of TikhonovDeconvolver on a batch of 128x128 images.

Compares, in the same run, one batched call of
`astrodeconv.deconvolution.TikhonovDeconvolver` on a stack of 2048 images
with a straightforward per-image numpy loop implementing the same filter
the way the published reference code does (PSF transform, Laplacian
transform, forward and inverse FFT for every image).

Run::

    python benchmarks/bench_tikhonov.py [--n-images 2048] [--size 128]
        [--repeat 3] [-o benchmarks/results/bench_tikhonov.json]

Goals: at least 5,000 images/s on 2 CPU cores and at least 5 times the
per-image loop.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from astrodeconv import __version__
from astrodeconv.deconvolution import TikhonovDeconvolver

GOAL_RATE = 5000.0
GOAL_SPEEDUP = 5.0


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


def per_image_loop(images, psf, lam):
    """The reference recipe, one image at a time, in plain numpy."""
    out = np.empty_like(images)
    size = images.shape[-1]
    for i, image in enumerate(images):
        padded = np.zeros((size, size))
        off = size // 2 - psf.shape[0] // 2
        padded[off:off + psf.shape[0], off:off + psf.shape[1]] = psf
        h = np.fft.rfft2(np.fft.ifftshift(padded))
        lap = np.zeros((size, size))
        lap[:3, :3] = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
        lap = np.roll(lap, (-1, -1), axis=(0, 1))
        lap_f = np.fft.rfft2(lap)
        spec = np.conj(h) * np.fft.rfft2(image) / (
            np.abs(h) ** 2 + lam * np.abs(lap_f) ** 2)
        out[i] = np.fft.irfft2(spec, s=(size, size))
    return out


def best_time(func, repeat):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--n-images', type=int, default=2048)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--loop-images', type=int, default=512,
                        help='images timed in the per-image loop')
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_tikhonov.json'))
    args = parser.parse_args(argv)

    images, psf = make_batch(args.n_images, args.size)
    lam = 9e-3
    timings = {}
    for dtype in ('float64', 'float32'):
        deconv = TikhonovDeconvolver(lam=lam, dtype=dtype)
        timings[dtype] = best_time(lambda: deconv(images, psf=psf),
                                   args.repeat)
    batched_s, batched = timings['float64']
    batched32_s, batched32 = timings['float32']
    n_loop = min(args.loop_images, args.n_images)
    loop_s, looped = best_time(lambda: per_image_loop(images[:n_loop], psf,
                                                      lam), args.repeat)
    max_diff = float(np.abs(batched[:n_loop] - looped).max())
    rate = args.n_images / batched_s
    rate32 = args.n_images / batched32_s
    loop_rate = n_loop / loop_s
    result = {
        'benchmark': 'bench_tikhonov',
        'astrodeconv_version': __version__,
        'numpy_version': np.__version__,
        'machine': platform.machine(),
        'cpu_count': os.cpu_count(),
        'n_images': args.n_images,
        'image_shape': [args.size, args.size],
        'psf_shape': list(psf.shape),
        'lam': lam,
        'batched_seconds': batched_s,
        'batched_images_per_second': rate,
        'loop_images_timed': n_loop,
        'loop_seconds': loop_s,
        'loop_images_per_second': loop_rate,
        'speedup': rate / loop_rate,
        'max_abs_difference': max_diff,
        'float32_batched_seconds': batched32_s,
        'float32_images_per_second': rate32,
        'float32_speedup': rate32 / loop_rate,
        'float32_max_abs_difference': float(np.abs(
            batched32[:n_loop] - looped).max()),
        'goal_images_per_second': GOAL_RATE,
        'goal_speedup': GOAL_SPEEDUP,
        'goals_met_float64': bool(rate >= GOAL_RATE
                                  and rate / loop_rate >= GOAL_SPEEDUP),
        'goals_met_float32': bool(rate32 >= GOAL_RATE
                                  and rate32 / loop_rate >= GOAL_SPEEDUP),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, output)
    print(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
