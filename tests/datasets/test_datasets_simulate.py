"""Tests of the simulated truth galaxies (simulate_galaxies)."""

import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u

from astrodeconv.datasets import simulate_galaxies
from astrodeconv.datasets.simulate import (_flux_radius, _half_max_fwhm,
                                           _isophotal_fwhm)
from astrodeconv.utils._optional_deps import HAS_GALSIM
from astrodeconv.wavelets import starlet_transform

pytestmark = pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')

SIZE = 64
N = 6


@pytest.fixture(scope='module')
def sims():
    return simulate_galaxies(N, stamp_size=SIZE, seed=11)


@pytest.fixture(scope='module')
def clean():
    return simulate_galaxies(N, stamp_size=SIZE, seed=11, hst_noise=0.0)


def test_shapes_types_and_catalogue(sims):
    images, cat = sims
    assert images.shape == (N, SIZE, SIZE)
    assert images.dtype == np.float32
    assert len(cat) == N
    for name in ('mag', 'flux', 'r_half_disk', 'r_half_bulge', 'bt',
                 'q_disk', 'q_bulge', 'pa', 'n_clumps', 'clump_flux',
                 'seed', 'index', 'attempt', 'flux_radius_80', 'fwhm',
                 'x_offset', 'y_offset', 'sersic_n'):
        assert name in cat.colnames, name
    assert cat['flux'].unit == u.nJy
    assert cat['r_half_disk'].unit == u.arcsec
    assert list(cat['index']) == list(range(N))
    assert (cat['seed'] == 11).all()
    # m_AB = 31.4 - 2.5 log10(F / nJy)
    np.testing.assert_allclose(cat['mag'],
                               31.4 - 2.5 * np.log10(cat['flux']))
    assert ((cat['n_clumps'] >= 0) & (cat['n_clumps'] <= 8)).all()
    assert ((cat['bt'] >= 0) & (cat['bt'] <= 1)).all()
    assert (np.abs(cat['x_offset']) < 2).all()
    assert (np.abs(cat['y_offset']) < 2).all()
    assert 0 < cat.meta['acceptance'] <= 1
    assert cat.meta['attempts'] == int(np.sum(cat['attempt'] + 1))


# Recorded before the ``morphology`` keyword existed (GalSim 2.8.5, numpy
# 2.4): ``simulate_galaxies(4, stamp_size=64, seed=11)``. The default must
# not change; the tolerance only allows for another FFT build's rounding.
REFERENCE_ATTEMPTS = [0, 0, 0, 2]
REFERENCE_MAGS = [22.734979082255624, 23.309699932466188,
                  25.34687477959996, 24.73686962876223]
REFERENCE_CENTRE = [20.007173538208008, 4.768265247344971,
                    1.3569400310516357, 2.537930488586426]
REFERENCE_SUMS = [2754.6540967039764, 1618.6710967635736,
                  281.16119842027547, 458.3176527826581]


def test_default_output_is_unchanged():
    images, cat = simulate_galaxies(4, stamp_size=SIZE, seed=11)
    assert list(cat['attempt']) == REFERENCE_ATTEMPTS
    np.testing.assert_allclose(cat['mag'], REFERENCE_MAGS, rtol=1e-12)
    np.testing.assert_allclose(images[:, 32, 32], REFERENCE_CENTRE,
                               rtol=1e-6)
    np.testing.assert_allclose(images.sum(axis=(1, 2), dtype=float),
                               REFERENCE_SUMS, rtol=1e-6)
    explicit, cat2 = simulate_galaxies(4, stamp_size=SIZE, seed=11,
                                       morphology='bulge_disk')
    np.testing.assert_array_equal(explicit, images)
    assert list(cat2['morphology']) == ['bulge_disk'] * 4
    assert (cat2['n_objects'] == 1).all() and (cat2['n_stars'] == 0).all()
    np.testing.assert_array_equal(cat2['flux_image'], cat2['flux_stamp'])


def test_reproducible(sims):
    again, cat = simulate_galaxies(N, stamp_size=SIZE, seed=11)
    np.testing.assert_array_equal(again, sims[0])
    np.testing.assert_array_equal(cat['mag'], sims[1]['mag'])
    other, _ = simulate_galaxies(2, stamp_size=SIZE, seed=12)
    assert not np.array_equal(other, sims[0][:2])


def test_galaxy_depends_only_on_seed_and_index(sims):
    images, cat = sims
    first, _ = simulate_galaxies(3, stamp_size=SIZE, seed=11)
    np.testing.assert_array_equal(first, images[:3])
    subset, sub_cat = simulate_galaxies(0, stamp_size=SIZE, seed=11,
                                        indices=[4, 1])
    np.testing.assert_array_equal(subset, images[[4, 1]])
    assert list(sub_cat['index']) == [4, 1]


def test_selection_holds_on_every_galaxy(clean, sims):
    images, cat = clean
    assert (cat['mag'] < 26).all() and (cat['mag_stamp'] < 26).all()
    assert (cat['flux_radius_80'] > 10).all()
    assert (cat['fwhm'] > 10).all()
    threshold = 100.0 * 0.05 ** 2     # detection isophote per pixel
    for image, row in zip(images.astype(float), cat):
        assert _flux_radius(image, 0.8) == pytest.approx(
            row['flux_radius_80'], rel=1e-4)
        assert _isophotal_fwhm(image, threshold) == pytest.approx(
            row['fwhm'], rel=1e-4)
        assert _half_max_fwhm(image) == pytest.approx(row['fwhm_half_max'])
    # the selection is made on the noiseless truth: the noise does not
    # change which galaxies are kept
    np.testing.assert_array_equal(cat['attempt'], sims[1]['attempt'])


def test_flux_matches_catalogue():
    images, cat = simulate_galaxies(N, seed=11, hst_noise=0.0)
    total = images.sum(axis=(1, 2), dtype=float)
    np.testing.assert_allclose(total, cat['flux_stamp'], rtol=1e-5)
    # little flux falls outside the default 6.4" stamp
    np.testing.assert_allclose(total, cat['flux'], rtol=0.05)
    assert np.median(total / cat['flux']) > 0.98


def test_hst_noise(clean, sims):
    noise = sims[0] - clean[0]
    assert noise.std() == pytest.approx(0.25, rel=0.05)
    assert abs(noise.mean()) < 0.01


def test_clumps_add_small_scale_power():
    kwargs = {'stamp_size': SIZE, 'seed': 5, 'hst_noise': 0.0,
              'select': False}
    smooth, cat0 = simulate_galaxies(6, n_clumps=0, **kwargs)
    clumpy, cat8 = simulate_galaxies(6, n_clumps=8, **kwargs)
    assert (cat0['n_clumps'] == 0).all() and (cat8['n_clumps'] == 8).all()
    assert (cat0['clump_flux'] == 0).all() and (cat8['clump_flux'] > 0).all()
    assert (cat0['attempt'] == 0).all()
    # the rest of the galaxy is unchanged: same parameters, same flux
    for name in ('mag', 'r_half_disk', 'bt', 'pa', 'x_offset'):
        np.testing.assert_array_equal(cat0[name], cat8[name])
    np.testing.assert_allclose(clumpy.sum(axis=(1, 2)),
                               smooth.sum(axis=(1, 2)), rtol=0.03)
    w_smooth = starlet_transform(smooth.astype(float), 4)
    w_clumpy = starlet_transform(clumpy.astype(float), 4)
    # outside the nucleus (whose cusp dominates the finest scales and loses
    # the flux given to the clumps), the clumps add power at the scales of
    # 1-2, 2-4 and 4-8 pixels (starlet scales 1, 2 and 3)
    yy, xx = np.indices(smooth.shape[1:])
    for i in range(len(smooth)):
        cy, cx = np.unravel_index(smooth[i].argmax(), smooth.shape[1:])
        outside = np.hypot(yy - cy, xx - cx) > 4
        ratios = [(w_clumpy[i, j] ** 2)[outside].sum()
                  / (w_smooth[i, j] ** 2)[outside].sum() for j in range(3)]
        assert ratios[0] > 2 and ratios[1] > 1.2 and ratios[2] > 1.05, (
            i, ratios)


def test_select_false_keeps_first_attempt():
    _, cat = simulate_galaxies(3, stamp_size=SIZE, seed=2, select=False)
    assert (cat['attempt'] == 0).all()
    assert cat.meta['acceptance'] == 1.0


def test_parallel_gives_the_same_result():
    # a mix, so that one pool of processes checks every kind of drawing
    mix = {'bulge_disk': 2, 'irregular': 1, 'field': 1, 'crowded': 1}
    serial, cat1 = simulate_galaxies(20, stamp_size=32, seed=4,
                                     select=False, morphology=mix)
    parallel, cat2 = simulate_galaxies(20, stamp_size=32, seed=4,
                                       select=False, workers=2,
                                       morphology=mix)
    assert set(cat1['morphology']) == set(mix)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(cat1['mag'], cat2['mag'])
    np.testing.assert_array_equal(cat1['morphology'], cat2['morphology'])
    # the bulge + disk stamps of the mix are the default ones
    default, _ = simulate_galaxies(20, stamp_size=32, seed=4, select=False)
    same = cat1['morphology'] == 'bulge_disk'
    np.testing.assert_array_equal(parallel[same], default[same])


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'mag_range': (20.0, 27.0)}, ValueError, 'mag_range must lie below'),
    ({'mag_range': (24.0, 22.0)}, ValueError, 'low < high'),
    ({'n_clumps': 9}, ValueError, 'n_clumps must be <= 8'),
    ({'indices': [-1, 2]}, ValueError, 'indices must be'),
    ({'hst_noise': -1.0}, ValueError, 'hst_noise must be >= 0'),
    ({'stamp_size': 4}, ValueError, 'stamp_size must be'),
    ({'pixel_scale': 0}, ValueError, 'pixel_scale must be > 0'),
    ({'workers': 0}, ValueError, 'workers must be'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_galaxies(1, **kwargs)


def test_impossible_selection_raises(monkeypatch):
    from astrodeconv.datasets import simulate

    monkeypatch.setattr(simulate, '_MAX_ATTEMPTS', 3)
    with pytest.raises(RuntimeError, match='failed the selection'):
        simulate_galaxies(1, stamp_size=16)


def test_import_does_not_load_optional_packages():
    code = ('import sys, astrodeconv.datasets; '
            "print([m for m in ('galsim', 'torch', 'h5py') "
            'if m in sys.modules])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == '[]'
