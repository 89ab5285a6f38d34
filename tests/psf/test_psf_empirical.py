"""Tests of build_empirical_psf on synthetic star fields."""

import numpy as np
import pytest
from astropy import units as u
from astropy.modeling.models import Moffat2D
from astropy.nddata import CCDData, NDData
from astropy.table import QTable, Table
from astropy.wcs import WCS

from astrodeconv.psf import (EmpiricalPSF, build_empirical_psf,
                             measure_fwhm, psf_center, psf_centroid,
                             validate_psf)

FWHM = 3.2
BETA = 3.0
SIZE = 21
SPACING = 45
SHAPE = (6 * SPACING + 20, 7 * SPACING + 20)  # 6 x 7 grid of stars
BACKGROUND = 100.0
NOISE = 5.0


def render_star(image, x, y, flux, half=15, n_sub=5):
    """Add a pixel-integrated Moffat star at (x, y)."""
    gamma = FWHM / (2 * np.sqrt(2 ** (1 / BETA) - 1))
    model = Moffat2D(amplitude=flux * (BETA - 1) / (np.pi * gamma**2),
                     x_0=x, y_0=y, gamma=gamma, alpha=BETA)
    xi, yi = int(round(x)), int(round(y))
    offsets = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    ys = (np.arange(yi - half, yi + half + 1)[:, None] + offsets).ravel()
    xs = (np.arange(xi - half, xi + half + 1)[:, None] + offsets).ravel()
    values = model(*np.meshgrid(xs, ys))
    n = 2 * half + 1
    stamp = values.reshape(n, n_sub, n, n_sub).mean(axis=(1, 3))
    image[yi - half:yi + half + 1, xi - half:xi + half + 1] += stamp


@pytest.fixture(scope='module')
def field():
    """40 isolated Moffat stars at random sub-pixel positions, with noise."""
    rng = np.random.default_rng(12345)
    image = np.zeros(SHAPE)
    rows = []
    for j in range(6):
        for i in range(7):
            if len(rows) == 40:
                break
            x = 30 + SPACING * i + rng.uniform(-5, 5)
            y = 30 + SPACING * j + rng.uniform(-5, 5)
            flux = rng.uniform(2e4, 1e5)
            render_star(image, x, y, flux)
            rows.append((x, y, flux))
    image += BACKGROUND + rng.normal(0, NOISE, SHAPE)
    return image, Table(rows=rows, names=('x', 'y', 'flux'))


@pytest.fixture(scope='module')
def auto_result(field):
    return build_empirical_psf(field[0], size=SIZE)


def check_psf(psf, oversampling=1):
    size = SIZE * oversampling + (1 - SIZE * oversampling % 2)
    assert psf.shape == (size, size)
    assert psf.sum() == pytest.approx(1.0)
    center = psf_center(psf.shape)
    assert psf_centroid(psf) == pytest.approx(center, abs=0.1 * oversampling)
    assert np.unravel_index(np.argmax(psf), psf.shape) == center
    np.testing.assert_allclose(validate_psf(psf), psf)  # no warning
    assert measure_fwhm(psf) / oversampling == pytest.approx(FWHM, rel=0.1)


def test_automatic_selection(auto_result, field):
    result = auto_result
    assert isinstance(result, EmpiricalPSF)
    check_psf(result.psf)
    assert result.fwhm == pytest.approx(FWHM, rel=0.1)
    assert result.oversampling == 1
    assert 20 <= len(result.stars) <= 30  # n_stars brightest
    assert result.stars.colnames == ['id', 'x', 'y', 'flux']
    assert result.iterations >= 1
    assert 'EmpiricalPSF(shape=(21, 21)' in repr(result)
    np.testing.assert_allclose(result.epsf.data / result.epsf.data.sum(),
                               result.psf)
    # the stars used are the brightest true stars, at their true position
    truth = field[1]
    for row in result.stars:
        distance = np.hypot(truth['x'] - row['x'], truth['y'] - row['y'])
        k = np.argmin(distance)
        assert distance[k] < 0.2
        assert row['flux'] == pytest.approx(truth['flux'][k], rel=0.1)
    faintest_used = min(truth['flux'][np.argmin(
        np.hypot(truth['x'] - x, truth['y'] - y))]
        for x, y in zip(result.stars['x'], result.stars['y'], strict=True))
    assert np.sum(truth['flux'] > faintest_used) <= len(result.stars)


def test_oversampled(field):
    result = build_empirical_psf(field[0], size=SIZE, oversampling=2,
                                 n_stars=25, maxiters=5)
    check_psf(result.psf, oversampling=2)
    assert result.psf.shape == (43, 43)
    assert result.fwhm == pytest.approx(FWHM, rel=0.1)
    assert len(result.stars) == 25


@pytest.mark.parametrize('columns', [('x', 'y'), ('x_centroid', 'y_centroid'),
                                     ('xcentroid', 'ycentroid')])
def test_given_stars(field, columns):
    image, truth = field
    stars = Table({columns[0]: truth['x'][:12], columns[1]: truth['y'][:12]})
    result = build_empirical_psf(image, stars=stars, size=SIZE, maxiters=5)
    check_psf(result.psf)
    assert len(result.stars) == 12


def test_given_stars_qtable_and_edges(field):
    image, truth = field
    x = np.append(np.asarray(truth['x'][:8]), [3.0, SHAPE[1] - 2.0])
    y = np.append(np.asarray(truth['y'][:8]), [100.0, 100.0])
    stars = QTable({'x': x * u.pix, 'y': y * u.pix})
    # the two stars at the edges are dropped
    result = build_empirical_psf(image, stars=stars, size=SIZE, maxiters=5)
    assert len(result.stars) == 8


def test_nddata_mask_and_ccddata(field):
    image, truth = field
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, :SHAPE[1] // 2] = True  # mask the left half
    result = build_empirical_psf(NDData(image, mask=mask), size=SIZE,
                                 maxiters=5)
    check_psf(result.psf)
    assert np.all(result.stars['x'] > SHAPE[1] // 2 + SIZE // 2)
    # non-finite pixels are masked too
    nan_image = image.copy()
    nan_image[:, :SHAPE[1] // 2] = np.nan
    result_nan = build_empirical_psf(nan_image, size=SIZE, maxiters=5)
    np.testing.assert_allclose(result_nan.psf, result.psf, atol=1e-10)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    ccd = CCDData(image, unit='adu', wcs=wcs)
    result = build_empirical_psf(ccd, size=SIZE, n_stars=10, maxiters=5)
    check_psf(result.psf)


def test_isolation_and_saturation(field):
    image, truth = field
    image = image.copy()
    # a close pair: neither member may be used
    x0, y0 = truth['x'][3], truth['y'][3]
    render_star(image, x0 + 8.0, y0 + 3.0, 5e4)
    result = build_empirical_psf(image, size=SIZE, n_stars=40, maxiters=3)
    distance = np.hypot(result.stars['x'] - x0, result.stars['y'] - y0)
    assert distance.min() > SIZE
    # stars with a peak above peak_max are rejected
    everything = build_empirical_psf(field[0], size=SIZE, n_stars=40,
                                     maxiters=3)
    peak_max = 4000.0
    result = build_empirical_psf(field[0], size=SIZE, n_stars=40,
                                 maxiters=3, peak_max=peak_max)
    assert 10 <= len(result.stars) < len(everything.stars)
    for x, y in zip(result.stars['x'], result.stars['y'], strict=True):
        xi, yi = int(round(x)), int(round(y))
        peak = field[0][yi - 1:yi + 2, xi - 1:xi + 2].max() - BACKGROUND
        assert peak < peak_max + 5 * NOISE


@pytest.mark.parametrize(('size', 'error', 'match'), [
    (20, ValueError, 'size must be an odd integer >= 3, got 20'),
    (1, ValueError, 'size must be an integer >= 3'),
    (21.0, TypeError, 'size must be an integer'),
])
def test_size_errors(field, size, error, match):
    with pytest.raises(error, match=match):
        build_empirical_psf(field[0], size=size)


def test_star_table_errors(field):
    image = field[0]
    with pytest.raises(ValueError, match="stars must have one of the column "
                       r"pairs \('x', 'y'\)"):
        build_empirical_psf(image, stars=Table({'ra': [1.0], 'dec': [2.0]}))
    with pytest.raises(TypeError, match='stars must be an astropy Table'):
        build_empirical_psf(image, stars={'x': [100], 'y': [100]})
    with pytest.raises(ValueError, match='stars must contain stars whose'):
        build_empirical_psf(image, stars=Table({'x': [2.0], 'y': [2.0]}))


def test_no_stars_errors(field):
    rng = np.random.default_rng(0)
    noise = rng.normal(100, 5, (120, 120))
    with pytest.raises(ValueError, match='data must contain stars above '
                       'threshold'):
        build_empirical_psf(noise)
    with pytest.raises(ValueError, match='data must contain stars above'):
        build_empirical_psf(field[0], threshold=1e7)
    with pytest.raises(ValueError, match='threshold must be given for an '
                       'image without noise'):
        build_empirical_psf(np.ones((50, 50)))
    # a single star, too close to the edge
    image = noise.copy()
    render_star(image, 8.0, 60.0, 1e5, half=7)
    with pytest.raises(ValueError, match='data must contain isolated stars'):
        build_empirical_psf(image, size=SIZE)


def test_data_errors():
    with pytest.raises(ValueError, match='data must be a 2D image, got 3'):
        build_empirical_psf(np.ones((2, 50, 50)))
    with pytest.raises(TypeError, match='data must be a 2D array or NDData'):
        build_empirical_psf([['a']])
    with pytest.raises(ValueError, match='data must contain unmasked'):
        build_empirical_psf(np.full((50, 50), np.nan))
    with pytest.raises(ValueError, match='data.mask must have the shape'):
        build_empirical_psf(NDData(np.ones((50, 50)),
                                   mask=np.zeros((5, 5), bool)))


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'oversampling': 0}, ValueError, 'oversampling must be an integer'),
    ({'n_stars': 0}, ValueError, 'n_stars must be an integer'),
    ({'maxiters': 1.5}, TypeError, 'maxiters must be an integer'),
    ({'fwhm': -3}, ValueError, 'fwhm must be > 0'),
    ({'threshold': -1.0}, ValueError, 'threshold must be > 0'),
    ({'peak_max': 0}, ValueError, 'peak_max must be > 0'),
    ({'progress': 'yes'}, TypeError, 'progress must be True or'),
])
def test_argument_errors(field, kwargs, error, match):
    with pytest.raises(error, match=match):
        build_empirical_psf(field[0], **kwargs)
