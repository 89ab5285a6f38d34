"""Tests of the SED weights in astrodeconv.multiband.sed."""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from specutils import Spectrum

from astrodeconv.multiband import (Band, flux_fractions, get_band,
                                   sed_weight_maps, sed_weights)
from astrodeconv.utils._optional_deps import HAS_GALSIM
from astrodeconv.utils.exceptions import AstrodeconvWarning

#: A fine wavelength grid (nm) for the box throughputs of the tests.
GRID = np.round(np.arange(400.0, 1000.001, 0.05), 4)
SCALES = {'pixel_scale': 0.2 * u.arcsec, 'fwhm': 0.8 * u.arcsec}
EDGES = [(500, 650), (650, 800), (800, 900)]


def band(values, name='b'):
    return Band(name, 'test', throughput=(GRID * u.nm, values), **SCALES)


def box(low, high, height=1.0, name='box'):
    """A band of throughput ``height`` on [low, high] nm, 0 elsewhere."""
    return band(np.where((GRID >= low) & (GRID <= high), height, 0.0), name)


def narrow_boxes(edges=EDGES):
    return [box(low, high, name=f'n{low}') for low, high in edges]


def ramp_broad():
    """The broad band T = lambda / 1000 on [500, 900] nm."""
    inside = (GRID >= 500) & (GRID <= 900)
    return band(np.where(inside, GRID / 1000, 0.0), 'broad')


def power_law(alpha, wave=GRID):
    """f_nu proportional to lambda**alpha, in nJy."""
    return Spectrum(flux=(wave / 700) ** alpha * u.nJy,
                    spectral_axis=wave * u.nm)


def test_flat_weights_are_log_ratios():
    weights = sed_weights(narrow_boxes(), box(500, 900, 0.5))
    expected = np.log([650 / 500, 800 / 650, 900 / 800]) / np.log(900 / 500)
    np.testing.assert_allclose(weights, expected, rtol=1e-3)
    assert weights.shape == (3,)
    assert weights.sum() == pytest.approx(1, abs=1e-12)


def test_flat_weights_with_a_sloped_broad_band():
    # T_broad = lambda / 1000: int T dlambda / lambda = (b - a) / 1000
    weights = sed_weights(narrow_boxes(), ramp_broad())
    expected = [(high - low) / 400 for low, high in EDGES]
    np.testing.assert_allclose(weights, expected, rtol=1e-3)


def test_power_law_weights_by_hand():
    # f_nu = lambda^2, T_broad = lambda / 1000, boxes of height 1:
    # fraction_b = (b^3 - a^3) / (B^3 - A^3),
    # F_broad = (B^3 - A^3) / (3 (B - A)), F_b = (b^2 - a^2) / (2 ln(b / a))
    spectrum = power_law(2)
    bands, broad = narrow_boxes(), ramp_broad()
    fractions = flux_fractions(spectrum, bands, broad)
    expected_fractions = [(b**3 - a**3) / (900**3 - 500**3) for a, b in EDGES]
    np.testing.assert_allclose(fractions, expected_fractions, rtol=1e-3)
    weights = sed_weights(bands, broad, spectrum=spectrum)
    expected = [2 * (b**3 - a**3) * np.log(b / a) / (3 * 400 * (b**2 - a**2))
                for a, b in EDGES]
    np.testing.assert_allclose(weights, expected, rtol=1e-3)
    # the weights depend on the SED
    assert not np.allclose(weights, sed_weights(bands, broad), rtol=1e-3)


@pytest.mark.parametrize('alpha', [2, -1.5])
def test_broad_flux_is_the_weighted_sum(alpha):
    spectrum = power_law(alpha)
    bands, broad = narrow_boxes(), ramp_broad()
    weights = sed_weights(bands, broad, spectrum=spectrum)
    narrow = u.Quantity([b.mean_flux_density(spectrum) for b in bands])
    total = np.sum(weights * narrow)
    assert total.unit == u.nJy
    assert total.value == pytest.approx(
        broad.mean_flux_density(spectrum).value, rel=1e-6)


def test_f_lambda_spectrum_gives_the_same_weights():
    spectrum = power_law(2)
    f_lambda = spectrum.flux.to(u.erg / u.s / u.cm**2 / u.AA,
                                u.spectral_density(spectrum.spectral_axis))
    converted = Spectrum(flux=f_lambda, spectral_axis=GRID * u.nm)
    bands, broad = narrow_boxes(), ramp_broad()
    np.testing.assert_allclose(
        sed_weights(bands, broad, spectrum=converted),
        sed_weights(bands, broad, spectrum=spectrum), rtol=1e-6)


def test_flat_spectrum_equals_the_default():
    flat = Spectrum(flux=np.full(GRID.size, 5.0) * u.uJy,
                    spectral_axis=GRID * u.nm)
    bands, broad = narrow_boxes(), ramp_broad()
    default = sed_weights(bands, broad)
    np.testing.assert_allclose(sed_weights(bands, broad, spectrum=flat),
                               default, rtol=1e-9)
    np.testing.assert_allclose(flux_fractions(flat, bands, broad), default,
                               rtol=1e-9)


def test_gap_warns_and_fractions_sum_to_the_covered_part():
    bands = narrow_boxes([(500, 650), (800, 900)])
    broad = box(500, 900)
    covered = np.log(650 / 500 * 900 / 800) / np.log(900 / 500)
    with pytest.warns(AstrodeconvWarning, match=r'bands cover only 64\.7% '
                                                r"of the flux of broad_band "
                                                r"'test_box'"):
        weights = sed_weights(bands, broad)
    assert weights.sum() == pytest.approx(covered, rel=1e-3)
    with pytest.warns(AstrodeconvWarning, match='Add bands that fill'):
        fractions = flux_fractions(power_law(1), bands, broad)
    assert fractions.sum() == pytest.approx((650 - 500 + 900 - 800) / 400,
                                            rel=1e-3)


def test_warnings_point_to_the_caller():
    bands = narrow_boxes([(500, 650), (800, 900)])
    with pytest.warns(AstrodeconvWarning) as record:
        sed_weights(bands, box(500, 900), spectrum=power_law(1))
        flux_fractions(power_law(1), bands, box(500, 900))
    assert [w.filename for w in record] == [__file__, __file__]


def test_no_warning_when_covered():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        sed_weights(narrow_boxes(), box(500, 900))


@pytest.mark.parametrize('height', [1.0, 0.5])
def test_overlapping_bands_share_the_flux(height):
    bands = [box(500, 750, name='a'), box(650, 900, height, name='b')]
    weights = sed_weights(bands, box(500, 900))
    share_a = 1 / (1 + height)  # p_a = T_a / (T_a + T_b) in the overlap
    expected = np.array([
        np.log(650 / 500) + share_a * np.log(750 / 650),
        (1 - share_a) * np.log(750 / 650) + np.log(900 / 750),
    ]) / np.log(900 / 500)
    np.testing.assert_allclose(weights, expected, rtol=1e-3)


def test_band_order_does_not_matter():
    bands, broad = narrow_boxes(), ramp_broad()
    spectrum = power_law(-1)
    forward = sed_weights(bands, broad, spectrum=spectrum)
    backward = sed_weights(bands[::-1], broad, spectrum=spectrum)
    np.testing.assert_allclose(backward[::-1], forward, rtol=1e-12)


def test_bad_inputs():
    bands, broad = narrow_boxes(), ramp_broad()
    with pytest.raises(TypeError, match='bands must be a non-empty list'):
        sed_weights(bands[0], broad)
    with pytest.raises(ValueError, match='bands must be a non-empty list'):
        sed_weights([], broad)
    with pytest.raises(TypeError, match=r'bands\[1\] must be a Band, got '
                                        r'str'):
        sed_weights([bands[0], 'rubin_r'], broad)
    with pytest.raises(TypeError, match='broad_band must be a Band'):
        sed_weights(bands, 'euclid_vis')
    with pytest.raises(TypeError, match='spectrum must be a specutils'):
        sed_weights(bands, broad, spectrum=np.ones(10))
    with pytest.raises(TypeError, match='spectrum must be a specutils'):
        flux_fractions(None, bands, broad)
    short = power_law(0, np.arange(550.0, 1000.0))
    with pytest.raises(ValueError, match="spectrum must cover broad_band "
                                         "'test_broad'"):
        flux_fractions(short, bands, broad)
    ratio = Spectrum(flux=np.ones(GRID.size) * u.one,
                     spectral_axis=GRID * u.nm)
    with pytest.raises(u.UnitsError, match='spectrum flux must be a flux '
                                           'density'):
        sed_weights(bands, broad, spectrum=ratio)
    dark = Spectrum(flux=np.zeros(GRID.size) * u.Jy,
                    spectral_axis=GRID * u.nm)
    with pytest.raises(ValueError, match='spectrum must have a positive '
                                         'flux in broad_band'):
        sed_weights(bands, broad, spectrum=dark)
    with pytest.raises(TypeError, match='positional'):
        sed_weights(bands, broad, power_law(0))


# -- built-in bands ----------------------------------------------------------

@pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
def test_rubin_riz_weights_for_euclid_vis():
    bands = [get_band(f'rubin_{b}') for b in 'riz']
    vis = get_band('euclid_vis')
    weights = sed_weights(bands, vis)
    print('sed_weights(rubin r, i, z -> euclid_vis, flat f_nu):', weights)
    assert np.all(weights > 0)
    assert weights.sum() == pytest.approx(1, abs=0.03)
    # redder spectra give more weight to the red end of VIS
    red = sed_weights(bands, vis, spectrum=power_law(2, np.arange(300.0,
                                                                  1200.0)))
    assert red[0] < weights[0] and red[2] > weights[2] * 0.95


# -- per-pixel weight maps ---------------------------------------------------

def model_sed(bands, values, wave=GRID):
    """The power law between the pivots (constant beyond) of the maps."""
    pivots = np.array([b.pivot_wavelength.value for b in bands])
    log_flux = np.interp(np.log(wave), np.log(pivots), np.log(values))
    return Spectrum(flux=np.exp(log_flux) * u.nJy, spectral_axis=wave * u.nm)


def test_flat_colours_give_the_flat_weights():
    bands, broad = narrow_boxes(), ramp_broad()
    images = [np.full((6, 7), 3.0) for _ in bands]
    maps = sed_weight_maps(images, bands, broad)
    assert maps.shape == (3, 6, 7)
    expected = sed_weights(bands, broad)
    np.testing.assert_allclose(maps, expected[:, None, None] *
                               np.ones((3, 6, 7)), rtol=1e-10)


def test_constant_colours_give_the_weights_of_their_power_law():
    bands, broad = narrow_boxes(), ramp_broad()
    spectrum = power_law(2)
    fluxes = u.Quantity([b.mean_flux_density(spectrum) for b in bands]).value
    images = [np.full((3, 4), flux) for flux in fluxes]
    maps = sed_weight_maps(images, bands, broad)
    assert np.ptp(maps, axis=(1, 2)).max() < 1e-12
    # exactly the weights of the SED model through the pivots ...
    np.testing.assert_allclose(
        maps[:, 0, 0],
        sed_weights(bands, broad, spectrum=model_sed(bands, fluxes)),
        rtol=1e-5)
    # ... which are close to those of the power law itself
    np.testing.assert_allclose(
        maps[:, 0, 0], sed_weights(bands, broad, spectrum=spectrum),
        rtol=1e-2)


def test_blue_and_red_regions_get_their_own_weights():
    bands, broad = narrow_boxes(), ramp_broad()
    blue, red = [9.0, 3.0, 1.0], [1.0, 3.0, 9.0]
    images = [np.hstack([np.full((4, 3), b), np.full((4, 3), r)])
              for b, r in zip(blue, red)]
    # noise-free images: a small error keeps every pixel's own colours
    maps = sed_weight_maps(images, bands, broad, error=[1e-3] * 3)
    for columns, values in [(slice(0, 3), blue), (slice(3, 6), red)]:
        expected = sed_weights(bands, broad,
                               spectrum=model_sed(bands, values))
        np.testing.assert_allclose(
            maps[:, :, columns],
            np.broadcast_to(expected[:, None, None], (3, 4, 3)), rtol=1e-5)
    assert np.all(np.abs(maps[:, 0, 0] - maps[:, 0, 5]) > 1e-3)
    # the bands may come in any order
    shuffled = sed_weight_maps([images[i] for i in (2, 0, 1)],
                               [bands[i] for i in (2, 0, 1)], broad,
                               error=[1e-3] * 3)
    np.testing.assert_allclose(shuffled, maps[[2, 0, 1]], rtol=1e-12)
    # the weights turn the narrow bands into the broad-band flux
    for column, values in [(0, blue), (5, red)]:
        model = model_sed(bands, values)
        narrow = [b.mean_flux_density(model).value for b in bands]
        assert np.sum(maps[:, 0, column] * narrow) == pytest.approx(
            broad.mean_flux_density(model).value, rel=1e-5)


def test_faint_pixels_get_the_global_colours():
    bands, broad = narrow_boxes(), ramp_broad()
    images = [np.full((5, 5), v) for v in (4.0, 2.0, 1.0)]
    images[0][0, 0] = -1.0   # negative in one band
    images[1][0, 1] = np.nan  # not finite
    images[2][0, 2] = 0.05    # below snr_floor * error
    error = [0.01, 0.01, 0.1]
    maps = sed_weight_maps(images, bands, broad, error=error)
    totals = [np.nansum(image) for image in images]
    global_weights = sed_weight_maps([np.full((1, 1), t) for t in totals],
                                     bands, broad)[:, 0, 0]
    for column in range(3):
        np.testing.assert_allclose(maps[:, 0, column], global_weights,
                                   rtol=1e-12)
    own = sed_weight_maps([np.full((1, 1), v) for v in (4.0, 2.0, 1.0)],
                          bands, broad)[:, 0, 0]
    np.testing.assert_allclose(maps[:, 3, 3], own, rtol=1e-12)
    assert not np.allclose(own, global_weights, rtol=1e-4)
    # with snr_floor=0, the faint but positive pixel keeps its colours
    maps = sed_weight_maps(images, bands, broad, error=error, snr_floor=0)
    assert not np.allclose(maps[:, 0, 2], global_weights, rtol=1e-4)
    # noise maps work as well as numbers
    maps = sed_weight_maps(images, bands, broad,
                           error=[np.full((5, 5), e) for e in error])
    np.testing.assert_allclose(maps[:, 0, 2], global_weights, rtol=1e-12)


def test_default_noise_is_estimated_from_the_images():
    bands, broad = narrow_boxes(), ramp_broad()
    rng = np.random.default_rng(3)
    images = [rng.normal(0, 1, (40, 40)) for _ in bands]
    for image, flux in zip(images, (50.0, 100.0, 200.0)):
        image[20, 20] += flux
        image[:] += 0.02  # a positive total flux
    maps = sed_weight_maps(images, bands, broad)
    bright = sed_weight_maps([image[20:21, 20:21] for image in images],
                             bands, broad, snr_floor=0)
    np.testing.assert_allclose(maps[:, 20, 20], bright[:, 0, 0])
    # the sky pixels all share the global weights
    sky = maps[:, :10, :10].reshape(3, -1)
    assert np.ptp(sky, axis=1).max() < 1e-12


def test_quantity_and_nddata_images():
    bands, broad = narrow_boxes(), ramp_broad()
    values = [np.full((2, 3), v) for v in (1.0, 2.0, 5.0)]
    expected = sed_weight_maps(values, bands, broad)
    quantities = [values[0] * u.nJy, (values[1] * u.nJy).to(u.uJy),
                  NDData(values[2], unit=u.nJy)]
    np.testing.assert_allclose(sed_weight_maps(quantities, bands, broad),
                               expected, rtol=1e-12)
    maps = sed_weight_maps(quantities, bands, broad,
                           error=[0.1 * u.nJy, 1e-4 * u.uJy, 0.1])
    np.testing.assert_allclose(maps, expected, rtol=1e-12)
    stacked = sed_weight_maps(np.array(values), bands, broad)
    np.testing.assert_allclose(stacked, expected, rtol=1e-12)


def test_sed_weight_maps_bad_inputs():
    bands, broad = narrow_boxes(), ramp_broad()
    good = [np.ones((3, 3)) for _ in bands]
    with pytest.raises(TypeError, match='images must be a list or tuple'):
        sed_weight_maps(iter(good), bands, broad)
    with pytest.raises(ValueError, match='images must hold one image per '
                                         'band, got 2 images for 3 bands'):
        sed_weight_maps(good[:2], bands, broad)
    with pytest.raises(ValueError, match='images must all have the same '
                                         'shape'):
        sed_weight_maps([*good[:2], np.ones((3, 4))], bands, broad)
    with pytest.raises(ValueError, match=r'images\[1\] must be 2D, got '
                                         r'shape \(3,\)'):
        sed_weight_maps([good[0], np.ones(3), good[2]], bands, broad)
    with pytest.raises(TypeError, match=r'images\[2\] must be a 2D array'):
        sed_weight_maps([*good[:2], 'image'], bands, broad)
    with pytest.raises(u.UnitsError, match='images must share one flux '
                                           'unit'):
        sed_weight_maps([good[0] * u.nJy, good[1] * u.nJy, good[2]], bands,
                        broad)
    with pytest.raises(u.UnitsError, match='images must share one flux '
                                           'unit'):
        sed_weight_maps([g * unit for g, unit in zip(good, (u.nJy, u.nJy,
                                                            u.m))],
                        bands, broad)
    with pytest.raises(TypeError, match=r'bands\[0\] must be a Band'):
        sed_weight_maps(good, ['r', 'i', 'z'], broad)
    with pytest.raises(TypeError, match='broad_band must be a Band'):
        sed_weight_maps(good, bands, None)
    with pytest.raises(ValueError, match='snr_floor must be >= 0'):
        sed_weight_maps(good, bands, broad, snr_floor=-1)
    with pytest.raises(TypeError, match='snr_floor must be a real number'):
        sed_weight_maps(good, bands, broad, snr_floor='3')
    with pytest.raises(ValueError, match='error must be a list or tuple '
                                         'with one 1-sigma value'):
        sed_weight_maps(good, bands, broad, error=[1.0])
    with pytest.raises(ValueError, match=r'error\[1\] must be a number or '
                                         r'a map of the images'):
        sed_weight_maps(good, bands, broad,
                        error=[1.0, np.ones((2, 2)), 1.0])
    with pytest.raises(ValueError, match=r'error\[2\] must be >= 0'):
        sed_weight_maps(good, bands, broad, error=[1.0, 1.0, -1.0])
    with pytest.raises(u.UnitsError, match=r"error\[0\] must have the "
                                           r"images' unit"):
        sed_weight_maps(good, bands, broad, error=[1 * u.nJy, 1.0, 1.0])
    with pytest.raises(ValueError, match='bands must have distinct pivot'):
        sed_weight_maps(good, [bands[0], bands[0], bands[1]], broad)
    dark = [np.zeros((3, 3)) for _ in bands]
    with pytest.raises(ValueError, match='images must have positive total '
                                         'fluxes'):
        sed_weight_maps(dark, bands, broad)
