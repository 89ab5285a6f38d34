"""Tests of the morphologies of simulate_galaxies (datasets.scenes)."""

import numpy as np
import pytest
from scipy import ndimage

from astrodeconv.datasets import MORPHOLOGIES, simulate_galaxies
from astrodeconv.utils._optional_deps import HAS_GALSIM

pytestmark = pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')

SIZE = 64
N = 3
OTHER_KINDS = [kind for kind in MORPHOLOGIES if kind != 'bulge_disk']
SELECTED = ('clumpy', 'irregular', 'merger', 'field')


@pytest.fixture(scope='module')
def drawn():
    """Noisy and noiseless stamps of every kind (seed 21)."""
    out = {}
    for kind in MORPHOLOGIES:
        noisy = simulate_galaxies(N, stamp_size=SIZE, seed=21,
                                  morphology=kind)
        clean = simulate_galaxies(N, stamp_size=SIZE, seed=21,
                                  morphology=kind, hst_noise=0.0)
        out[kind] = noisy, clean
    return out


def _simulator(**kwargs):
    from astrodeconv.datasets.simulate import _Simulator

    config = {'stamp_size': SIZE, 'pixel_scale': 0.05, 'seed': 0,
              'mag_range': (20.0, 25.5), 'hst_noise': 0.25,
              'n_clumps': None, 'select': True}
    config.update(kwargs)
    return _Simulator(**config)


def test_names():
    assert MORPHOLOGIES == ('bulge_disk', 'clumpy', 'irregular', 'merger',
                            'field', 'crowded', 'sky')


@pytest.mark.parametrize('kind', OTHER_KINDS)
def test_each_kind_draws(drawn, kind):
    (images, cat), (clean, clean_cat) = drawn[kind]
    assert images.shape == (N, SIZE, SIZE) and images.dtype == np.float32
    assert np.isfinite(images).all() and np.isfinite(clean).all()
    assert list(cat['morphology']) == [kind] * N
    assert list(cat['index']) == list(range(N))
    # noiseless stamps are non-negative up to FFT ringing
    assert clean.min() > -1e-3 * clean.max()
    assert (clean.sum(axis=(1, 2)) > 0).all() or kind == 'sky'
    # the same HST-like noise as the default galaxies
    noise = images - clean
    assert noise.std() == pytest.approx(0.25, rel=0.05)
    # the selection is made on the noiseless truth
    np.testing.assert_array_equal(cat['attempt'], clean_cat['attempt'])
    np.testing.assert_allclose(clean.sum(axis=(1, 2), dtype=float),
                               clean_cat['flux_image'], rtol=1e-5)


@pytest.mark.parametrize('kind', OTHER_KINDS)
def test_each_kind_is_reproducible(drawn, kind):
    images, cat = drawn[kind][0]
    again, cat2 = simulate_galaxies(0, stamp_size=SIZE, seed=21,
                                    morphology=kind, indices=[2, 0])
    np.testing.assert_array_equal(again, images[[2, 0]])
    np.testing.assert_array_equal(cat2['attempt'], cat['attempt'][[2, 0]])
    other, _ = simulate_galaxies(1, stamp_size=SIZE, seed=22,
                                 morphology=kind)
    assert not np.array_equal(other[0], images[0])


def test_kinds_differ_for_the_same_seed(drawn):
    firsts = [drawn[kind][0][0][0] for kind in MORPHOLOGIES]
    for i in range(len(firsts)):
        for j in range(i):
            assert not np.array_equal(firsts[i], firsts[j])


@pytest.mark.parametrize('kind', SELECTED)
def test_selection_applies_to_the_central_system(drawn, kind):
    cat = drawn[kind][1][1]
    assert (cat['mag'] < 26).all() and (cat['mag_stamp'] < 26).all()
    assert (cat['flux_radius_80'] > 10).all() and (cat['fwhm'] > 10).all()
    assert 0 < cat.meta['acceptance'] <= 1
    assert cat.meta['attempts'] == int(np.sum(cat['attempt'] + 1))
    assert np.isfinite(cat['x_offset']).all()
    assert (np.abs(cat['x_offset']) < 2).all()
    np.testing.assert_allclose(cat['mag'],
                               31.4 - 2.5 * np.log10(cat['flux']))


@pytest.mark.parametrize('kind', ['crowded', 'sky'])
def test_no_selection_for_scenes(drawn, kind):
    cat = drawn[kind][1][1]
    assert (cat['attempt'] == 0).all()
    assert cat.meta['acceptance'] == 1.0
    # no central galaxy: its parameters are NaN
    assert np.isnan(cat['x_offset']).all() and np.isnan(cat['bt']).all()
    # the selection is not applied even when asked for
    _, unselected = simulate_galaxies(N, stamp_size=SIZE, seed=21,
                                      morphology=kind, hst_noise=0.0,
                                      select=False)
    np.testing.assert_array_equal(unselected['flux_image'],
                                  cat['flux_image'])


def test_catalogue_of_scenes(drawn):
    merger = drawn['merger'][1][1]
    assert set(merger['n_objects']) <= {2, 3}
    assert ((merger['flux_ratio'] >= 1) & (merger['flux_ratio'] <= 5)).all()
    field = drawn['field'][1][1]
    assert ((field['n_objects'] >= 2) & (field['n_objects'] <= 5)).all()
    assert ((field['n_stars'] >= 0) & (field['n_stars'] <= 3)).all()
    # neighbours and stars add flux to the central galaxy's
    assert (field['flux_image'] > field['flux_stamp']).all()
    sky = drawn['sky'][1][1]
    assert ((sky['n_objects'] + sky['n_stars']) <= 3).all()
    for kind in ('clumpy', 'irregular'):
        cat = drawn[kind][1][1]
        assert (cat['n_objects'] == 1).all() and (cat['n_stars'] == 0).all()
        assert (cat['n_clumps'] >= 5).all()
        assert ((cat['clump_flux'] > 0.15 * cat['flux_disk'])
                & (cat['clump_flux'] < 0.85 * cat['flux'])).all()


@pytest.mark.parametrize('kind', ['clumpy', 'irregular', 'merger'])
def test_flux_is_conserved(kind):
    # a 6.4" stamp holds nearly all the flux (templates of knots miss the
    # PSF wings beyond 1.6", ~1%)
    images, cat = simulate_galaxies(2, seed=3, morphology=kind,
                                    hst_noise=0.0)
    total = images.sum(axis=(1, 2), dtype=float)
    np.testing.assert_allclose(total, cat['flux'], rtol=0.06)


def _n_sources(image, threshold=1.0):
    """Separate regions above ``threshold`` nJy/pixel (3 pixels or more)."""
    labels, n = ndimage.label(image > threshold)
    sizes = np.bincount(labels.ravel())[1:]
    return int(np.count_nonzero(sizes >= 3))


def test_crowded_has_many_more_sources():
    kwargs = {'stamp_size': 128, 'seed': 8, 'hst_noise': 0.0}
    crowded, cat = simulate_galaxies(3, morphology='crowded', **kwargs)
    single, _ = simulate_galaxies(3, **kwargs)
    n_crowded = [_n_sources(image) for image in crowded]
    n_single = [_n_sources(image) for image in single]
    assert max(n_single) <= 2
    assert np.mean(n_crowded) > 4 * np.mean(n_single)
    assert min(n_crowded) >= 4
    assert (cat['n_objects'] >= 5).all() and (cat['n_objects'] <= 40).all()


def test_sky_has_much_lower_flux(drawn):
    sky = drawn['sky'][1][1]['flux_image']
    galaxies = drawn['bulge_disk'][1][1]['flux_image']
    assert np.median(sky) < 0.1 * np.median(galaxies)
    # 0 to 3 objects fainter than magnitude 26.5 each
    assert (sky < 3 * 10 ** ((31.4 - 26.5) / 2.5)).all()


def test_mix_follows_the_probabilities():
    weights = {'sky': 0.75, 'irregular': 0.25}
    _, cat = simulate_galaxies(40, stamp_size=32, seed=5, select=False,
                               morphology=weights)
    n_irregular = int(np.count_nonzero(cat['morphology'] == 'irregular'))
    assert 4 <= n_irregular <= 17           # 10 +- 2.5 sigma
    assert set(cat['morphology']) == {'sky', 'irregular'}
    # the kind picker on many indices (nothing drawn)
    from astrodeconv.datasets.simulate import _check_morphology

    mix = {'clumpy': 2.0, 'merger': 1.0, 'crowded': 1.0}
    sim = _simulator(morphology=_check_morphology(mix))
    kinds = np.array([sim.kind(i) for i in range(4000)])
    for name, weight in mix.items():
        assert np.mean(kinds == name) == pytest.approx(weight / 4, abs=0.03)
    assert set(kinds) == set(mix)
    sim = _simulator(morphology=_check_morphology(['sky', 'sky', 'field']))
    kinds = np.array([sim.kind(i) for i in range(3000)])
    assert np.mean(kinds == 'sky') == pytest.approx(2 / 3, abs=0.03)


def test_stamp_of_a_mix_equals_the_stamp_of_its_kind():
    kwargs = {'stamp_size': 32, 'seed': 6, 'select': False}
    mixed, cat = simulate_galaxies(6, morphology=['bulge_disk', 'clumpy'],
                                   **kwargs)
    assert set(cat['morphology']) == {'bulge_disk', 'clumpy'}
    for kind in ('bulge_disk', 'clumpy'):
        alone, _ = simulate_galaxies(6, morphology=kind, **kwargs)
        same = cat['morphology'] == kind
        np.testing.assert_array_equal(mixed[same], alone[same])
    # a single kind given as a dict or a list is that kind
    alone, _ = simulate_galaxies(2, morphology='clumpy', **kwargs)
    for spec in ({'clumpy': 3.0, 'sky': 0.0}, ['clumpy']):
        again, _ = simulate_galaxies(2, morphology=spec, **kwargs)
        np.testing.assert_array_equal(again, alone)


# (workers > 1 with a mix: test_parallel_gives_the_same_result in
# test_datasets_simulate.py, one pool of processes for both)


@pytest.mark.parametrize('value', [
    'spiral', '', 3, None, [], (), ['clumpy', 5], {'spiral': 1.0},
    {'clumpy': -1.0}, {'clumpy': 0.0}, {'clumpy': float('nan')},
    {'clumpy': 'a lot'}, {'clumpy': True}, {}])
def test_bad_morphology(value):
    with pytest.raises(ValueError, match='morphology'):
        simulate_galaxies(1, stamp_size=32, morphology=value)


@pytest.mark.parametrize('size', [SIZE, 33])
def test_templates_match_galsim(size):
    import galsim

    from astrodeconv.datasets.scenes import _KNOT_FWHM

    sim = _simulator(stamp_size=size)
    # at quarter-pixel positions, a knot from the templates is the GalSim
    # drawing of the same profile
    for t, knot in [(0, None), (4, galsim.Gaussian(fwhm=_KNOT_FWHM[3]))]:
        profile = sim.psf if knot is None else galsim.Convolve(
            [knot, sim.psf])
        for dx, dy in [(0.0, 0.0), (0.0375, -0.0625), (-0.4, 0.3)]:
            expected = profile.withFlux(100.0).shift(dx, dy).drawImage(
                nx=size, ny=size, scale=0.05).array
            array = np.zeros((size, size))
            sim.templates.add(array, np.array([[dx, dy, 100.0, t]]))
            assert np.abs(array - expected).max() < 1e-3 * expected.max()
    # a knot centred outside the stamp adds only what falls inside
    array = np.zeros((size, size))
    outside = size * 0.05 / 2 + 1.0         # 20 pixels beyond the edge
    sim.templates.add(array, np.array([[outside, 0.0, 100.0, 0]]))
    assert 0 < array.sum() < 1


def test_objects_on_sub_images_match_galsim():
    import galsim

    from astrodeconv.datasets.scenes import _Parts

    sim = _simulator()
    galaxy = galsim.Exponential(half_light_radius=0.3, flux=100.0).shear(
        q=0.5, beta=30 * galsim.degrees)
    # in the stamp, and across its edge
    for dx, dy in [(0.3, -0.5), (1.5, 0.2), (-1.2, -1.7)]:
        image = galsim.ImageF(SIZE, SIZE, scale=0.05)
        sim._add_object(image, _Parts(galaxy), dx, dy)
        expected = galsim.Convolve([galaxy.shift(dx, dy), sim.psf]).drawImage(
            nx=SIZE, ny=SIZE, scale=0.05).array
        # (the sub-image cuts the far wings: 0.2% of the peak or less)
        assert np.abs(image.array - expected).max() < 5e-3 * expected.max()


def test_parts_move_profile_and_knots_together():
    import galsim

    from astrodeconv.datasets.scenes import _Parts, _rotation_matrix

    sim = _simulator()
    blob = galsim.Gaussian(fwhm=0.1, flux=100.0).shift(0.5, 0.1)
    knot = np.array([[0.5, 0.1, 100.0, 0.0]])
    moved = _Parts(blob, knot).transform(_rotation_matrix(np.radians(50)))
    moved = moved.transform(galsim.Shear(g=0.3, beta=20 * galsim.degrees)
                            .getMatrix()).shift(-0.2, 0.35)
    smooth = galsim.Convolve([moved.profile, sim.psf]).drawImage(
        nx=SIZE, ny=SIZE, scale=0.05).array
    points = np.zeros((SIZE, SIZE))
    sim.templates.add(points, moved.knots)
    a = np.array(ndimage.center_of_mass(smooth))
    b = np.array(ndimage.center_of_mass(points))
    # knots are placed at the nearest quarter of a pixel
    assert np.abs(a - b).max() < 0.15
    assert moved.flux == pytest.approx(200.0)
