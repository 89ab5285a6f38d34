"""The simulate, train and evaluate commands, end to end on tiny data."""

import json

import numpy as np
import pytest

from astrodeconv.cli import main
from astrodeconv.utils._optional_deps import (HAS_GALSIM, HAS_H5PY,
                                              HAS_MATPLOTLIB)

pytestmark = pytest.mark.skipif(not (HAS_GALSIM and HAS_H5PY),
                                reason='GalSim and h5py are required')


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp('sim') / 'train.h5'
    status = main(['simulate', '-n', '20', '--seed', '5', '--stamp-size',
                   '64', '-o', str(path)])
    assert status == 0
    return path


def test_simulate_writes_both_grids(dataset, capsys):
    from astrodeconv.datasets import TrainingSetFile

    with TrainingSetFile(dataset) as handle:
        assert handle.groups == ('upsample_1', 'upsample_4')
        assert handle.lengths == {'upsample_1': 20, 'upsample_4': 20}
    assert main(['simulate', '-n', '20', '-o', str(dataset)]) == 1
    assert 'overwrite' in capsys.readouterr().err


@pytest.mark.filterwarnings('ignore:psf has a FWHM')
def test_train_then_evaluate(dataset, tmp_path, capsys):
    run = tmp_path / 'run'
    status = main(['train', str(dataset), '--base-width', '2',
                   '--n-levels', '2', '--epochs', '2', '--batch-size', '4',
                   '--crop', '32', '--warmup-epochs', '1', '--no-progress',
                   '-o', str(run)])
    assert status == 0
    assert (run / 'best.pt').is_file() and (run / 'latest.pt').is_file()
    assert 'epoch 2/2' in capsys.readouterr().out
    report = tmp_path / 'report.json'
    status = main(['evaluate', str(dataset), '--weights',
                   str(run / 'best.pt'), '--split', 'val', '--methods',
                   'learned', 'learned-debiased', 'tikhonov', '-o',
                   str(report)])
    assert status == 0
    content = json.loads(report.read_text())
    assert content['clump_threshold'] == 5.0
    assert content['clump_detection'] == {'scale': 3, 'threshold': 5.0,
                                          'min_pixels': 3,
                                          'match_radius': 2.0}
    for group in ('upsample_1', 'upsample_4'):
        scores = content['groups'][group]
        assert scores['n_images'] == 2
        for metric in ('clump_flux_error', 'hallucination', 'completeness',
                       'chi2'):
            assert metric in scores['learned-debiased']
        _check_against_independent_scores(dataset, group, run / 'best.pt',
                                          scores)
    markdown = report.with_suffix('.md').read_text()
    assert '| upsample_4 | learned-debiased |' in markdown
    # the table shows medians, but means for the clump-matching rates
    row = next(line for line in markdown.splitlines()
               if line.startswith('| upsample_4 | tikhonov |'))
    cells = [c.strip() for c in row.strip('|').split('|')][2:]
    tik = content['groups']['upsample_4']['tikhonov']
    assert cells[0] == f"{tik['nmse']['median']:.4g}"
    assert cells[4] == f"{tik['hallucination']['mean']:.4g}"
    assert cells[5] == f"{tik['completeness']['mean']:.4g}"
    if HAS_MATPLOTLIB:
        assert report.with_suffix('.png').read_bytes()[:4] == b'\x89PNG'
    assert 'upsample_4' in capsys.readouterr().out
    # never overwrite a report silently
    assert main(['evaluate', str(dataset), '--weights',
                 str(run / 'best.pt'), '-o', str(report)]) == 1
    assert 'already exists' in capsys.readouterr().err


def _check_against_independent_scores(path, group, weights, scores):
    """The report's numbers are those of the metrics on the same images."""
    from astrodeconv.datasets import read_training_set
    from astrodeconv.deconvolution import (LearnedDeconvolver,
                                           TikhonovDeconvolver)
    from astrodeconv.metrics import nmse, reduced_chi2, ssim

    data = read_training_set(path, group)
    val = np.flatnonzero(data.split == 1)
    observed = data.observed[val].astype(float)
    truth = data.truth[val].astype(float)
    psf = data.psf[val].astype(float)
    k = truth.shape[-1] // observed.shape[-1]
    error = np.broadcast_to(data.sigma[val][:, None, None], observed.shape)
    tikhonov = TikhonovDeconvolver(upsample=k)(observed, psf=psf)
    tik_nmse = nmse(tikhonov, truth)
    assert scores['tikhonov']['nmse']['median'] == pytest.approx(
        float(np.median(tik_nmse)), rel=1e-12)
    assert scores['tikhonov']['nmse']['mean'] == pytest.approx(
        float(np.mean(tik_nmse)), rel=1e-12)
    chi2 = reduced_chi2(tikhonov, observed, psf, error=error, upsample=k)
    assert scores['tikhonov']['chi2']['median'] == pytest.approx(
        float(np.median(chi2)), rel=1e-12)
    # 'learned' in the report is the network alone
    learned = LearnedDeconvolver(weights, upsample=k, device='cpu',
                                 debias=False)(observed, psf=psf)
    learned_ssim = ssim(learned, truth, data_range='reference')
    assert scores['learned']['ssim']['median'] == pytest.approx(
        float(np.median(learned_ssim)), rel=1e-6)
    # the two methods give different images, so the scores must differ
    assert not np.allclose(learned, tikhonov)
    # every image with a magnitude in the bins is counted in one bin
    mags = np.asarray(data.catalogue['mag'], float)[val]
    bins = scores['learned']['nmse']['by_magnitude']
    edges = [b['mag_min'] for b in bins] + [bins[-1]['mag_max']]
    expected = np.histogram(mags, bins=edges)[0]
    assert [b['n'] for b in bins] == expected.tolist()


def test_simulate_broad_recipe_with_overrides(tmp_path, capsys):
    from astrodeconv.datasets import TrainingSetFile, read_training_set

    path = tmp_path / 'broad.h5'
    status = main(['simulate', '-n', '10', '--seed', '3', '--stamp-size',
                   '64', '--recipe', 'broad', '--upsample', '1', '2',
                   '--morphology', 'clumpy=1', 'sky=1', '--peak-snr', '5',
                   '50', '-o', str(path)])
    assert status == 0
    with TrainingSetFile(path) as handle:
        assert handle.groups == ('upsample_1', 'upsample_2')
        command = handle.attrs('upsample_1')['command']
    assert "psf_model='mixed'" in command
    assert "peak_snr=(5.0, 50.0)" in command
    data = read_training_set(path, 'upsample_2')
    kinds = set(str(k) for k in data.catalogue['morphology'])
    assert kinds <= {'clumpy', 'sky'}
    # the per-image noise follows the peak S/N rule of the flag
    from astrodeconv.datasets.degrade import _observe

    clean = _observe(data.truth.astype(float), data.psf.astype(float), 2)
    snr = clean.max(axis=(1, 2)) / data.sigma
    assert np.all((snr > 5 * 0.999) & (snr < 50 * 1.001))
    assert '2 grid(s)' in capsys.readouterr().out


def test_train_denoise_task_records_it(dataset, tmp_path, capsys):
    import torch

    run = tmp_path / 'gauss'
    threads = torch.get_num_threads()
    status = main(['train', str(dataset), '--task', 'denoise',
                   '--sigma-input', '--base-width', '2', '--n-levels', '2',
                   '--epochs', '1', '--batch-size', '4', '--crop', '32',
                   '--warmup-epochs', '0', '--sigma-range', '0.01', '0.2',
                   '--threads', '1', '--no-progress', '-o', str(run)])
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
    assert status == 0
    checkpoint = torch.load(run / 'best.pt', weights_only=True)
    assert checkpoint['metadata']['task'] == 'gaussian-denoising'
    assert checkpoint['arch_kwargs']['sigma_input'] is True
    from astrodeconv.deconvolution import PnPDeconvolver

    # the checkpoint plugs into the plug-and-play deconvolver
    pnp = PnPDeconvolver(run / 'best.pt', n_iter=2, device='cpu')
    assert pnp.weights_info['task'] == 'gaussian-denoising'


@pytest.mark.parametrize('argv, status, message', [
    (['simulate', '-n', '3', '-o', 'x.h5'], 2, '-n must be at least 10'),
    (['simulate', '-n', '-3', '-o', 'x.h5'], 2, '-n must be at least 10'),
    (['simulate', '-n', '20', '--morphology', 'clumpy=x', '-o', 'x.h5'], 2,
     'KIND=PROBABILITY'),
    (['simulate', '-n', '20', '--noise', '0.1', '1', '--peak-snr', '1',
      '9', '-o', 'x.h5'], 2, 'not allowed with'),
    (['simulate', '-n', '20', '--jobs', '0', '-o', 'x.h5'], 2,
     '--workers must be at least 1'),
    (['train', 'x.h5', '--sigma-range', '0.1', '0.2', '-o', 'run'], 2,
     '--sigma-range needs --task denoise'),
    (['train', 'x.h5', '--threads', '0', '-o', 'run'], 2,
     '--threads must be at least 1'),
    (['simulate', '-n', '20', '--psf-fwhm', '1.0', '0.5', '-o', 'x.h5'], 2,
     '--psf-fwhm must be two numbers'),
    (['simulate', '-n', '20', '--psf-fwhm', '-0.5', '1', '-o', 'x.h5'], 2,
     '--psf-fwhm must be two numbers 0 < LOW <= HIGH'),
    (['simulate', '-n', '20', '--stamp-size', '-64', '-o', 'x.h5'], 2,
     '--stamp-size must be at least 8'),
    (['train', 'missing.h5', '-o', 'run'], 1, 'does not exist'),
    (['evaluate', 'missing.h5'], 1, 'missing.h5'),
    (['train', '-o', 'run'], 2, 'required'),
])
def test_errors(argv, status, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == status
    assert message in capsys.readouterr().err
