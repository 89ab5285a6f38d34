# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Quality of the default learned model against classical deconvolution.

On a held-out simulated test set (a simulation seed never used in training,
at least 200 galaxies, observed on the same grid and on a 4 times coarser
grid), compares the median NMSE and SSIM of

* Tikhonov at the reference weight lam = 9e-3,
* Tikhonov at its best lam (an oracle: for every image the lam of a
  log-spaced grid that minimises the NMSE against the truth),
* Richardson-Lucy at its best iteration (oracle, per image),
* the default learned model without debiasing
  (``LearnedDeconvolver(debias=False)``).

Writes a JSON file and a Markdown table. Run::

    python benchmarks/bench_quality.py [--n-galaxies 200] [--seed 20261125]
        [--weights default] [-o benchmarks/results/bench_quality.json]

Goal: the default model's median NMSE at most 0.7 times the best
Tikhonov's and below Richardson-Lucy's, with a higher median SSIM than
both.
"""

import argparse
import time

import numpy as np

from _heldout import (add_heldout_arguments, heldout_groups, report_header,
                      write_results)

from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver)
from astrodeconv.evaluation import score_images
from astrodeconv.metrics import nmse

LAM_GRID = np.logspace(-5, 0, 16)
RL_ITERATIONS = (5, 10, 20, 30, 50, 75, 100, 150)


def _scores(images, truth):
    scores = score_images(images, truth, metrics=('nmse', 'ssim'))
    return scores['nmse'], scores['ssim']


def _oracle(candidates, truth):
    """Per image, the candidate with the lowest NMSE, and its scores."""
    errors = np.stack([nmse(c, truth) for c in candidates])
    best = np.argmin(errors, axis=0)
    chosen = np.stack([candidates[b][i] for i, b in enumerate(best)])
    return chosen, best


def evaluate_group(data, weights, device):
    k = data.truth.shape[-1] // data.observed.shape[-1]
    truth = data.truth.astype(float)
    observed = data.observed.astype(float)
    psf = data.psf.astype(float)
    out = {'upsample': int(k), 'n_images': int(len(truth))}
    timings = {}

    start = time.perf_counter()
    tik = TikhonovDeconvolver(lam=9e-3, upsample=k)(observed, psf=psf)
    timings['tikhonov'] = time.perf_counter() - start
    out['tikhonov_9e-3'] = _scores(tik, truth)

    start = time.perf_counter()
    candidates = [TikhonovDeconvolver(lam=lam, upsample=k)(observed,
                                                           psf=psf)
                  for lam in LAM_GRID]
    best_tik, best_lam = _oracle(candidates, truth)
    timings['tikhonov_best'] = time.perf_counter() - start
    out['tikhonov_best'] = _scores(best_tik, truth)
    out['tikhonov_best_lam_median'] = float(np.median(LAM_GRID[best_lam]))

    start = time.perf_counter()
    candidates = [RichardsonLucyDeconvolver(n_iter=n, upsample=k)(
        observed, psf=psf) for n in RL_ITERATIONS]
    best_rl, best_iter = _oracle(candidates, truth)
    timings['richardson_lucy_best'] = time.perf_counter() - start
    out['richardson_lucy_best'] = _scores(best_rl, truth)
    out['richardson_lucy_best_iter_median'] = float(np.median(
        np.asarray(RL_ITERATIONS)[best_iter]))

    start = time.perf_counter()
    # the network alone (the debiasing has its own benchmark)
    learned = LearnedDeconvolver(weights, upsample=k, device=device,
                                 debias=False)
    net = learned(observed, psf=psf)
    timings['learned'] = time.perf_counter() - start
    out['learned'] = _scores(net, truth)
    out['timings_s'] = timings
    return out


def summarise(result):
    """Medians and the goal check of one group."""
    rows = {}
    for key in ('tikhonov_9e-3', 'tikhonov_best', 'richardson_lucy_best',
                'learned'):
        nmse_values, ssim_values = result[key]
        rows[key] = {'nmse_median': float(np.median(nmse_values)),
                     'ssim_median': float(np.median(ssim_values))}
    tik, rl, net = (rows['tikhonov_best'], rows['richardson_lucy_best'],
                    rows['learned'])
    goals = {
        'nmse_vs_best_tikhonov': net['nmse_median'] / tik['nmse_median'],
        'nmse_at_most_0.7_best_tikhonov':
            net['nmse_median'] <= 0.7 * tik['nmse_median'],
        'nmse_below_richardson_lucy': net['nmse_median'] < rl['nmse_median'],
        'ssim_above_both': net['ssim_median'] > max(tik['ssim_median'],
                                                    rl['ssim_median'])}
    goals['met'] = bool(goals['nmse_at_most_0.7_best_tikhonov']
                        and goals['nmse_below_richardson_lucy']
                        and goals['ssim_above_both'])
    return rows, goals


LABELS = {'tikhonov_9e-3': 'Tikhonov, lam = 9e-3',
          'tikhonov_best': 'Tikhonov, best lam (oracle)',
          'richardson_lucy_best': 'Richardson-Lucy, best iteration (oracle)',
          'learned': 'default learned model'}


def markdown(report):
    lines = []
    for group, entry in report['groups'].items():
        lines.append(f"**{group}** (observed grid {entry['upsample']}x "
                     f"coarser, {entry['n_images']} galaxies)")
        lines.append('')
        lines.append('| method | median NMSE | median SSIM |')
        lines.append('|---|---|---|')
        for key, row in entry['summary'].items():
            lines.append(f"| {LABELS[key]} | {row['nmse_median']:.4f} | "
                         f"{row['ssim_median']:.4f} |")
        goals = entry['goals']
        lines.append('')
        lines.append(f"NMSE ratio learned / best Tikhonov: "
                     f"{goals['nmse_vs_best_tikhonov']:.3f}; goals met: "
                     f"{goals['met']}")
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    add_heldout_arguments(parser, 'bench_quality.json')
    args = parser.parse_args(argv)
    report = dict(report_header('bench_quality', args),
                  lam_grid=LAM_GRID.tolist(),
                  rl_iterations=list(RL_ITERATIONS), groups={})
    for group, data in heldout_groups(args):
        result = evaluate_group(data, args.weights, args.device)
        rows, goals = summarise(result)
        report['groups'][group] = {
            'upsample': result['upsample'], 'n_images': result['n_images'],
            'summary': rows, 'goals': goals,
            'tikhonov_best_lam_median': result['tikhonov_best_lam_median'],
            'richardson_lucy_best_iter_median':
                result['richardson_lucy_best_iter_median'],
            'timings_s': result['timings_s']}
    report['all_goals_met'] = all(g['goals']['met']
                                  for g in report['groups'].values())
    write_results(report, args.output, markdown(report))
    return report


if __name__ == '__main__':
    main()
