# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Generalisation of the deconvolution methods, one factor at a time.

Held-out sets are simulated with seeds never used in training. The first
row is drawn like the broad training set (`astrodeconv.training.
BROAD_RECIPE`, on the same grid); every other row differs from it in one
factor:

1. in distribution;
2. Moffat PSF with beta = 2.5, and with beta = 4.5;
3. Kolmogorov PSF;
4. seeing FWHM 1.3" (outside the training range);
5. peak S/N 0.3 and 10 times the training range;
6. x2 and x4 super-resolution;
7. 1024 x 1024 sparse fields holding several galaxies and stars;
8. crowded crops of irregular and clumpy galaxies on a x4 grid.

Every method runs as a user would call it:

* Tikhonov at its best lam (an oracle: per image the lam of a log grid
  that minimises the NMSE against the truth);
* Richardson-Lucy at its best iteration (oracle, per image);
* every registered learned model with packaged weights,
  `~astrodeconv.deconvolution.LearnedDeconvolver` with its defaults;
* every registered Gaussian denoiser through
  `~astrodeconv.deconvolution.PnPDeconvolver` with its defaults.

Scores: median NMSE, median SSIM, median |total flux error| (against
the observed flux, and against the true flux, which also holds the noise
of the data) and mean hallucination rate. Writes a JSON file and a
Markdown table::

    python benchmarks/bench_generalization.py [--n-images 64]
        [--rows in_distribution,kolmogorov] [-o results/...json]

Also times the plug-and-play method against one pass of its network
(goal: at most 10 passes per image and 10 times the time of one pass).

Goal: the default method at most 0.7 times the best-lam Tikhonov median
NMSE and below the best Richardson-Lucy on every row, with a higher median
SSIM, total flux within 2 %, and no row where a shipped model is worse
than best-lam Tikhonov.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from astrodeconv import __version__
from astrodeconv.datasets import degrade_to_ground, simulate_galaxies
from astrodeconv.deconvolution import (LearnedDeconvolver, PnPDeconvolver,
                                       RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver)
from astrodeconv.deconvolution.factory import default_method
from astrodeconv.denoisers import get_weights, list_weights
from astrodeconv.evaluation import score_images, write_report
from astrodeconv.metrics import nmse
from astrodeconv.training.recipe import BROAD_RECIPE

#: Simulation seed of the held-out sets (never used in training).
SEED = 20261130
LAM_GRID = np.logspace(-5, 0, 16)
RL_ITERATIONS = (5, 10, 20, 40, 80, 160)
STAMP = 128
FIELD = 1024


def _base_observation():
    """The degradation options of the training recipe (one grid)."""
    keys = ('psf_fwhm', 'psf_model', 'moffat_beta', 'psf_ellipticity',
            'peak_snr')
    return {key: BROAD_RECIPE[key] for key in keys}


def _scaled(pair, factor):
    return (pair[0] * factor, pair[1] * factor)


def row_specs():
    """The rows: name -> (label, morphology, observation options, k)."""
    base = _base_observation()
    snr = base['peak_snr']
    morph = BROAD_RECIPE['morphology']
    return {
        'in_distribution': ('in distribution', morph, base, 1),
        'moffat_2.5': ('Moffat beta = 2.5', morph,
                       dict(base, psf_model='moffat', moffat_beta=2.5), 1),
        'moffat_4.5': ('Moffat beta = 4.5', morph,
                       dict(base, psf_model='moffat', moffat_beta=4.5), 1),
        'kolmogorov': ('Kolmogorov PSF', morph,
                       dict(base, psf_model='kolmogorov'), 1),
        'fwhm_1.3': ('FWHM 1.3" (outside training)', morph,
                     dict(base, psf_fwhm=1.3), 1),
        'snr_x0.3': ('peak S/N x0.3', morph,
                     dict(base, peak_snr=_scaled(snr, 0.3)), 1),
        'snr_x10': ('peak S/N x10', morph,
                    dict(base, peak_snr=_scaled(snr, 10.0)), 1),
        'upsample_2': ('x2 super-resolution', morph, base, 2),
        'upsample_4': ('x4 super-resolution', morph, base, 4),
        'sparse_field': (f'{FIELD}x{FIELD} sparse field', morph, base, 1),
        'crowded_x4': ('crowded crops, x4 grid', 'crowded', base, 4),
    }


# -- data ------------------------------------------------------------------
def _stamps(n, morphology, observation, k, seed):
    truth, _ = simulate_galaxies(n, stamp_size=STAMP, seed=seed,
                                 morphology=morphology)
    obs = degrade_to_ground(truth, upsample=k, seed=seed + 1, **observation)
    return truth.astype(float), obs.observed.astype(float), obs.psf


def _sparse_fields(n_fields, morphology, observation, seed):
    """Fields with a dozen galaxies and a few stars on an empty sky."""
    rng = np.random.default_rng(seed)
    n_gal, n_star = 12, 6
    galaxies, _ = simulate_galaxies(n_fields * n_gal, stamp_size=STAMP,
                                    seed=seed, morphology=morphology)
    yy, xx = np.mgrid[:9, :9] - 4.0
    star = np.exp(-(yy ** 2 + xx ** 2) / (2 * 0.85 ** 2))
    star /= star.sum()
    truth = np.zeros((n_fields, FIELD, FIELD))
    centres = []
    for f in range(n_fields):
        spots = []
        for g in range(n_gal):
            y0, x0 = rng.integers(0, FIELD - STAMP, 2)
            truth[f, y0:y0 + STAMP, x0:x0 + STAMP] += galaxies[f * n_gal + g]
            spots.append((y0 + STAMP // 2, x0 + STAMP // 2))
        for _ in range(n_star):
            y0, x0 = rng.integers(8, FIELD - 17, 2)
            flux = galaxies[f * n_gal].sum() * 10 ** rng.uniform(-1.5, 0.5)
            truth[f, y0:y0 + 9, x0:x0 + 9] += flux * star
        centres.append(spots)
    # the noise: the median galaxy at a peak S/N of 20 (fixed for a field;
    # galaxies and stars of the field span a wide range of S/N around it)
    clean = degrade_to_ground(truth, seed=seed + 1,
                              **dict(observation, peak_snr=None, noise=0.0))
    peaks = [np.median([clean.noiseless[f, max(0, y - 40):y + 40,
                                        max(0, x - 40):x + 40].max()
                        for y, x in centres[f]]) for f in range(n_fields)]
    sigma = np.asarray(peaks) / 20.0
    obs = degrade_to_ground(truth, seed=seed + 1,
                            **dict(observation, peak_snr=None, noise=sigma))
    return truth, obs.observed.astype(float), obs.psf


def make_row(name, n_images, seed):
    label, morph, observation, k = row_specs()[name]
    if name == 'sparse_field':
        return _sparse_fields(max(1, n_images // 32), morph, observation,
                              seed)
    return _stamps(n_images, morph, observation, k, seed)


# -- methods ---------------------------------------------------------------
def _oracle(candidates, truth):
    errors = np.stack([nmse(c, truth) for c in candidates])
    best = np.argmin(errors, axis=0)
    return np.stack([candidates[b][i] for i, b in enumerate(best)])


def _as_array(result):
    return np.asarray(getattr(result, 'data', result), dtype=float)


def shipped_models():
    """Packaged weights: Tikhonov-output networks and Gaussian denoisers."""
    learned, gaussian = [], []
    for row in list_weights():
        if not row['packaged']:
            continue
        metadata = get_weights(row['name']).metadata or {}
        task = metadata.get('task', 'tikhonov')
        (gaussian if task == 'gaussian-denoising' else learned).append(
            row['name'])
    return learned, gaussian


def run_methods(truth, observed, psf, k, device, only=None):
    learned, gaussian = shipped_models()
    outputs, timings = {}, {}

    def timed(key, func):
        if only is not None and key not in only:
            return
        start = time.perf_counter()
        outputs[key] = func()
        timings[key] = time.perf_counter() - start

    timed('tikhonov_best', lambda: _oracle(
        [_as_array(TikhonovDeconvolver(lam=lam, upsample=k)(observed,
                                                            psf=psf))
         for lam in LAM_GRID], truth))
    timed('richardson_lucy_best', lambda: _oracle(
        [_as_array(RichardsonLucyDeconvolver(n_iter=n, upsample=k)(
            observed, psf=psf)) for n in RL_ITERATIONS], truth))
    for name in learned:
        timed(f'learned:{name}', lambda: _as_array(LearnedDeconvolver(
            name, upsample=k, device=device)(observed, psf=psf)))
    for name in gaussian:
        timed(f'pnp:{name}', lambda: _as_array(PnPDeconvolver(
            name, upsample=k, device=device)(observed, psf=psf)))
    return outputs, timings


def score(images, truth, observed):
    """
    The scores of one method on one row.

    ``flux_error`` compares the total flux with the truth's, so it holds
    the noise of the data (the same for every flux-conserving method);
    ``flux_conservation`` compares it with the observed total, the flux
    the method was given.
    """
    scores = score_images(images, truth,
                          metrics=('nmse', 'ssim', 'hallucination'))
    total = images.sum(axis=(-2, -1))
    flux = np.abs(total / truth.sum(axis=(-2, -1)) - 1)
    kept = np.abs(total / observed.sum(axis=(-2, -1)) - 1)
    return {'nmse_median': float(np.median(scores['nmse'])),
            'ssim_median': float(np.median(scores['ssim'])),
            'flux_error_median': float(np.median(flux)),
            'flux_conservation_median': float(np.median(kept)),
            'hallucination_mean': float(np.mean(scores['hallucination']))}


def check_goals(summary, default_key):
    tik = summary['tikhonov_best']
    rl = summary['richardson_lucy_best']
    best = summary[default_key]
    shipped = [key for key in summary if ':' in key]
    goals = {
        'default': default_key,
        'nmse_vs_best_tikhonov': best['nmse_median'] / tik['nmse_median'],
        'nmse_at_most_0.7_tikhonov': best['nmse_median']
        <= 0.7 * tik['nmse_median'],
        'nmse_below_richardson_lucy': best['nmse_median']
        < rl['nmse_median'],
        'ssim_above_both': best['ssim_median'] > max(tik['ssim_median'],
                                                     rl['ssim_median']),
        'flux_within_2_percent': best['flux_conservation_median'] <= 0.02,
        'models_worse_than_tikhonov': [
            key for key in shipped
            if summary[key]['nmse_median'] > tik['nmse_median']]}
    goals['met'] = bool(goals['nmse_at_most_0.7_tikhonov']
                        and goals['nmse_below_richardson_lucy']
                        and goals['ssim_above_both']
                        and goals['flux_within_2_percent']
                        and not goals['models_worse_than_tikhonov'])
    return goals


def _flux_cell(s):
    kept = s.get('flux_conservation_median', float('nan'))
    return (f"{kept:.4f} / {s['flux_error_median']:.3f} / "
            f"{s['hallucination_mean']:.2f}")


def markdown(report):
    rows = report['rows']
    keys = []
    for entry in rows.values():
        keys += [k for k in entry['summary'] if k not in keys]
    short = {'tikhonov_best': 'Tikhonov (best lam)',
             'richardson_lucy_best': 'RL (best iteration)'}
    lines = ['Median NMSE (median SSIM); the default method is '
             f"``{report['default']}``.", '',
             '| row | ' + ' | '.join(short.get(k, k) for k in keys)
             + ' | default / Tikhonov | goals met |',
             '|---' * (len(keys) + 3) + '|']
    for entry in rows.values():
        cells = []
        for key in keys:
            s = entry['summary'].get(key)
            cells.append('' if s is None else
                         f"{s['nmse_median']:.3f} ({s['ssim_median']:.2f})")
        goals = entry['goals']
        lines.append(f"| {entry['label']} | " + ' | '.join(cells)
                     + f" | {goals['nmse_vs_best_tikhonov']:.2f} | "
                     f"{'yes' if goals['met'] else 'no'} |")
    lines += ['', 'Median |total flux / observed flux - 1|, median |total '
              'flux / true flux - 1| and mean hallucination rate:',
              '', '| row | ' + ' | '.join(short.get(k, k) for k in keys)
              + ' |', '|---' * (len(keys) + 1) + '|']
    for entry in rows.values():
        cells = [_flux_cell(entry['summary'][k])
                 if k in entry['summary'] else '' for k in keys]
        lines.append(f"| {entry['label']} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def pnp_speed(device, n_images=32, size=128, repeats=3):
    """
    Time of the plug-and-play method against one pass of its network.

    On ``n_images`` stamps of ``size**2`` (same grid): the best of
    ``repeats`` runs of `PnPDeconvolver` (with and without its final
    debiasing) and of one forward pass of its denoiser on the same batch.
    """
    import torch

    from astrodeconv.utils._torch import to_tensor

    truth, observed, psf = _stamps(n_images, 'bulge_disk',
                                   _base_observation(), 1, SEED - 1)
    pnp = PnPDeconvolver(device=device, batch_size=n_images)
    plain = PnPDeconvolver(device=device, batch_size=n_images, debias=False)
    x = to_tensor(observed.astype(np.float32) / observed.max(),
                  pnp.device)
    sigma = torch.full((n_images,), 0.01, device=pnp.device)
    one_pass, total, no_debias = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.inference_mode():
            pnp.network(x, sigma)
        one_pass.append(time.perf_counter() - start)
        start = time.perf_counter()
        pnp(observed, psf=psf)
        total.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain(observed, psf=psf)
        no_debias.append(time.perf_counter() - start)
    return {'n_images': n_images, 'image_size': size,
            'n_iter': pnp.n_iter, 'denoiser': pnp.denoiser_name,
            'one_pass_s': min(one_pass), 'pnp_s': min(total),
            'ratio': min(total) / min(one_pass),
            'pnp_no_debias_s': min(no_debias),
            'ratio_no_debias': min(no_debias) / min(one_pass),
            'ms_per_image': 1e3 * min(total) / n_images}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--n-images', type=int, default=64,
                        help='stamps per row (sparse fields: n / 32)')
    parser.add_argument('--seed', type=int, default=SEED)
    parser.add_argument('--rows', default=None,
                        help='comma-separated subset of the rows')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--methods', default=None,
                        help='comma-separated subset of the methods, e.g. '
                        "'learned:NAME' (default: all)")
    parser.add_argument('--merge', default=None, metavar='JSON',
                        help='add the results to those of an earlier run '
                        '(same seed and sizes) and write them together')
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_generalization.json'))
    args = parser.parse_args(argv)
    names = list(row_specs()) if args.rows is None else args.rows.split(',')
    only = None if args.methods is None else set(args.methods.split(','))
    earlier = None
    if args.merge is not None:
        import json

        earlier = json.loads(Path(args.merge).read_text())
        if earlier['seed'] != args.seed or (
                earlier['n_images'] != args.n_images):
            parser.error('--merge needs a run with the same --seed and '
                         '--n-images')
    default = default_method()
    report = {'benchmark': 'bench_generalization',
              'astrodeconv_version': __version__, 'seed': args.seed,
              'n_images': args.n_images, 'lam_grid': LAM_GRID.tolist(),
              'rl_iterations': list(RL_ITERATIONS),
              'recipe': {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in BROAD_RECIPE.items()},
              'default': default, 'rows': {}}
    order = list(row_specs())
    for name in names:
        label, _, _, k = row_specs()[name]
        # a row's seed depends on the row, not on which rows are run
        truth, observed, psf = make_row(name, args.n_images,
                                        args.seed + 100 * order.index(name))
        outputs, timings = run_methods(truth, observed, psf, k, args.device,
                                       only)
        summary = {key: score(images, truth, observed)
                   for key, images in outputs.items()}
        if earlier is not None and name in earlier['rows']:
            old = earlier['rows'][name]
            summary = dict(old['summary'], **summary)
            timings = dict(old['timings_s'], **timings)
        report['rows'][name] = {
            'label': label, 'upsample': k, 'n_images': len(truth),
            'image_size': int(truth.shape[-1]), 'summary': summary,
            'goals': check_goals(summary, default), 'timings_s': timings}
        print(f'{label}: ' + ', '.join(
            f"{key} {s['nmse_median']:.3f}" for key, s in summary.items()),
            flush=True)
    report['all_goals_met'] = all(r['goals']['met']
                                  for r in report['rows'].values())
    if earlier is not None and only is not None and not any(
            m.startswith('pnp:') for m in only):
        report['pnp_speed'] = earlier.get('pnp_speed')
    else:
        report['pnp_speed'] = pnp_speed(args.device)
    print('plug-and-play speed:', report['pnp_speed'], flush=True)
    table = markdown(report)
    write_report(args.output, report, table=table, overwrite=True)
    print(table)
    return report


if __name__ == '__main__':
    main()
