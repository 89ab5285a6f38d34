"""Tests of the HDF5 training sets and of the PyTorch PairDataset."""

import os
import pickle

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from astrodeconv.datasets import (TrainingSet, TrainingSetFile,
                                  degrade_to_ground, make_training_set,
                                  read_training_set, write_training_set)
from astrodeconv.datasets import storage
from astrodeconv.deconvolution import TikhonovDeconvolver

h5py = pytest.importorskip('h5py')


def _small_set(n=6, size=32, k=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size))
    truth = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / 8.0)
    truth = truth[None] * rng.uniform(1, 5, (n, 1, 1))
    truth = truth.astype(np.float32)
    ground = degrade_to_ground(truth, psf_fwhm=(0.2, 0.3), upsample=k,
                               seed=seed)
    tikhonov = truth + np.float32(0.01)
    cat = Table({'index': np.arange(n), 'flux': truth.sum(axis=(1, 2)),
                 'name': [f'gal{i}' for i in range(n)]})
    cat['flux'].unit = u.nJy
    cat['flux'].description = 'total flux'
    return truth, ground, tikhonov, cat


def test_round_trip(tmp_path):
    truth, ground, tik, cat = _small_set()
    path = tmp_path / 'set.h5'
    split = np.array([0, 0, 0, 1, 2, 0])
    name = write_training_set(path, truth, ground, tik, catalogue=cat,
                              attrs={'lam': 9e-3, 'seed': 4}, split=split,
                              index=np.arange(10, 16))
    assert name == 'upsample_2'
    data = read_training_set(path)
    assert isinstance(data, TrainingSet)
    assert data.group == 'upsample_2' and len(data) == 6
    np.testing.assert_array_equal(data.truth, truth)
    np.testing.assert_array_equal(data.tikhonov, tik)
    np.testing.assert_array_equal(data.observed, ground.observed)
    np.testing.assert_array_equal(data.psf, ground.psf)
    np.testing.assert_array_equal(data.sigma, ground.sigma)
    np.testing.assert_array_equal(data.psf_fwhm, ground.psf_fwhm)
    np.testing.assert_array_equal(data.split, split)
    assert data.split.dtype == np.uint8
    np.testing.assert_array_equal(data.index, np.arange(10, 16))
    assert data.truth.dtype == np.float32
    assert data.catalogue['flux'].unit == u.nJy
    assert data.catalogue['flux'].description == 'total flux'
    assert list(data.catalogue['name']) == [f'gal{i}' for i in range(6)]
    attrs = data.attrs
    assert attrs['upsample'] == 2 and attrs['lam'] == 9e-3
    assert attrs['seed'] == 4
    assert attrs['pixel_scale'] == 0.05
    assert attrs['pixel_scale_observed'] == pytest.approx(0.1)
    assert attrs['psf_model'] == 'moffat'
    assert 'seed' in attrs['noise_rule']
    assert 'astrodeconv_version' in attrs and 'command' in attrs
    # ordinary permissions, not those of the private temporary file
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    with h5py.File(path, 'r') as f:
        assert f.attrs['format'] == 'astrodeconv-training-set'
        assert f['upsample_2/truth'].chunks == (1, 32, 32)


def test_default_split_and_lazy_file(tmp_path):
    truth, ground, tik, _ = _small_set(n=10)
    path = tmp_path / 'set.h5'
    write_training_set(path, truth, ground, tik)
    data = read_training_set(path)
    assert sorted(np.bincount(data.split).tolist()) == [1, 1, 8]
    assert data.catalogue is None
    with TrainingSetFile(path) as f:
        assert f.groups == ('upsample_2',)
        assert f.lengths == {'upsample_2': 10}
        assert f.shape('upsample_2', 'observed') == (10, 16, 16)
        np.testing.assert_array_equal(f.read('upsample_2', 'truth', 3),
                                      truth[3])
        np.testing.assert_array_equal(f.load('upsample_2').sigma,
                                      ground.sigma)
        assert 'TrainingSetFile(' in repr(f)
        clone = pickle.loads(pickle.dumps(f))   # what a spawned worker gets
        np.testing.assert_array_equal(clone.read('upsample_2', 'truth', 0),
                                      truth[0])
        clone.close()
        with pytest.raises(ValueError, match="group 'nope' is not"):
            f.read('nope', 'truth')


def test_groups_overwrite_protection_and_append(tmp_path):
    truth, ground, tik, _ = _small_set()
    path = tmp_path / 'set.h5'
    write_training_set(path, truth, ground, tik)
    with pytest.raises(FileExistsError, match="group 'upsample_2' already"):
        write_training_set(path, truth, ground, tik)
    # another group is added, the first is kept
    ground4 = degrade_to_ground(truth, psf_fwhm=0.3, upsample=4)
    write_training_set(path, truth, ground4, tik)
    assert TrainingSetFile(path).groups == ('upsample_2', 'upsample_4')
    with pytest.raises(ValueError, match='several groups'):
        read_training_set(path)
    with pytest.raises(ValueError, match="group 'upsample_8' is not"):
        read_training_set(path, group='upsample_8')
    # overwrite=True replaces the group
    write_training_set(path, truth, ground, 2 * tik, overwrite=True)
    np.testing.assert_array_equal(
        read_training_set(path, 'upsample_2').tikhonov, 2 * tik)
    np.testing.assert_array_equal(
        read_training_set(path, 'upsample_4').observed, ground4.observed)
    assert sorted(os.listdir(tmp_path)) == ['set.h5']


def test_atomic_write(tmp_path, monkeypatch):
    truth, ground, tik, _ = _small_set()
    path = tmp_path / 'set.h5'
    write_training_set(path, truth, ground, tik)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        msg = 'disk full'
        raise OSError(msg)

    monkeypatch.setattr(storage, '_write_group', broken)
    with pytest.raises(OSError, match='disk full'):
        write_training_set(path, truth, ground, tik, group='other')
    with pytest.raises(OSError, match='disk full'):
        write_training_set(tmp_path / 'new.h5', truth, ground, tik)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['set.h5']


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / 'missing.h5'
    with pytest.raises(FileNotFoundError, match='missing.h5'):
        read_training_set(missing)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        TrainingSetFile(missing)
    garbage = tmp_path / 'garbage.h5'
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match='garbage.h5.*not an HDF5 file'):
        read_training_set(garbage)
    with pytest.raises(ValueError, match='not an HDF5 file'):
        TrainingSetFile(garbage)
    truth, ground, tik, _ = _small_set()
    with pytest.raises(ValueError, match='exists and is not an HDF5'):
        write_training_set(garbage, truth, ground, tik)
    write_training_set(garbage, truth, ground, tik, overwrite=True)
    assert len(read_training_set(garbage)) == 6
    # a truncated HDF5 file
    good = tmp_path / 'good.h5'
    write_training_set(good, truth, ground, tik)
    truncated = tmp_path / 'truncated.h5'
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match='truncated.h5'):
        read_training_set(truncated)


def test_empty_and_incomplete_groups(tmp_path):
    truth, ground, tik, _ = _small_set()
    with pytest.raises(ValueError, match='truth must hold at least one'):
        write_training_set(tmp_path / 'e.h5', truth[:0], ground, tik[:0])
    empty = tmp_path / 'empty.h5'
    with h5py.File(empty, 'w') as f:
        g = f.create_group('upsample_1')
        for key in storage._REQUIRED:
            shape = (0, 8, 8) if key in storage._IMAGES else (0,)
            g.create_dataset(key, shape=shape, dtype='f4')
    with pytest.raises(ValueError, match=r'empty \(N = 0 images\)'):
        read_training_set(empty)
    incomplete = tmp_path / 'incomplete.h5'
    with h5py.File(incomplete, 'w') as f:
        g = f.create_group('upsample_1')
        g['truth'] = truth
        g['observed'] = ground.observed
        g['sigma'] = ground.sigma
    with pytest.raises(ValueError, match="missing the required dataset.*"
                       "'tikhonov', 'psf', 'psf_fwhm', 'split', 'index'"):
        read_training_set(incomplete)
    nogroup = tmp_path / 'nogroup.h5'
    with h5py.File(nogroup, 'w') as f:
        f['x'] = np.ones(3)
    with pytest.raises(ValueError, match='holds no training-set group'):
        TrainingSetFile(nogroup)


def test_write_checks_inputs(tmp_path):
    truth, ground, tik, cat = _small_set()
    path = tmp_path / 'x.h5'
    with pytest.raises(ValueError, match='tikhonov must have the shape'):
        write_training_set(path, truth, ground, tik[:, :8])
    with pytest.raises(TypeError, match='ground must be'):
        write_training_set(path, truth, object(), tik)
    with pytest.raises(ValueError, match='split must be an array'):
        write_training_set(path, truth, ground, tik, split=np.full(6, 3))
    with pytest.raises(ValueError, match='catalogue must have one row'):
        write_training_set(path, truth, ground, tik, catalogue=cat[:2])
    with pytest.raises(ValueError, match=r'ground.observed must have shape'):
        write_training_set(path, truth[:, :16, :16], ground,
                           tik[:, :16, :16])
    assert not path.exists()


# ---------------------------------------------------------------------------
# The whole recipe and the torch dataset
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def recipe(tmp_path_factory):
    pytest.importorskip('galsim')
    path = tmp_path_factory.mktemp('recipe') / 'train.h5'
    make_training_set(path, 12, seed=3, stamp_size=64, progress_bar=False)
    return path


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
    # the stored Tikhonov images are the deconvolutions of the stored
    # observations with the stored PSFs
    psf = four.psf.astype(float)
    psf /= psf.sum(axis=(1, 2), keepdims=True)
    again = TikhonovDeconvolver(lam=9e-3, upsample=4)(
        four.observed.astype(float), psf=psf)
    np.testing.assert_allclose(four.tikhonov, again, rtol=1e-4,
                               atol=1e-5 * np.abs(again).max())
    with pytest.raises(FileExistsError, match='already exists'):
        make_training_set(recipe, 2, stamp_size=64, progress_bar=False)


def test_make_training_set_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='upsample must divide'):
        make_training_set(tmp_path / 'a.h5', 2, stamp_size=64,
                          upsample=(1, 3), progress_bar=False)
    with pytest.raises(ValueError, match='lam must be > 0'):
        make_training_set(tmp_path / 'a.h5', 2, lam=0.0,
                          progress_bar=False)


@pytest.fixture(scope='module')
def torch_dataset():
    return pytest.importorskip('astrodeconv.datasets.torch_dataset')


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
    from astrodeconv.utils._torch import normalize_images

    data = torch_dataset.PairDataset(recipe, 'val')
    f = TrainingSetFile(recipe)
    for i in range(len(data)):
        group, row = data.locate(i)
        x, y, sigma = data[i]
        tik = f.read(group, 'tikhonov', row).astype(float)
        truth = f.read(group, 'truth', row).astype(float)
        normed, mean, peak = normalize_images(tik[None])
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
    normed = normalize_images(
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
    no_aug = PairDataset(recipe, 'train', augment=False)
    np.testing.assert_array_equal(no_aug[0][0], no_aug[0][0])
    target_mode = PairDataset(recipe, 'val', normalization='target')
    assert float(target_mode[0][1].max()) == pytest.approx(1.0)


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
    truth, ground, tik, _ = _small_set()
    path = tmp_path / 'all_train.h5'
    write_training_set(path, truth, ground, tik, split=np.zeros(6, int))
    with pytest.raises(ValueError, match="split 'val' is empty"):
        PairDataset(path, 'val')
    with pytest.raises(FileNotFoundError):
        PairDataset(tmp_path / 'nothing.h5')
