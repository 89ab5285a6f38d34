# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Do two versions of astrodeconv give the same outputs?

A regression check for refactors that must not change results: every
method runs on small versions of the inputs of ``bench_generalization``
(simulated stamps on the training grid, a Kolmogorov PSF, x4 super-
resolution and crowded x4 crops), ``bench_multiband`` (the shared
reference sample and a simulated batch) and ``bench_scale`` (a catalogue
and a mosaic run on a small synthetic mosaic). The outputs are saved in an
``.npz`` file; a second run compares against it and writes a JSON report
of the largest relative difference per output::

    cd /tmp && PYTHONPATH=/path/to/old/checkout \\
        python /path/to/benchmarks/bench_identity.py --save old.npz
    python benchmarks/bench_identity.py --compare old.npz \\
        -o benchmarks/results/identity.json

Only public, long-standing names are called, so both versions run the
same script. Goal (issue 18): every output within 1e-12 relative of the
old one, except where a change of behaviour is intended.
"""

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Relative difference below which two outputs count as identical.
GOAL = 1e-12


def _array(result):
    image = getattr(result, 'image', result)
    return np.asarray(getattr(image, 'data', image), dtype=float)


def single_image_outputs():
    from astrodeconv.deconvolution import (LearnedDeconvolver,
                                           PnPDeconvolver,
                                           RichardsonLucyDeconvolver,
                                           TikhonovDeconvolver,
                                           WienerDeconvolver)
    from bench_generalization import make_row, shipped_models

    learned, gaussian = shipped_models()
    rows = {'in_distribution': 4, 'kolmogorov': 2, 'upsample_4': 2,
            'crowded_x4': 2}
    ks = {'in_distribution': 1, 'kolmogorov': 1, 'upsample_4': 4,
          'crowded_x4': 4}
    out = {}
    for row, n in rows.items():
        _, observed, psf = make_row(row, n, seed=20261208)
        k = ks[row]
        methods = {
            'tikhonov': TikhonovDeconvolver(lam=1e-3, upsample=k),
            'tikhonov_sure': TikhonovDeconvolver(lam='sure', upsample=k),
            'wiener': WienerDeconvolver(upsample=k),
            'richardson_lucy': RichardsonLucyDeconvolver(n_iter=20,
                                                         upsample=k),
        }
        for name in learned:
            methods[f'learned:{name}'] = LearnedDeconvolver(
                name, upsample=k, device='cpu')
        for name in gaussian:
            methods[f'pnp:{name}'] = PnPDeconvolver(name, upsample=k,
                                                    device='cpu')
        for name, deconvolver in methods.items():
            print(f'  {row} {name}', flush=True)
            out[f'{row}/{name}'] = _array(deconvolver(observed, psf=psf))
    return out


def multiband_outputs():
    from astrodeconv.datasets import (load_reference_sample,
                                      simulate_multiband)
    from astrodeconv.multiband import MultiBandDeconvolver
    from bench_multiband import SAMPLE

    out = {}
    sample = load_reference_sample(SAMPLE)
    result = MultiBandDeconvolver(noise='measure').deconvolve(
        sample.bandset, sed_weights=sample.sed_weights)
    out['multiband/sample'] = np.stack([_array(im) for im in result.images])
    sim = simulate_multiband(4, seed=20261130)
    bands = [sim.data[:, b] for b in range(sim.data.shape[1])]
    result = MultiBandDeconvolver().deconvolve(
        bands, sim.broad_data, sed_weights=sim.sed_weights,
        psfs=list(sim.psfs), broad_psf=sim.broad_psf,
        errors=list(sim.errors), broad_error=sim.broad_error)
    out['multiband/batch'] = np.stack([_array(im) for im in result.images])
    return out


def scale_outputs(workdir):
    from astropy.io import fits
    from astropy.table import Table

    from astrodeconv.parallel import deconvolve_catalog, deconvolve_mosaic
    from astrodeconv.psf import make_gaussian_psf
    from bench_scale import PSF_FWHM, make_wcs, write_mosaic

    out = {}
    side = 384
    mosaic = workdir / 'mosaic.fits'
    x, y = write_mosaic(mosaic, side, 24, seed=3)
    psf = make_gaussian_psf(PSF_FWHM, shape=(21, 21))
    sky = make_wcs((side, side)).pixel_to_world(x, y)
    catalog = Table({'id': np.arange(len(x)), 'ra': sky.ra.deg,
                     'dec': sky.dec.deg})
    deconvolve_catalog(mosaic, catalog, workdir / 'catalog', psf=psf,
                       method='tikhonov', size=48, chunk_size=8,
                       workers=0, progress=False)
    stamps = []
    for chunk in sorted((workdir / 'catalog').glob('chunk_*.fits')):
        with fits.open(chunk) as hdul:
            stamps += [np.asarray(h.data, dtype=float) for h in hdul[1:]
                       if h.is_image and h.data is not None
                       and h.data.ndim == 2]
    out['scale/catalog'] = np.stack(stamps)
    for method in ('tikhonov', 'learned'):
        target = workdir / f'mosaic_{method}.fits'
        deconvolve_mosaic(mosaic, target, psf=psf, method=method, tile=160,
                          workers=0, progress=False)
        with fits.open(target) as hdul:
            out[f'scale/mosaic_{method}'] = np.asarray(hdul[0].data
                                                       if hdul[0].data
                                                       is not None else
                                                       hdul[1].data,
                                                       dtype=float)
    return out


def compute():
    warnings.simplefilter('ignore')
    out = {}
    print('single-image methods', flush=True)
    out.update(single_image_outputs())
    print('multi-band', flush=True)
    out.update(multiband_outputs())
    print('catalogue and mosaic', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out.update(scale_outputs(Path(tmp)))
    return out


def compare(new, old):
    report = {}
    for key in sorted(set(new) | set(old)):
        if key not in old:
            # a method the old version did not have: nothing to compare
            report[key] = {'status': 'new', 'met': True}
            continue
        if key not in new:
            report[key] = {'status': 'missing in new'}
            continue
        a, b = new[key], old[key]
        if a.shape != b.shape:
            report[key] = {'status': f'shape {a.shape} vs {b.shape}'}
            continue
        scale = np.abs(b).max() or 1.0
        diff = float(np.nanmax(np.abs(a - b)) / scale) if a.size else 0.0
        same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        identical = bool(np.array_equal(a, b, equal_nan=True))
        report[key] = {'max_relative_difference': diff,
                       'identical': identical,
                       'met': bool(diff <= GOAL and same_nan)}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument('--save', type=Path, help='write the outputs here')
    action.add_argument('--compare', type=Path,
                        help='compare against outputs saved earlier')
    parser.add_argument('-o', '--output', type=Path,
                        help='JSON report of the comparison')
    args = parser.parse_args(argv)
    outputs = compute()
    if args.save:
        np.savez_compressed(args.save, **outputs)
        print(f'wrote {len(outputs)} outputs to {args.save}')
        return 0
    with np.load(args.compare) as saved:
        old = {key: saved[key] for key in saved.files}
    report = compare(outputs, old)
    width = max(len(k) for k in report)
    for key, row in report.items():
        print(f'{key:<{width}}  {row}')
    failed = [k for k, row in report.items() if not row.get('met')]
    print(f'{len(report) - len(failed)} of {len(report)} outputs within '
          f'{GOAL:g} relative; differing: {", ".join(failed) or "none"}')
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({'goal': GOAL, 'outputs': report},
                                          indent=2))
    return 0 if not failed else 1


if __name__ == '__main__':
    sys.exit(main())
