"""Tests of the training-set recipe and of the PyTorch PairDataset."""

import pickle

import numpy as np
import pytest
from scipy.signal import fftconvolve

from astrodeconv.datasets import (TrainingSetFile, degrade_to_ground,
                                  write_training_set)
from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.training import make_tikhonov_inputs, make_training_set

h5py = pytest.importorskip('h5py')


# ---------------------------------------------------------------------------
# The whole recipe and the torch dataset
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def recipe(tmp_path_factory):
    pytest.importorskip('galsim')
    path = tmp_path_factory.mktemp('recipe') / 'train.h5'
    make_training_set(path, 12, seed=3, stamp_size=64, progress=False)
    return path


@pytest.mark.filterwarnings('ignore:psf has a FWHM')
def test_make_training_set(recipe):
    f = TrainingSetFile(recipe)
    assert f.groups == ('upsample_1', 'upsample_4')
    one = f.load('upsample_1')
    four = f.load('upsample_4')
    assert one.truth.shape == (12, 64, 64)
    assert one.observed.shape == (12, 64, 64)
    assert four.observed.shape == (12, 16, 16)
    assert four.tikhonov.shape == (12, 64, 64)
    np.testing.assert_array_equal(one.truth, four.truth)
    np.testing.assert_array_equal(one.split, four.split)
    assert np.bincount(one.split).tolist() == [10, 1, 1]
    np.testing.assert_array_equal(one.index, np.arange(12))
    # independent PSF and noise draws in the two regimes
    assert not np.array_equal(one.psf_fwhm, four.psf_fwhm)
    assert ((one.psf_fwhm >= 0.5) & (one.psf_fwhm <= 1.0)).all()
    sigma_seed = four.attrs['sigma_seed']
    ratio = four.sigma / sigma_seed
    assert ((ratio >= 0.05) & (ratio <= 1.0)).all()
    assert four.attrs['lam'] == 9e-3 and four.attrs['seed'] == 3
    assert 'make_training_set(' in four.attrs['command']
    assert 0 < four.attrs['acceptance'] <= 1
    assert len(one.catalogue) == 12
    # each observation is its own truth seen through its stored PSF
    # (linear convolution, k x k block sum) plus noise of the stored
    # level: the residual scatter is sigma (measured 0.98-1.03 on 64^2
    # pixels, 0.91-1.10 on 16^2); a truth paired with another row's
    # observation gives 8-11 sigma, a PSF one pixel off up to 3
    for data, k, spread in ((one, 1, 0.06), (four, 4, 0.15)):
        ratios = []
        for i in range(12):
            clean = fftconvolve(data.truth[i].astype(float),
                                data.psf[i].astype(float), mode='same')
            n = clean.shape[0] // k
            clean = clean.reshape(n, k, n, k).sum(axis=(1, 3))
            ratios.append(np.std(data.observed[i] - clean) / data.sigma[i])
        assert np.all(np.abs(np.array(ratios) - 1) < spread), ratios
        assert abs(np.mean(ratios) - 1) < spread / 3
    # the stored Tikhonov images are the deconvolutions of the stored
    # observations with the stored PSFs
    psf = four.psf.astype(float)
    psf /= psf.sum(axis=(1, 2), keepdims=True)
    again = TikhonovDeconvolver(lam=9e-3, upsample=4)(
        four.observed.astype(float), psf=psf)
    np.testing.assert_allclose(four.tikhonov, again, rtol=1e-4,
                               atol=1e-5 * np.abs(again).max())
    with pytest.raises(FileExistsError, match='already exists'):
        make_training_set(recipe, 2, stamp_size=64, progress=False)


def test_make_tikhonov_inputs_batches_match_one_call():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, (5, 32, 32)).astype(np.float32)
    ground = degrade_to_ground(truth, psf_fwhm=(0.2, 0.4), upsample=2,
                               seed=0)
    inputs = make_tikhonov_inputs(ground, lam=0.02, batch_size=2)
    assert inputs.shape == (5, 32, 32) and inputs.dtype == np.float32
    # every image with its own PSF, exactly as one batched call
    psf = ground.psf.astype(float)
    psf /= psf.sum(axis=(1, 2), keepdims=True)
    expected = TikhonovDeconvolver(lam=0.02, upsample=2)(
        ground.observed.astype(float), psf=psf)
    np.testing.assert_allclose(inputs, expected, rtol=1e-6,
                               atol=1e-6 * np.abs(expected).max())
    with pytest.raises(ValueError, match='batch_size'):
        make_tikhonov_inputs(ground, batch_size=0)


def test_make_training_set_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='upsample must divide'):
        make_training_set(tmp_path / 'a.h5', 2, stamp_size=64,
                          upsample=(1, 3), progress=False)
    with pytest.raises(ValueError, match='lam must be > 0'):
        make_training_set(tmp_path / 'a.h5', 2, lam=0.0,
                          progress=False)


@pytest.fixture(scope='module')
def torch_dataset():
    return pytest.importorskip('astrodeconv.training.dataset')


def test_pair_dataset_shapes(recipe, torch_dataset):
    import torch

    PairDataset = torch_dataset.PairDataset
    sizes = {}
    for split in ('train', 'val', 'test'):
        data = PairDataset(recipe, split)
        sizes[split] = len(data)
        x, y, sigma = data[0]
        assert x.shape == (1, 64, 64) and y.shape == (1, 64, 64)
        assert x.dtype == y.dtype == sigma.dtype == torch.float32
        assert sigma.shape == ()
    assert sizes == {'train': 20, 'val': 2, 'test': 2}
    assert len(PairDataset(recipe, None)) == 24
    assert len(PairDataset(recipe, 'train', groups='upsample_4')) == 10
    data = PairDataset(recipe, 'train', crop=32)
    x, y, _ = data[3]
    assert x.shape == (1, 32, 32) and y.shape == (1, 32, 32)
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    xb, yb, sb = next(iter(loader))
    assert xb.shape == (4, 1, 32, 32) and sb.shape == (4,)
    assert 'PairDataset(' in repr(data)


def test_pair_dataset_normalisation_matches_inference(recipe,
                                                      torch_dataset):
    from astrodeconv.denoisers import normalize_pair

    data = torch_dataset.PairDataset(recipe, 'val')
    f = TrainingSetFile(recipe)
    for i in range(len(data)):
        group, row = data.locate(i)
        x, y, sigma = data[i]
        tik = f.read(group, 'tikhonov', row).astype(float)
        truth = f.read(group, 'truth', row).astype(float)
        normed, _, params = normalize_pair(tik[None])
        mean, peak = params.input_offset, params.scale
        np.testing.assert_allclose(x[0].numpy(), normed[0], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(y[0].numpy(),
                                   (truth - mean[0]) / peak[0], rtol=1e-5,
                                   atol=1e-6)
        k = f.attrs(group)['upsample']
        expected = f.read(group, 'sigma', row) / k ** 2 / peak[0, 0, 0]
        assert float(sigma) == pytest.approx(expected, rel=1e-6)
    f.close()
    # centre crops of validation images are crops of the full image
    full = data[0][0][0].numpy()
    crop = torch_dataset.PairDataset(recipe, 'val', crop=32)[0][0][0].numpy()
    np.testing.assert_array_equal(crop, full[16:48, 16:48])
    # training crops are normalised with the full image's numbers
    train = torch_dataset.PairDataset(recipe, 'train', crop=32)
    group, row = train.locate(5)
    normed = normalize_pair(
        f.read(group, 'tikhonov', row).astype(float)[None])[0][0]
    x = train[5][0][0].numpy().astype(float)
    values = np.sort(normed.ravel())
    pos = np.clip(np.searchsorted(values, x.ravel()), 1, values.size - 1)
    nearest = np.minimum(np.abs(values[pos] - x.ravel()),
                         np.abs(values[pos - 1] - x.ravel()))
    assert nearest.max() < 1e-6
    f.close()


def test_pair_dataset_augmentation_is_deterministic(recipe, torch_dataset):
    PairDataset = torch_dataset.PairDataset
    a = PairDataset(recipe, 'train', crop=48, seed=1)
    b = PairDataset(recipe, 'train', crop=48, seed=1, in_memory=True)
    c = PairDataset(recipe, 'train', crop=48, seed=2)
    assert a.augment and not PairDataset(recipe, 'val').augment
    same = [np.array_equal(a[i][0], b[i][0]) for i in range(len(a))]
    assert all(same)
    assert not all(np.array_equal(a[i][0], c[i][0]) for i in range(len(a)))
    first = [a[i][0].numpy() for i in range(4)]
    a.set_epoch(1)
    second = [a[i][0].numpy() for i in range(4)]
    assert not all(np.array_equal(p, q) for p, q in zip(first, second))
    a.set_epoch(0)
    for i in range(4):
        np.testing.assert_array_equal(a[i][0].numpy(), first[i])
    # the pair stays aligned: the target is the truth of the same pixels
    x, y, _ = a[2]
    assert np.corrcoef(x.numpy().ravel(), y.numpy().ravel())[0, 1] > 0.5
    # a pickled copy (as sent to a spawned worker) gives the same items
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(clone[3][0].numpy(), a[3][0].numpy())
    # without augmentation a training item is the stored pair, normalised
    # and nothing else, at every epoch
    no_aug = PairDataset(recipe, 'train', augment=False)
    assert not no_aug.augment
    f = TrainingSetFile(recipe)
    for i in (0, 7):
        group, row = no_aug.locate(i)
        tik = f.read(group, 'tikhonov', row).astype(float)
        truth = f.read(group, 'truth', row).astype(float)
        mean, peak = tik.mean(), tik.max()
        x, y, _ = no_aug[i]
        np.testing.assert_allclose(x[0].numpy(), (tik - mean) / peak,
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y[0].numpy(), (truth - mean) / peak,
                                   rtol=1e-5, atol=1e-6)
        no_aug.set_epoch(i + 1)
        np.testing.assert_array_equal(no_aug[i][0].numpy(), x.numpy())
    # the published recipe: both images centred on their own mean, scaled
    # by the truth's peak above its mean
    target_mode = PairDataset(recipe, 'val', normalization='target')
    group, row = target_mode.locate(0)
    tik = f.read(group, 'tikhonov', row).astype(float)
    truth = f.read(group, 'truth', row).astype(float)
    scale = (truth - truth.mean()).max()
    x, y, _ = target_mode[0]
    np.testing.assert_allclose(x[0].numpy(), (tik - tik.mean()) / scale,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), (truth - truth.mean()) / scale,
                               rtol=1e-5, atol=1e-6)
    assert float(y.max()) == pytest.approx(1.0)
    f.close()


def test_pair_dataset_errors(recipe, torch_dataset, tmp_path):
    PairDataset = torch_dataset.PairDataset
    with pytest.raises(ValueError, match='split must be one of'):
        PairDataset(recipe, 'training')
    with pytest.raises(ValueError, match='crop must not exceed'):
        PairDataset(recipe, 'train', crop=65)
    with pytest.raises(ValueError, match='groups must be names'):
        PairDataset(recipe, 'train', groups=['upsample_2'])
    with pytest.raises(ValueError, match='normalization must be one of'):
        PairDataset(recipe, 'train', normalization='minmax')
    with pytest.raises(IndexError, match='index must be in'):
        PairDataset(recipe, 'val')[5]
    truth = np.ones((6, 32, 32), np.float32)
    ground = degrade_to_ground(truth, psf_fwhm=0.2, upsample=2, seed=0)
    path = tmp_path / 'all_train.h5'
    write_training_set(path, truth, ground, truth, split=np.zeros(6, int))
    with pytest.raises(ValueError, match="split 'val' is empty"):
        PairDataset(path, 'val')
    with pytest.raises(FileNotFoundError,
                       match=r"nothing\.h5' does not exist"):
        PairDataset(tmp_path / 'nothing.h5')


def test_denoising_dataset_noise_and_determinism(recipe, torch_dataset):
    import torch

    from astrodeconv.training import DenoisingDataset

    data = DenoisingDataset(recipe, 'train', crop=32,
                            sigma_range=(0.01, 0.1), seed=4)
    truth = TrainingSetFile(recipe).read('upsample_1', 'truth')
    noisy, clean, sigma = data[0]
    assert noisy.shape == clean.shape == (1, 32, 32)
    assert 0.01 <= float(sigma) <= 0.1
    # the clean crop is part of the truth image divided by its peak, and
    # the noise has the drawn level (about: a 32 x 32 sample)
    assert float(clean.max()) <= 1.0 + 1e-6
    residual = (noisy - clean).numpy()
    assert np.std(residual) == pytest.approx(float(sigma), rel=0.1)
    again = data[0]
    assert torch.equal(again[0], noisy)
    data.set_epoch(1)
    assert not torch.equal(data[0][0], noisy)
    # validation items: centred crops, the same at every epoch
    val = DenoisingDataset(recipe, 'val', crop=32)
    first = val[0][0].clone()
    val.set_epoch(3)
    assert torch.equal(val[0][0], first)
    row = int(np.flatnonzero(TrainingSetFile(recipe).read(
        'upsample_1', 'split') == 1)[0])
    image = truth[row] / truth[row].max()
    np.testing.assert_allclose(val[0][1][0].numpy(),
                               image[16:48, 16:48], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('kwargs, match', [
    ({'sigma_range': (0.2, 0.1)}, 'low <= high'),
    ({'sigma_range': (0.0, 0.1)}, r'sigma_range\[0\]'),
    ({'sigma_range': 0.1}, 'sigma_range must be a'),
    ({'crop': 1000}, 'crop must not exceed'),
    ({'group': 'upsample_9'}, 'group must be one of'),
])
def test_denoising_dataset_errors(recipe, torch_dataset, kwargs, match):
    from astrodeconv.training import DenoisingDataset

    with pytest.raises(ValueError, match=match):
        DenoisingDataset(recipe, 'train', **kwargs)
