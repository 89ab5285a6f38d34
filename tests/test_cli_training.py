"""The simulate, train and evaluate commands, end to end on tiny data."""

import json

import pytest

from astrodeconv.cli import main

try:
    import matplotlib  # noqa: F401
    HAS_MATPLOTLIB = True
except ImportError:
    HAS_MATPLOTLIB = False

pytest.importorskip('galsim')
pytest.importorskip('h5py')


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
    for group in ('upsample_1', 'upsample_4'):
        scores = content['groups'][group]
        assert scores['n_images'] == 2
        assert 0 < scores['tikhonov']['nmse']['median'] < 10
        assert -1 < scores['learned']['ssim']['median'] <= 1
        for metric in ('clump_flux_error', 'hallucination', 'completeness',
                       'chi2'):
            assert metric in scores['learned-debiased']
        bins = scores['learned']['nmse']['by_magnitude']
        assert sum(b['n'] for b in bins) <= 2
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


@pytest.mark.parametrize('argv, status, message', [
    (['simulate', '-n', '3', '-o', 'x.h5'], 1, '-n must be at least 10'),
    (['simulate', '-n', '20', '--psf-fwhm', '1.0', '0.5', '-o', 'x.h5'], 1,
     '--psf-fwhm must be two numbers'),
    (['train', 'missing.h5', '-o', 'run'], 1, 'does not exist'),
    (['evaluate', 'missing.h5'], 1, 'missing.h5'),
    (['train', '-o', 'run'], 2, 'required'),
])
def test_errors(argv, status, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == status
    assert message in capsys.readouterr().err
