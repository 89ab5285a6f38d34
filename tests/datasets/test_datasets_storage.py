"""Tests of the HDF5 training-set format (reading and writing)."""

import os
import pickle

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from astrodeconv.datasets import (TrainingSet, TrainingSetFile,
                                  degrade_to_ground, read_training_set,
                                  write_training_set)
from astrodeconv.datasets import storage

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
