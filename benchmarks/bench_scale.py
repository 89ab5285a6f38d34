# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Survey-scale runs: the catalogue mode on 1 and 2 Dask workers against a
plain loop, and the mosaic mode at several mosaic sizes.

Measured in one run, on synthetic data written to a temporary directory
(a TAN WCS, exponential galaxies and white noise):

* **Catalogue mode** (`astrodeconv.parallel.deconvolve_catalog`):
  ``--n-cutouts`` cutouts of ``--size`` pixels around catalogue positions
  in a mosaic, deconvolved with ``--method``, in chunks of
  ``--chunk-size``: a plain loop in this process (``workers=0``), on
  every core and on one FFT thread as a Dask worker computes, then a
  Dask LocalCluster with 1 and with 2 workers (one thread each), started
  before the clock (its start-up is reported apart). Cutouts per second,
  and the ratios 2 workers / 1 worker (goal >= 1.7) and 1 worker / plain
  loop on one thread (goal: within 10 %: the overhead of Dask).
* **Mosaic mode** (`astrodeconv.parallel.deconvolve_mosaic`): mosaics of
  ``--mosaic-sizes`` pixels on a side in tiles of ``--tile``, each run in
  a child process (``workers=0``): megapixels per second, the peak
  resident memory read from the operating system (it counts the touched
  pages of the memory-mapped input and output files) and the peak of the
  memory the run allocates (`tracemalloc`, which numpy reports to); goal:
  flat in the mosaic size, under 2 GB at 4096.

Run::

    python benchmarks/bench_scale.py [--n-cutouts 2000] [--size 64]
        [--mosaic-sizes 2048 4096 8192] [--tile 1024]
        [-o benchmarks/results/bench_scale.json] [--overwrite]
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrodeconv import __version__
from astrodeconv.evaluation import write_report
from astrodeconv.psf import make_gaussian_psf

GOAL_TWO_WORKERS = 1.7
GOAL_DASK_OVERHEAD = 0.10
GOAL_MEMORY_GB = 2.0
PSF_FWHM = 4.0          # pixels
PIXEL_SCALE = 0.2       # arcsec


def make_wcs(shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.2]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cdelt = [-PIXEL_SCALE / 3600, PIXEL_SCALE / 3600]
    wcs.wcs.cunit = ['deg', 'deg']
    wcs.wcs.set()
    return wcs


def write_mosaic(path, side, n_galaxies, seed=0, block=1024):
    """
    A synthetic mosaic written block by block (never whole in memory):
    exponential galaxies blurred by a Gaussian PSF, plus white noise.
    Returns the pixel positions of the galaxies.
    """
    rng = np.random.default_rng(seed)
    margin = 40
    x = rng.uniform(margin, side - margin, n_galaxies)
    y = rng.uniform(margin, side - margin, n_galaxies)
    flux = 10 ** rng.uniform(2, 3.5, n_galaxies)
    scale = rng.uniform(1.5, 4.0, n_galaxies)
    header = make_wcs((side, side)).to_header()
    header['BUNIT'] = 'nJy'
    hdu = fits.PrimaryHDU(data=np.zeros((8, 8), dtype=np.float32),
                          header=header)
    hdu.header['NAXIS1'] = side
    hdu.header['NAXIS2'] = side
    hdu.header.tofile(path, overwrite=True)
    data_bytes = -(-side * side * 4 // 2880) * 2880   # FITS 2880-byte blocks
    with open(path, 'rb+') as fh:
        fh.seek(len(hdu.header.tostring()) + data_bytes - 1)
        fh.write(b'\0')
    sigma_psf = PSF_FWHM / 2.3548
    with fits.open(path, mode='update', memmap=True) as hdul:
        data = hdul[0].data
        for y0 in range(0, side, block):
            for x0 in range(0, side, block):
                yy, xx = np.mgrid[y0:min(y0 + block, side),
                                  x0:min(x0 + block, side)]
                tile = rng.normal(0.0, 1.0, yy.shape)
                near = np.flatnonzero((x > x0 - 30) & (x < x0 + block + 30)
                                      & (y > y0 - 30) & (y < y0 + block + 30))
                for i in near:
                    r = np.hypot(xx - x[i], yy - y[i])
                    width = np.hypot(scale[i], sigma_psf)
                    tile += (flux[i] / (2 * np.pi * width ** 2)
                             * np.exp(-r / width))
                data[y0:y0 + yy.shape[0], x0:x0 + yy.shape[1]] = tile
        hdul.flush()
    return x, y


def bench_catalog(workdir, n_cutouts, size, method, chunk_size):
    from astrodeconv.parallel import deconvolve_catalog

    side = int(np.ceil(np.sqrt(n_cutouts) * size * 0.9))
    mosaic = workdir / 'catalog_mosaic.fits'
    x, y = write_mosaic(mosaic, side, n_cutouts)
    sky = make_wcs((side, side)).pixel_to_world(x, y)
    catalog = Table({'id': np.arange(n_cutouts), 'ra': sky.ra.deg,
                     'dec': sky.dec.deg})
    psf = make_gaussian_psf(PSF_FWHM, shape=(21, 21))
    out = {'n_cutouts': n_cutouts, 'size': size, 'method': method,
           'chunk_size': chunk_size, 'mosaic_side': side}
    from astrodeconv import conf

    for name, workers in (('loop', 0), ('loop_1_thread', 0), ('dask_1', 1),
                          ('dask_2', 2)):
        run = {}
        # a Dask worker computes on one thread; 'loop_1_thread' does the
        # same in this process, 'loop' uses every core (the default)
        threads = (conf.set_temp('fft_workers', 1)
                   if name == 'loop_1_thread' else contextlib.nullcontext())
        if workers:
            # the cluster is started before the clock (a one-off cost,
            # reported apart): the rate is that of a running cluster
            from distributed import LocalCluster

            start = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            run['cluster_start_seconds'] = time.perf_counter() - start
            where = {'scheduler': cluster.scheduler_address}
        else:
            cluster, where = None, {'workers': 0}
        try:
            start = time.perf_counter()
            with threads:
                result = deconvolve_catalog(
                    mosaic, catalog, workdir / f'cat_{name}', psf=psf,
                    method=method, size=size, chunk_size=chunk_size,
                    progress=False, **where)
            seconds = time.perf_counter() - start
        finally:
            if cluster is not None:
                cluster.close()
        run.update({'seconds': seconds,
                    'cutouts_per_second': n_cutouts / seconds,
                    'done': result.done, 'failed': result.failed})
        out[name] = run
    out['two_workers_over_one'] = (out['dask_1']['seconds']
                                   / out['dask_2']['seconds'])
    out['dask_1_over_loop'] = (out['dask_1']['seconds']
                               / out['loop_1_thread']['seconds'])
    out['dask_1_over_loop_all_cores'] = (out['dask_1']['seconds']
                                         / out['loop']['seconds'])
    out['two_workers_met'] = out['two_workers_over_one'] >= GOAL_TWO_WORKERS
    out['dask_overhead_met'] = (out['dask_1_over_loop']
                                <= 1 + GOAL_DASK_OVERHEAD)
    return out


_CHILD = '''
import json, resource, sys, time, tracemalloc
import numpy as np
from astrodeconv.parallel import deconvolve_mosaic
from astrodeconv.psf import make_gaussian_psf
tracemalloc.start()
start = time.perf_counter()
deconvolve_mosaic(sys.argv[1], sys.argv[2],
                  psf=make_gaussian_psf(float(sys.argv[3]), shape=(21, 21)),
                  method='tikhonov', tile=int(sys.argv[4]), workers=0,
                  progress=False)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
allocated = tracemalloc.get_traced_memory()[1]
print(json.dumps({'seconds': seconds, 'peak_bytes': peak,
                  'allocated_peak_bytes': allocated}))
'''


def bench_mosaic(workdir, sides, tile):
    out = {'tile': tile, 'runs': []}
    for side in sides:
        path = workdir / f'mosaic_{side}.fits'
        write_mosaic(path, side, n_galaxies=side * side // 20000)
        result = subprocess.run(
            [sys.executable, '-c', _CHILD, str(path),
             str(workdir / f'mosaic_{side}_out.fits'), str(PSF_FWHM),
             str(tile)], capture_output=True, text=True, check=True)
        run = json.loads(result.stdout.strip().splitlines()[-1])
        run.update({'side': side,
                    'megapixels_per_second': side * side / 1e6
                    / run['seconds'],
                    'peak_gb': run['peak_bytes'] / 1e9,
                    'allocated_peak_gb': run['allocated_peak_bytes'] / 1e9})
        out['runs'].append(run)
        path.unlink()
        (workdir / f'mosaic_{side}_out.fits').unlink()
    peaks = [run['peak_gb'] for run in out['runs']]
    out['memory_ratio_largest_smallest'] = peaks[-1] / peaks[0]
    allocated = [run['allocated_peak_gb'] for run in out['runs']]
    out['allocated_ratio_largest_smallest'] = allocated[-1] / allocated[0]
    out['memory_goal_met'] = bool(max(peaks) < GOAL_MEMORY_GB)
    return out


def table(report):
    cat = report['catalog']
    lines = [f"Catalogue mode, {cat['n_cutouts']} cutouts of "
             f"{cat['size']}x{cat['size']} ({cat['method']}):", '',
             '| run | seconds | cutouts/s |', '|---|---|---|']
    for name in ('loop', 'loop_1_thread', 'dask_1', 'dask_2'):
        lines.append(f"| {name} | {cat[name]['seconds']:.1f} | "
                     f"{cat[name]['cutouts_per_second']:.1f} |")
    lines += ['', 'Cluster start-up (not in the times above): ' + ', '.join(
        f"{cat[name]['cluster_start_seconds']:.1f} s ({name})"
        for name in ('dask_1', 'dask_2'))]
    lines += ['', f"2 workers / 1 worker: {cat['two_workers_over_one']:.2f}"
              f" (goal {GOAL_TWO_WORKERS}); 1 worker / one-thread loop: "
              f"{cat['dask_1_over_loop']:.2f} (goal <= "
              f"{1 + GOAL_DASK_OVERHEAD:.2f}); 1 worker / loop on every "
              f"core: {cat['dask_1_over_loop_all_cores']:.2f}", '',
              f"Mosaic mode, tiles of {report['mosaic']['tile']}:", '',
              '| side | seconds | Mpix/s | peak resident (GB) | '
              'peak allocated (GB) |', '|---|---|---|---|---|']
    for run in report['mosaic']['runs']:
        lines.append(f"| {run['side']} | {run['seconds']:.1f} | "
                     f"{run['megapixels_per_second']:.2f} | "
                     f"{run['peak_gb']:.2f} | "
                     f"{run['allocated_peak_gb']:.3f} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--n-cutouts', type=int, default=2000)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--chunk-size', type=int, default=100)
    parser.add_argument('--method', default='tikhonov')
    parser.add_argument('--mosaic-sizes', type=int, nargs='+',
                        default=[2048, 4096, 8192])
    parser.add_argument('--tile', type=int, default=1024)
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_scale.json'))
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    report = {'benchmark': 'bench_scale', 'version': __version__,
              'machine': platform.machine(), 'cpus': os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        report['catalog'] = bench_catalog(workdir, args.n_cutouts, args.size,
                                          args.method, args.chunk_size)
        report['mosaic'] = bench_mosaic(workdir, args.mosaic_sizes,
                                        args.tile)
    text = table(report)
    print(text)
    write_report(args.output, report, table=text, overwrite=args.overwrite)


if __name__ == '__main__':
    main()
