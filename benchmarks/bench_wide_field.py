# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Flux and background of the default learned deconvolver on sparse fields.

A wide field is mostly sky: a network trained on galaxy stamps may invent
a background there, which multiplies the total flux of the field. For
square fields of 128, 512, 2048 and 4096 output pixels a side holding a
few exponential galaxies (seeded), blurred by a Moffat PSF (FWHM 5 output
pixels) plus white noise of unit standard deviation, observed on the same
grid and (up to 2048) on a 2 times coarser grid (super-resolution), this
measures for ``LearnedDeconvolver()`` (the shipped model with its
defaults: whole images up to 512 pixels, tiles above) and, for reference,
for the network alone (``debias=False``):

* the total flux of the output over that of the input;
* the background offset: median of the output minus median of the input
  over the source-free pixels (where the noiseless observation is below
  0.05 sigma), in units of the noise sigma;
* the wall time and the peak resident memory of the process (each field
  runs in a fresh subprocess).

Run::

    python benchmarks/bench_wide_field.py [--sizes 128 512 2048 4096]
        [-o benchmarks/results/bench_wide_field.json]

Goals: flux within 2 %, background within 0.05 sigma, peak memory of the
4096 x 4096 field under 2 GB.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GOAL_FLUX = 0.02
GOAL_BACKGROUND = 0.05
GOAL_MEMORY_GB = 2.0
#: Galaxies per field, by size.
N_SOURCES = {128: 1, 512: 3, 1024: 12, 2048: 50, 4096: 200}
SIGMA = 1.0


def make_field(size, n_sources, seed=0, upsample=1):
    """
    A sparse field: exponential galaxies, Moffat blur, white noise.

    The truth is ``size`` pixels a side; the observation is ``upsample``
    times coarser (block sums), the PSF is on the fine grid. Returns the
    observation, the mask of its source-free pixels (noiseless observation
    below 0.05 sigma) and the PSF; nothing else stays in memory.
    """
    from astrodeconv.operators import ForwardModel
    from astrodeconv.psf import make_moffat_psf

    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size))
    half = 24
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    for _ in range(n_sources):
        y0, x0 = rng.integers(half, size - half, 2)
        scale = rng.uniform(1.5, 4.0)
        flux = rng.uniform(2e3, 2e4)
        profile = np.exp(-np.hypot(yy, xx) / scale)
        truth[y0 - half:y0 + half + 1, x0 - half:x0 + half + 1] += (
            flux * profile / profile.sum())
    psf = make_moffat_psf(5.0, shape=(31, 31))
    coarse = size // upsample
    data = ForwardModel(psf, (coarse, coarse),
                        upsample=upsample).forward(truth)
    del truth
    sky = data < 0.05 * SIGMA
    data += rng.normal(0.0, SIGMA, data.shape)
    return data, sky, psf


def measure(size, debias, upsample=1, weights='default'):
    """Deconvolve one field in this process; return the figures."""
    import warnings

    from astrodeconv.deconvolution import LearnedDeconvolver

    data, sky, psf = make_field(size, N_SOURCES.get(size, 1),
                                upsample=upsample)
    if upsample > 1:
        sky_fine = sky.repeat(upsample, axis=0).repeat(upsample, axis=1)
    else:
        sky_fine = sky
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        deconv = LearnedDeconvolver(weights, debias=debias, device='cpu',
                                    upsample=upsample)
        out = deconv(data, psf=psf)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    # the output is on the fine grid: compare surface levels per observed
    # pixel (k**2 fine pixels)
    level = out[sky_fine] * upsample ** 2
    return {
        'size': size,
        'upsample': upsample,
        'n_sources': N_SOURCES.get(size, 1),
        'debias': debias,
        'weights': str(weights),
        'input_flux': float(data.sum()),
        'output_flux': float(out.sum()),
        'flux_ratio': float(out.sum() / data.sum()),
        'noise_on_input_flux': float(SIGMA * np.sqrt(data.size)
                                     / data.sum()),
        'background_offset_sigma': float(
            (np.median(level) - np.median(data[sky])) / SIGMA),
        'seconds': seconds,
        'peak_memory_gb': peak_gb,
    }


def run_child(size, debias, upsample, weights='default'):
    """Run `measure` in a fresh interpreter (its own peak memory)."""
    template = ('import json, sys; sys.path.insert(0, {path!r}); '
                'import bench_wide_field as b; '
                'print(json.dumps(b.measure({size}, {debias}, {upsample}, '
                '{weights!r})))')
    code = template.format(path=str(Path(__file__).parent), size=size,
                           debias=debias, upsample=upsample, weights=weights)
    done = subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[128, 512, 2048, 4096])
    parser.add_argument('--upsample', type=int, nargs='+', default=[1, 2],
                        help='super-resolution factors (fields of up to '
                        '2048 pixels for factors above 1)')
    parser.add_argument('--weights', default='default',
                        help='registry name or checkpoint of the network')
    parser.add_argument('--network-alone-up-to', type=int, default=2048,
                        help='also measure debias=False on fields up to '
                        'this size (default 2048)')
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_wide_field.json'))
    args = parser.parse_args(argv)

    from astrodeconv import __version__
    from astrodeconv.evaluation import write_report

    rows = []
    runs = []
    for size in args.sizes:
        for upsample in args.upsample:
            if upsample > 1 and size > 2048:
                continue
            runs.append((size, True, upsample))
            if size <= args.network_alone_up_to and upsample == 1:
                runs.append((size, False, upsample))
    for size, debias, upsample in runs:
        row = run_child(size, debias, upsample, args.weights)
        row['goal_met'] = bool(
            abs(row['flux_ratio'] - 1) <= GOAL_FLUX
            and abs(row['background_offset_sigma']) <= GOAL_BACKGROUND
            and (size < 4096 or row['peak_memory_gb'] <= GOAL_MEMORY_GB))
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        'benchmark': 'bench_wide_field',
        'astrodeconv_version': __version__,
        'machine': platform.machine(),
        'cpu_count': os.cpu_count(),
        'goal_flux': GOAL_FLUX,
        'goal_background_sigma': GOAL_BACKGROUND,
        'goal_memory_gb_4096': GOAL_MEMORY_GB,
        'rows': rows,
    }
    write_report(args.output, result, overwrite=True)
    return result


if __name__ == '__main__':
    main()
