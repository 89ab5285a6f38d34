"""Tests of astrodeconv.evaluation: scores, summaries and reports."""

import json

import numpy as np
import pytest

from astrodeconv import metrics
from astrodeconv.datasets import degrade_to_ground
from astrodeconv.deconvolution import TikhonovDeconvolver, WienerDeconvolver
from astrodeconv.evaluation import (ClumpDetection, EvaluationReport,
                                    clump_statistics, evaluate_methods,
                                    score_images, summarize_by_magnitude,
                                    write_report)
from astrodeconv.utils._optional_deps import HAS_MATPLOTLIB


def _blob(x0, y0, width=1.5, size=48):
    y, x = np.mgrid[:size, :size]
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * width ** 2))


@pytest.fixture(scope='module')
def stack():
    """Truth with clumps, and an estimate losing flux and adding a clump."""
    base = 0.05 * _blob(24, 24, width=12.0)
    truth = np.stack([base + _blob(15, 15), base + _blob(30, 20),
                      np.zeros_like(base)])
    estimate = truth.copy()
    estimate[0] = base + 0.6 * _blob(15, 15)
    estimate[2] = base
    estimate[1] += _blob(36, 36)
    rng = np.random.default_rng(3)
    truth = truth + rng.normal(0, 0.005, truth.shape)
    estimate = estimate + rng.normal(0, 0.005, truth.shape)
    return estimate, truth


def test_clump_detection_defaults_and_validation():
    clumps = ClumpDetection()
    assert clumps.to_dict() == {'scale': 3, 'threshold': 5.0,
                                'min_pixels': 3, 'match_radius': 2.0}
    assert ClumpDetection(threshold=5) == clumps
    assert ClumpDetection(threshold=3.0) != clumps
    assert 'match_radius' not in clumps.detection_kwargs()
    with pytest.raises(ValueError, match='threshold must be a positive'):
        ClumpDetection(threshold=0)
    with pytest.raises(ValueError, match='match_radius must be a positive'):
        ClumpDetection(match_radius=float('nan'))
    with pytest.raises(ValueError, match='scale'):
        ClumpDetection(scale=0)


def test_score_images_equals_the_metrics(stack):
    estimate, truth = stack
    clumps = ClumpDetection(threshold=4.0, match_radius=3.0)
    scores = score_images(estimate, truth, clumps=clumps)
    assert list(scores) == ['nmse', 'psnr', 'ssim', 'clump_flux_error',
                            'hallucination', 'completeness']
    np.testing.assert_array_equal(scores['nmse'],
                                  metrics.nmse(estimate, truth))
    np.testing.assert_array_equal(
        scores['ssim'], metrics.ssim(estimate, truth,
                                     data_range='reference'))
    np.testing.assert_array_equal(
        scores['clump_flux_error'],
        metrics.clump_flux_error(estimate, truth, scale=3, threshold=4.0,
                                 min_pixels=3))
    np.testing.assert_array_equal(
        scores['hallucination'],
        metrics.hallucination_rate(estimate, truth, scale=3, threshold=4.0,
                                   min_pixels=3, match_radius=3.0))
    # what the stack was built to show
    assert scores['clump_flux_error'][0] < -0.2
    assert np.isnan(scores['clump_flux_error'][2])
    assert scores['hallucination'][1] == pytest.approx(0.5)
    assert scores['completeness'].tolist() == [1.0, 1.0, 1.0]


def test_score_images_threshold_is_used(stack):
    estimate, truth = stack
    low = score_images(estimate, truth, metrics='hallucination')
    # a detection level above every clump finds nothing to hallucinate
    high = score_images(estimate, truth, metrics=['hallucination'],
                        clumps=ClumpDetection(threshold=1e6))
    assert low['hallucination'][1] > 0
    assert high['hallucination'].tolist() == [0.0, 0.0, 0.0]


def test_score_images_chi2(observed, truth, psf):
    image = TikhonovDeconvolver()(observed, psf=psf)
    scores = score_images(image, truth, observed=observed, psf=psf,
                          error=0.01, metrics=('chi2', 'nmse'))
    assert float(scores['chi2']) == pytest.approx(
        metrics.reduced_chi2(image, observed, psf, error=0.01), rel=1e-12)
    with pytest.raises(ValueError, match='chi2 unless observed and psf'):
        score_images(image, truth, metrics=['chi2'])
    with pytest.raises(ValueError, match='metrics must be one of'):
        score_images(image, truth, metrics=['mse'])
    with pytest.raises(TypeError, match='clumps must be None or a '
                       'ClumpDetection'):
        score_images(image, truth, clumps={'threshold': 3})


def test_clump_statistics(stack):
    estimate, truth = stack
    stats = clump_statistics(estimate, truth)
    flux = metrics.clump_flux_error(estimate, truth, threshold=5.0)
    used = np.isfinite(flux)
    assert stats['n_with_clumps'] == int(used.sum()) == 2
    assert stats['clump_flux_rel_error_median'] == pytest.approx(
        float(np.median(flux[used])))
    assert stats['clump_flux_abs_rel_error_median'] == pytest.approx(
        float(np.median(np.abs(flux[used]))))
    rate = metrics.hallucination_rate(estimate, truth, threshold=5.0)
    assert stats['hallucination_rate_mean'] == pytest.approx(np.mean(rate))
    assert stats['nmse_median'] == pytest.approx(
        np.median(metrics.nmse(estimate, truth)))


def test_summarize_by_magnitude():
    values = [1.0, 2.0, np.nan, 4.0, 8.0]
    mags = [20.5, 22.0, 22.5, 22.9, np.nan]
    out = summarize_by_magnitude(values, mags, mag_bins=[20, 21, 23, 24])
    assert out['median'] == 3.0 and out['mean'] == 3.75
    assert [(b['n'], b['median']) for b in out['by_magnitude']] == [
        (1, 1.0), (3, 3.0), (0, None)]
    assert out['by_magnitude'][1]['mag_min'] == 21.0
    nan = summarize_by_magnitude([np.nan], [20.5], mag_bins=[20, 21])
    assert np.isnan(nan['median'])
    with pytest.raises(ValueError, match='mag_bins must be at least two '
                       'increasing'):
        summarize_by_magnitude([1.0], [20.0], mag_bins=[21, 20])
    with pytest.raises(ValueError, match='magnitudes must have one value'):
        summarize_by_magnitude([1.0, 2.0], [20.0])


@pytest.fixture(scope='module')
def ground():
    rng = np.random.default_rng(0)
    truth = np.stack([_blob(16, 16, 3.0, 32) * a + _blob(10, 20, 1.0, 32)
                      for a in rng.uniform(2, 5, 3)])
    return truth, degrade_to_ground(truth, psf_fwhm=0.3, upsample=2,
                                    noise=0.01, seed=1)


def test_evaluate_methods_scores_each_method(ground):
    truth, obs = ground
    mags = np.array([21.0, 22.0, 30.0])
    summary, scores = evaluate_methods(
        obs.observed, truth, obs.psf, methods=['tikhonov', 'wiener'],
        error=obs.sigma, magnitudes=mags, mag_bins=[20, 21.5, 23])
    assert summary['n_images'] == 3 and summary['upsample'] == 2
    # the same numbers as running the deconvolvers by hand
    psf = obs.psf.astype(float)
    error = np.broadcast_to(obs.sigma[:, None, None], obs.observed.shape)
    tik = TikhonovDeconvolver(upsample=2)(obs.observed.astype(float),
                                          psf=psf)
    wie = WienerDeconvolver(upsample=2)(obs.observed.astype(float), psf=psf,
                                        error=error)
    for name, image in (('tikhonov', tik), ('wiener', wie)):
        np.testing.assert_allclose(scores[name]['nmse'],
                                   metrics.nmse(image, truth), rtol=1e-12)
        assert summary[name]['nmse']['median'] == pytest.approx(
            float(np.median(metrics.nmse(image, truth))), rel=1e-12)
    # the clump flux error is reported in absolute value
    assert np.all(np.nan_to_num(scores['tikhonov']['clump_flux_error']) >= 0)
    assert [b['n'] for b in summary['tikhonov']['ssim']['by_magnitude']] \
        == [1, 1]
    assert 'chi2' in scores['wiener']
    without_error, raw = evaluate_methods(obs.observed, truth, obs.psf,
                                          methods='tikhonov')
    assert 'chi2' not in raw['tikhonov']
    assert np.isnan(raw['mag']).all()


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'methods': ['magic']}, ValueError, 'methods must be one of'),
    ({'methods': []}, ValueError, 'methods must name at least one'),
    ({'mag_bins': [20]}, ValueError, 'mag_bins must be at least two'),
])
def test_evaluate_methods_errors(ground, kwargs, error, match):
    truth, obs = ground
    with pytest.raises(error, match=match):
        evaluate_methods(obs.observed, truth, obs.psf, **kwargs)
    with pytest.raises(ValueError, match='integer number of times finer'):
        evaluate_methods(obs.observed, truth[:, :30, :30], obs.psf,
                         methods='tikhonov')


def _report(ground):
    truth, obs = ground
    summary, scores = evaluate_methods(obs.observed, truth, obs.psf,
                                       methods=['tikhonov'], error=obs.sigma,
                                       magnitudes=[21.0, 22.0, 23.5])
    return EvaluationReport(
        {'data': 'set.h5', 'weights': 'default', 'split': 'test',
         'clump_detection': ClumpDetection(threshold=4.0).to_dict(),
         'groups': {'upsample_2': summary}}, {'upsample_2': scores})


def test_report_markdown(ground):
    report = _report(ground)
    table = report.to_markdown().splitlines()
    assert 'starlet scale 3, 4 sigma' in table[0]
    assert table[2].startswith('| group | method | NMSE |')
    cells = [c.strip() for c in table[4].strip('|').split('|')]
    tik = report.summary['groups']['upsample_2']['tikhonov']
    assert cells[:2] == ['upsample_2', 'tikhonov']
    assert cells[2] == f"{tik['nmse']['median']:.4g}"
    assert cells[6] == f"{tik['hallucination']['mean']:.4g}"
    assert len(table) == 5
    assert 'upsample_2' in repr(report)


def test_report_write(ground, tmp_path):
    report = _report(ground)
    path = tmp_path / 'out' / 'report.json'
    written = report.write(path, figure=False)
    assert written == [path, path.with_suffix('.md')]
    assert json.loads(path.read_text()) == json.loads(
        json.dumps(report.summary))
    assert path.with_suffix('.md').read_text() == report.to_markdown() + '\n'
    with pytest.raises(FileExistsError, match='already exists'):
        report.write(path, figure=False)
    if HAS_MATPLOTLIB:
        written = report.write(path, overwrite=True)
        assert written[-1].read_bytes()[:4] == b'\x89PNG'
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        p.name for p in written)


def test_write_report_checks_every_file_first(tmp_path):
    path = tmp_path / 'bench.json'
    path.with_suffix('.md').write_text('keep')
    with pytest.raises(FileExistsError,
                       match=r"bench\.md' already exists; pass overwrite"):
        write_report(path, {'a': 1}, table='new')
    assert not path.exists()
    assert path.with_suffix('.md').read_text() == 'keep'
    assert write_report(path, {'a': 1}, table='new', overwrite=True) == [
        path, path.with_suffix('.md')]
    assert json.loads(path.read_text()) == {'a': 1}
    assert path.with_suffix('.md').read_text() == 'new'
