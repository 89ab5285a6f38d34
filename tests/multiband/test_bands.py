"""Tests of the photometric bands in astrodeconv.multiband.bands."""

import subprocess
import sys

import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u
from astropy.table import Table
from scipy.integrate import trapezoid
from specutils import Spectrum

from astrodeconv.multiband import Band, get_band, list_bands
from astrodeconv.utils._optional_deps import HAS_GALSIM

needs_galsim = pytest.mark.skipif(not HAS_GALSIM,
                                  reason='galsim is required')

#: A fine wavelength grid (nm) for the box throughputs of the tests.
GRID = np.round(np.arange(400.0, 1000.001, 0.05), 4)
SCALES = {'pixel_scale': 0.2 * u.arcsec, 'fwhm': 0.8 * u.arcsec}
GALSIM_KEYS = [key for key in list_bands()
               if key.startswith(('rubin', 'hst'))]
ANALYTIC_KEYS = [key for key in list_bands() if key not in GALSIM_KEYS]


def box(low, high, height=1.0, name='box'):
    """A band of throughput ``height`` on [low, high] nm, 0 elsewhere."""
    values = np.where((GRID >= low) & (GRID <= high), height, 0.0)
    return Band(name, 'test', throughput=(GRID * u.nm, values), **SCALES)


def spectrum(flux, wave=GRID * u.nm, **kwargs):
    return Spectrum(flux=flux, spectral_axis=wave, **kwargs)


def test_box_band_properties():
    band = box(500, 700, 0.8, name='Box R')
    assert band.key == 'test_box_r'
    assert (band.name, band.survey) == ('Box R', 'test')
    expected = np.sqrt((700**2 - 500**2) / 2 / np.log(700 / 500))
    assert band.pivot_wavelength.unit == u.nm
    assert band.pivot_wavelength.value == pytest.approx(expected, rel=1e-5)
    low, high = band.wavelength_range.to_value(u.nm)
    assert low == pytest.approx(500, abs=0.05)
    assert high == pytest.approx(700, abs=0.05)
    assert band.pixel_scale == 0.2 * u.arcsec
    assert band.fwhm == 0.8 * u.arcsec
    assert band.fwhm_pixels == pytest.approx(4.0)
    assert band.zero_point is None
    curve = band.throughput
    assert isinstance(curve, Spectrum)
    np.testing.assert_allclose(curve.spectral_axis.to_value(u.nm), GRID)
    assert curve.flux.max() == 0.8
    text = repr(band)
    assert text.startswith("<Band(name='Box R', survey='test'")
    assert 'pixel_scale=0.2 arcsec' in text
    assert 'pivot_wavelength=597.2 nm' in text


def test_wavelength_range_interpolates_the_one_percent_crossings():
    wave = [500, 600, 700, 800] * u.nm
    band = Band('tri', 'test', throughput=(wave, [0.0, 1.0, 1.0, 0.0]),
                **SCALES)
    np.testing.assert_allclose(band.wavelength_range.value, [501, 799])


def test_wavelength_range_of_a_single_peak():
    wave = [500, 600, 700, 800] * u.nm
    band = Band('peak', 'test', throughput=(wave, [1.0, 0.0, 0.0, 0.0]),
                **SCALES)
    np.testing.assert_allclose(band.wavelength_range.value, [500, 599])
    band = Band('peak', 'test', throughput=(wave, [0.0, 0.0, 0.0, 1.0]),
                **SCALES)
    np.testing.assert_allclose(band.wavelength_range.value, [701, 800])


def test_get_band_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    from astrodeconv.multiband import bands

    bands._CACHE.pop('vlt_fors2_r', None)  # build it in the threads
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(get_band, ['vlt_fors2_r'] * 8))
    assert all(band is found[0] for band in found)


def test_throughput_spectrum_in_angstrom_and_percent():
    values = np.where((GRID >= 500) & (GRID <= 700), 80.0, 0.0)
    curve = spectrum(values * u.percent, GRID * 10 * u.AA)
    band = Band('b', 's', throughput=curve, **SCALES)
    np.testing.assert_allclose(band.throughput.flux.value.max(), 0.8)
    assert band.pivot_wavelength.value == pytest.approx(
        box(500, 700).pivot_wavelength.value)


@pytest.mark.parametrize('zero_point', [25.5, 25.5 * u.mag, 25.5 * u.ABmag,
                                        np.float32(25.5)])
def test_zero_point_forms(zero_point):
    band = Band('b', 's', throughput=(GRID * u.nm, np.ones(GRID.size)),
                zero_point=zero_point, **SCALES)
    assert band.zero_point == 25.5
    assert isinstance(band.zero_point, float)


@pytest.mark.parametrize('wave, values, error, match', [
    ([500, 600, 600, 700] * u.nm, [0, 1, 1, 0], ValueError,
     'strictly increasing'),
    ([700, 600, 500] * u.nm, [0, 1, 0], ValueError, 'strictly increasing'),
    ([500, 600, 700] * u.nm, [0, -0.1, 0.5], ValueError, r'in \[0, 1\]'),
    ([500, 600, 700] * u.nm, [0, 85, 0], ValueError, 'percentages'),
    ([500, 600, 700] * u.nm, [0, 0, 0], ValueError, 'positive peak'),
    ([500, 600, 700] * u.nm, [0, np.nan, 0], ValueError, 'finite'),
    ([500, 600] * u.nm, [1, 1], ValueError, 'at least 3 samples'),
    ([500, 600, 700] * u.nm, [0, 1], ValueError, 'one value per'),
    ([500, 600, 700], [0, 1, 0], TypeError, 'wavelengths must be a Quantity'),
    ([500, 600, 700] * u.s, [0, 1, 0], u.UnitsError, 'length unit'),
    ([500, 600, 700] * u.nm, [0, 1, 0] * u.Jy, u.UnitsError,
     'dimensionless'),
])
def test_bad_throughput(wave, values, error, match):
    with pytest.raises(error, match=f'throughput .*{match}'):
        Band('b', 's', throughput=(wave, values), **SCALES)


def test_bad_throughput_kinds():
    with pytest.raises(TypeError, match='throughput must be a specutils'):
        Band('b', 's', throughput=np.ones(5), **SCALES)
    curve = spectrum(np.ones((2, GRID.size)) * u.one)
    with pytest.raises(ValueError, match='throughput must be 1D'):
        Band('b', 's', throughput=curve, **SCALES)
    masked = spectrum(np.ones(GRID.size) * u.one,
                      mask=np.arange(GRID.size) == 3)
    with pytest.raises(ValueError, match='throughput must have no masked'):
        Band('b', 's', throughput=masked, **SCALES)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'pixel_scale': 0.2}, TypeError, 'pixel_scale must be an angular'),
    ({'pixel_scale': 0.2 * u.m}, u.UnitsError, 'pixel_scale must have'),
    ({'pixel_scale': -0.2 * u.arcsec}, ValueError, 'pixel_scale must be a'),
    ({'fwhm': 0.8}, TypeError, 'fwhm must be an angle Quantity'),
    ({'fwhm': 0.8 * u.nm}, u.UnitsError, 'fwhm must have angular units'),
    ({'fwhm': [0.8, 0.9] * u.arcsec}, ValueError, 'fwhm must be a scalar'),
    ({'fwhm': 0 * u.arcsec}, ValueError, 'fwhm must be a finite positive'),
    ({'zero_point': '25'}, TypeError, 'zero_point must be a number'),
    ({'zero_point': 25 * u.Jy}, u.UnitsError, 'zero_point must be a'),
    ({'zero_point': np.inf}, ValueError, 'zero_point must be finite'),
    ({'instrument': None}, TypeError, 'instrument must be a str'),
])
def test_bad_band_parameters(kwargs, error, match):
    parameters = {**SCALES, 'throughput': (GRID * u.nm, np.ones(GRID.size)),
                  **kwargs}
    with pytest.raises(error, match=match):
        Band('b', 's', **parameters)


def test_bad_names():
    curve = (GRID * u.nm, np.ones(GRID.size))
    with pytest.raises(ValueError, match='name must be a non-empty str'):
        Band(' ', 's', throughput=curve, **SCALES)
    with pytest.raises(TypeError, match='survey must be a str'):
        Band('b', 3, throughput=curve, **SCALES)


def test_from_file_ascii_round_trip(tmp_path):
    band = box(520, 680, 0.7)
    path = tmp_path / 'curve.dat'
    lines = ['# a curve in Angstrom', '# lambda T']
    lines += [f'{w * 10:.2f} {t:.4f}' for w, t in zip(GRID, band._values)]
    path.write_text('\n'.join(lines) + '\n')
    loaded = Band.from_file(path, 'b', 's', wavelength_unit=u.AA,
                            zero_point=24.0, instrument='cam', **SCALES)
    np.testing.assert_allclose(loaded.throughput.spectral_axis.value, GRID)
    np.testing.assert_allclose(loaded.throughput.flux.value, band._values)
    assert loaded.pivot_wavelength.value == pytest.approx(
        band.pivot_wavelength.value, rel=1e-9)
    assert loaded.throughput_source == str(path)
    assert (loaded.zero_point, loaded.instrument) == (24.0, 'cam')
    in_nm = Band.from_file(str(path), 'b', 's', throughput_source='x',
                           **SCALES)
    assert in_nm.pivot_wavelength.value == pytest.approx(
        10 * band.pivot_wavelength.value, rel=1e-9)
    assert in_nm.throughput_source == 'x'


@pytest.mark.parametrize('suffix, kind, unit', [
    ('.fits', 'fits', u.percent), ('.xml', 'votable', u.one)])
def test_from_file_tables(tmp_path, suffix, kind, unit):
    band = box(520, 680, 0.7)
    table = Table([GRID / 1000 * u.um, (band._values * u.one).to(unit)],
                  names=['WAVELENGTH', 'THROUGHPUT'])
    path = tmp_path / f'curve{suffix}'
    table.write(path, format=kind)
    # the unit of the table's wavelength column wins over wavelength_unit
    loaded = Band.from_file(path, 'b', 's', wavelength_unit=u.AA, **SCALES)
    np.testing.assert_allclose(loaded.throughput.flux.value, band._values)
    assert loaded.pivot_wavelength.value == pytest.approx(
        band.pivot_wavelength.value, rel=1e-9)


def test_from_file_errors(tmp_path):
    path = tmp_path / 'bad.txt'
    path.write_text('# wavelength throughput\n500 0.1\n600 high\n')
    with pytest.raises(ValueError, match='path must be a text file of two'):
        Band.from_file(path, 'b', 's', **SCALES)
    with pytest.raises(u.UnitsError, match='wavelength_unit must be a '
                                           'length unit'):
        Band.from_file(path, 'b', 's', wavelength_unit=u.s, **SCALES)
    with pytest.raises(TypeError, match='path must be a str or path-like'):
        Band.from_file(3.5, 'b', 's', **SCALES)
    with pytest.raises(FileNotFoundError):
        Band.from_file(tmp_path / 'missing.dat', 'b', 's', **SCALES)


def test_mean_flux_density_flat_fnu_keeps_unit():
    band = box(550, 750, 0.6)
    flat = spectrum(np.full(GRID.size, 42.0) * u.nJy)
    result = band.mean_flux_density(flat)
    assert result.unit == u.nJy
    assert result.value == pytest.approx(42.0, rel=1e-12)


def test_mean_flux_density_power_law_closed_form():
    # f_nu = lambda^2: int lambda^2 dlambda/lambda / ln(b/a)
    band = box(550, 750)
    law = spectrum((GRID / 100) ** 2 * u.Jy)
    expected = (7.5**2 - 5.5**2) / 2 / np.log(750 / 550)
    assert band.mean_flux_density(law).to_value(u.Jy) == pytest.approx(
        expected, rel=1e-5)
    # the same spectrum on a decreasing frequency axis
    in_hz = spectrum(law.flux[::-1], (GRID[::-1] * u.nm).to(
        u.THz, u.spectral()))
    assert band.mean_flux_density(in_hz).to_value(u.Jy) == pytest.approx(
        expected, rel=1e-5)


def test_mean_flux_density_f_lambda_is_converted():
    band = box(550, 750)
    wave = GRID * u.nm
    f_lambda = (3.0 * u.uJy).to(u.erg / u.s / u.cm**2 / u.AA,
                                u.spectral_density(wave))
    result = band.mean_flux_density(spectrum(f_lambda, wave))
    assert result.unit == u.Jy
    assert result.to_value(u.uJy) == pytest.approx(3.0, rel=1e-6)
    # f_lambda = c f_nu / lambda^2 differs from the naive average
    naive = np.mean(f_lambda.value[(GRID >= 550) & (GRID <= 750)])
    assert not np.isclose(result.value, naive)


def test_mean_flux_density_skips_masked_samples():
    band = box(550, 750)
    flux = np.full(GRID.size, 2.0)
    flux[5000] = np.nan
    masked = spectrum(flux * u.Jy)  # specutils masks the NaN
    assert masked.mask[5000]
    assert band.mean_flux_density(masked).value == pytest.approx(2.0)
    unmasked = spectrum(flux * u.Jy, mask=np.zeros(GRID.size, bool))
    with pytest.raises(ValueError, match='spectrum must have at least 2 '
                                         'unmasked samples, all finite'):
        band.mean_flux_density(unmasked)


def test_mean_flux_density_errors():
    band = box(550, 750)
    short = spectrum(np.ones(3) * u.Jy, [600, 700, 800] * u.nm)
    with pytest.raises(ValueError, match=r"spectrum must cover the band "
                                         r"'test_box'.*550\.0-750\.0 nm"):
        band.mean_flux_density(short)
    with pytest.raises(u.UnitsError, match="spectrum flux must be a flux "
                                           "density.*got unit ''"):
        band.mean_flux_density(spectrum(np.ones(GRID.size) * u.one))
    with pytest.raises(TypeError, match='spectrum must be a specutils'):
        band.mean_flux_density((GRID * u.nm, np.ones(GRID.size) * u.Jy))


# -- built-in bands ----------------------------------------------------------

def test_list_bands():
    keys = list_bands()
    assert keys == sorted(keys)
    assert set(keys) == {
        'rubin_u', 'rubin_g', 'rubin_r', 'rubin_i', 'rubin_z', 'rubin_y',
        'hst_acs_f606w', 'hst_acs_f814w', 'euclid_vis', 'vlt_fors2_v',
        'vlt_fors2_r', 'vlt_fors2_i'}


@pytest.mark.parametrize('key', [
    pytest.param(key, marks=needs_galsim) for key in GALSIM_KEYS
] + ANALYTIC_KEYS)
def test_builtin_band_loads(key):
    band = get_band(key)
    assert band.key == key
    assert get_band(key.upper()) is band  # cached, case-insensitive
    values = band.throughput.flux.value
    assert values.min() >= 0 and 0 < values.max() <= 1
    assert band.throughput_source
    low, high = band.wavelength_range.value
    assert low < band.pivot_wavelength.value < high
    assert 1 < band.fwhm_pixels < 5


@needs_galsim
def test_builtin_pivot_order_and_parameters():
    def pivots(keys):
        return [get_band(k).pivot_wavelength.value for k in keys]

    rubin = [f'rubin_{b}' for b in 'ugrizy']
    assert np.all(np.diff(pivots(rubin)) > 0)
    assert np.all(np.diff(pivots(['hst_acs_f606w', 'hst_acs_f814w'])) > 0)
    fors2 = [f'vlt_fors2_{b}' for b in 'vri']
    assert np.all(np.diff(pivots(fors2)) > 0)
    assert get_band('rubin_r').pixel_scale == 0.2 * u.arcsec
    assert get_band('hst_acs_f814w').pixel_scale == 0.05 * u.arcsec
    assert get_band('euclid_vis').pixel_scale == 0.1 * u.arcsec
    assert get_band('vlt_fors2_i').fwhm == 0.8 * u.arcsec
    assert get_band('rubin_u').fwhm == 0.92 * u.arcsec
    # the pivots of the analytic bands lie near the documented centres
    for key, centre in zip(fors2, [555, 655, 768]):
        assert pivots([key])[0] == pytest.approx(centre, abs=5)
    assert 550 < pivots(['euclid_vis'])[0] < 900


@needs_galsim
def test_rubin_riz_lie_mostly_inside_vis():
    low, high = get_band('euclid_vis').wavelength_range.value
    for key, minimum in [('rubin_r', 0.97), ('rubin_i', 0.99),
                         ('rubin_z', 0.75)]:
        band = get_band(key)
        wave, values = band._wave, band._values
        inside = (wave >= low) & (wave <= high)
        share = (trapezoid(np.where(inside, values, 0) / wave, wave)
                 / trapezoid(values / wave, wave))
        assert share > minimum, key


@needs_galsim
@pytest.mark.parametrize('key, area', [
    *[(f'rubin_{b}', np.pi * (6.423 / 2) ** 2 * u.m**2) for b in 'ugrizy'],
    ('hst_acs_f606w', 45238.93 * u.cm**2),
    ('hst_acs_f814w', 45238.93 * u.cm**2)])
def test_zero_points_match_their_curves(key, area):
    """The AB magnitude that gives 1 photo-electron per second."""
    band = get_band(key)
    integral = trapezoid(band._values / band._wave, band._wave)
    rate = (area * 3631 * u.Jy / const.h * integral).to_value(1 / u.s)
    assert band.zero_point == pytest.approx(2.5 * np.log10(rate), abs=0.01)


@pytest.mark.parametrize('key', ANALYTIC_KEYS)
def test_analytic_bands_have_no_zero_point(key):
    band = get_band(key)
    assert band.zero_point is None
    assert 'approximation' in band.throughput_source


def test_get_band_errors():
    with pytest.raises(ValueError, match="Invalid band key 'rubin_q'. "
                                         "Valid keys are: 'euclid_vis', "
                                         ".*'rubin_r'"):
        get_band('rubin_q')
    with pytest.raises(TypeError, match='key must be a str'):
        get_band(('rubin', 'r'))


def test_no_galsim_import_until_a_galsim_band_is_requested():
    code = ('import sys; import astrodeconv.multiband as m; '
            'm.list_bands(); m.get_band("euclid_vis"); '
            'print("galsim" in sys.modules)')
    result = subprocess.run([sys.executable, '-c', code], check=True,
                            capture_output=True, text=True)
    assert result.stdout.strip() == 'False'
