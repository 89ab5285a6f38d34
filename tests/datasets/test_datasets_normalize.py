"""Tests of normalisation, augmentation and splitting of training pairs."""

import numpy as np
import pytest

from astropy.utils.exceptions import AstropyDeprecationWarning

from astrodeconv.datasets import augment, split_indices
from astrodeconv.denoisers import (NormalizationParams, denormalize,
                                   normalize_pair)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    target = rng.gamma(2.0, 1.0, (5, 16, 16))
    inputs = target + rng.normal(0, 0.3, target.shape)
    return inputs, target


@pytest.mark.parametrize('mode', ['inference', 'target'])
def test_exact_inverse(pair, mode):
    x, t = pair
    xn, tn, params = normalize_pair(x, t, mode=mode)
    assert isinstance(params, NormalizationParams)
    assert params.mode == mode
    assert params.scale.shape == (5, 1, 1)
    np.testing.assert_allclose(denormalize(xn, params, role='input'), x,
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(denormalize(tn, params), t, rtol=1e-13,
                               atol=1e-13)


def test_inference_mode_is_the_reference_normalisation(pair):
    x, t = pair
    xn, tn, params = normalize_pair(x, t)
    # (x - mean) / max of each input, computed here independently
    mean = np.stack([[[image.mean()]] for image in x])
    peak = np.stack([[[image.max()]] for image in x])
    expected = (x - mean) / peak
    np.testing.assert_allclose(xn, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(params.scale, peak)
    np.testing.assert_allclose(params.input_offset, mean, rtol=1e-14)
    # the target is scaled with the input's numbers
    np.testing.assert_allclose(tn, (t - mean) / peak)
    np.testing.assert_array_equal(params.target_offset, mean)
    # without a target
    xn2, none, _ = normalize_pair(x)
    assert none is None
    np.testing.assert_array_equal(xn2, xn)


def test_target_mode_is_the_published_recipe(pair):
    x, t = pair
    xn, tn, params = normalize_pair(x, t, mode='target')
    mu_t = t.mean(axis=(1, 2), keepdims=True)
    f = (t - mu_t).max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(tn, (t - mu_t) / f)
    np.testing.assert_allclose(xn, (x - x.mean(axis=(1, 2),
                                               keepdims=True)) / f)
    np.testing.assert_allclose(tn.max(axis=(1, 2)), 1.0)


def test_single_image_and_degenerate_scale():
    x = -np.ones((4, 4))
    x[0, 0] = -3.0
    xn, _, params = normalize_pair(x)       # max <= 0: spread is used
    assert float(params.scale[0, 0]) == pytest.approx(1.875)
    np.testing.assert_allclose(denormalize(xn, params, role='input'), x)
    flat = np.zeros((4, 4))
    xn, _, params = normalize_pair(flat)     # all zero: scale 1
    assert float(params.scale[0, 0]) == 1.0
    np.testing.assert_array_equal(xn, 0.0)


def test_normalize_errors(pair):
    x, t = pair
    with pytest.raises(ValueError, match="targets must be given"):
        normalize_pair(x, mode='target')
    with pytest.raises(ValueError, match='mode must be one of'):
        normalize_pair(x, mode='minmax')
    with pytest.raises(ValueError, match='targets must have the shape'):
        normalize_pair(x, t[:, :8])
    with pytest.raises(ValueError, match='inputs must have at least 2'):
        normalize_pair(np.ones(4))
    with pytest.raises(TypeError, match='params must be'):
        denormalize(x, (0, 1))
    with pytest.raises(ValueError, match='role must be one of'):
        denormalize(x, normalize_pair(x)[2], role='output')


def _which_dihedral(image, out):
    for rot in range(4):
        for flip in (False, True):
            candidate = np.rot90(image, rot)
            if flip:
                candidate = candidate[:, ::-1]
            if np.array_equal(candidate, out):
                return rot, flip
    return None


def test_augment_keeps_pairs_aligned_and_flux():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 24, 24))
    for _ in range(20):
        a, b = augment(x, x.copy(), rng)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a.sum(), x.sum())
        assert a.shape == x.shape


def test_augment_covers_the_8_dihedral_transforms():
    image = np.arange(49.0).reshape(7, 7)      # no symmetry
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(200):
        out, _ = augment(image, image, rng, max_shift=0)
        found = _which_dihedral(image, out)
        assert found is not None
        seen.add(found)
    assert len(seen) == 8


def test_augment_translations():
    image = np.zeros((31, 31))
    image[15, 15] = 1.0                       # invariant under rotations
    rng = np.random.default_rng(3)
    shifts = []
    for _ in range(300):
        out, _ = augment(image, image, rng)
        y, x = np.unravel_index(out.argmax(), out.shape)
        shifts.append((y - 15, x - 15))
    shifts = np.array(shifts)
    assert np.abs(shifts).max() == 10
    assert shifts.min() == -10 and shifts.max() == 10


def test_augment_reproducible_and_checked():
    x = np.random.default_rng(0).normal(size=(16, 16))
    a1, _ = augment(x, x, 5)
    a2, _ = augment(x, x, np.random.default_rng(5))
    np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError, match='same last two dimensions'):
        augment(x, x[:8], 0)
    with pytest.raises(ValueError, match='max_shift must be'):
        augment(x, x, 0, max_shift=-1)


def test_split_indices():
    train, val, test = split_indices(1000, seed=3)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    joined = np.concatenate([train, val, test])
    np.testing.assert_array_equal(np.sort(joined), np.arange(1000))
    again = split_indices(1000, seed=3)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    other = split_indices(1000, seed=4)
    assert not np.array_equal(other[1], val)
    # counts always add up
    for n in (0, 1, 7, 12, 33):
        parts = split_indices(n, fractions=(0.7, 0.2, 0.1))
        assert sum(len(p) for p in parts) == n
        assert len(np.unique(np.concatenate(parts))) == n
    assert [len(p) for p in split_indices(12)] == [10, 1, 1]


@pytest.mark.parametrize('fractions', [(0.5, 0.5), (0.8, 0.3, 0.1),
                                       (1.2, -0.1, -0.1)])
def test_split_bad_fractions(fractions):
    with pytest.raises(ValueError, match='fractions must be 3'):
        split_indices(10, fractions=fractions)


@pytest.mark.parametrize('name', ['normalize_pair', 'denormalize',
                                  'sky_level', 'NormalizationParams'])
def test_former_spellings_warn_and_give_the_one_normalisation(name):
    import astrodeconv.datasets as datasets
    from astrodeconv.datasets import normalize as module
    from astrodeconv.denoisers import normalization

    for home in (datasets, module):
        with pytest.warns(AstropyDeprecationWarning,
                          match=f'use astrodeconv.denoisers.{name}'):
            assert getattr(home, name) is getattr(normalization, name)
    assert name not in datasets.__all__


def test_training_pairs_use_the_inference_normalisation():
    from astrodeconv.training import dataset

    assert dataset.normalize_pair is normalize_pair
