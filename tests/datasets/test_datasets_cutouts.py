"""Cutouts from a mosaic made with GalSim: selection, WCS, rejections."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from astropy.table import Table
from astropy.wcs import WCS

from astrodeconv.datasets.cutouts import (make_cutouts, measure_catalogue,
                                          select_galaxies)
from astrodeconv.utils._optional_deps import HAS_GALSIM

if HAS_GALSIM:
    import galsim

pytestmark = pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
ZP = 31.4   # nJy AB zero point
# (x, y, magnitude) of the galaxies; the last one is too faint
GALAXIES = [(100, 120, 21.0), (300, 310, 22.0), (480, 470, 23.0),
            (20, 300, 21.5), (250, 520, 27.5)]
STAR = (400, 150, 20.0)


@pytest.fixture(scope='module')
def mosaic():
    rng = np.random.default_rng(0)
    img = galsim.ImageF(600, 600, scale=0.05)
    for x, y, mag in GALAXIES:
        gal = galsim.Sersic(1, half_light_radius=0.6,
                            flux=10 ** (-0.4 * (mag - ZP)))
        gal = gal.shear(q=0.6, beta=30 * galsim.degrees)
        gal.drawImage(img, center=galsim.PositionD(x + 1, y + 1),
                      add_to_image=True)
    star = galsim.Airy(lam_over_diam=0.03,
                       flux=10 ** (-0.4 * (STAR[2] - ZP)))
    star.drawImage(img, center=galsim.PositionD(STAR[0] + 1, STAR[1] + 1),
                   add_to_image=True, method='no_pixel')
    data = img.array.astype(float) + rng.normal(0, 0.5, img.array.shape)
    data[490:500, 495:505] = np.nan          # a bad patch near galaxy 3
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [53.1, -27.8]
    wcs.wcs.crpix = [300, 300]
    wcs.wcs.cdelt = [-0.05 / 3600, 0.05 / 3600]
    return NDData(data, wcs=wcs, unit=u.nJy)


def test_measured_catalogue(mosaic):
    cat = measure_catalogue(mosaic, zero_point=ZP)
    xy = np.c_[cat['X_IMAGE'], cat['Y_IMAGE']]
    for x, y, mag in GALAXIES[:4]:
        d = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        row = cat[np.argmin(d)]
        assert d.min() < 1.0
        assert abs(row['MAG_AUTO'] - mag) < 0.15
    star = cat[np.argmin(np.hypot(xy[:, 0] - STAR[0], xy[:, 1] - STAR[1]))]
    assert star['FWHM_IMAGE'] < 3 and star['FLUX_RADIUS'] < 3


def test_selection_and_cutouts(mosaic):
    cutouts, kept = make_cutouts(mosaic, zero_point=ZP, size=128)
    # the star and the faint galaxy fail the selection, the one at
    # x = 20 touches the edge and the one at x = 480 holds NaN pixels
    assert len(cutouts) == len(kept) == 2
    assert kept.meta['rejected'] == {'edge': 1, 'nan': 1}
    for cut, row in zip(cutouts, kept):
        assert cut.data.shape == (128, 128)
        assert cut.unit == u.nJy
        # the cutout centre is within a pixel of the centroid on the sky
        centre = cut.wcs.pixel_to_world(64 + cut.meta['DX'],
                                        64 + cut.meta['DY'])
        source = mosaic.wcs.pixel_to_world(row['X_IMAGE'], row['Y_IMAGE'])
        assert centre.separation(source).to_value(u.arcsec) < 1e-3
        assert abs(cut.meta['DX']) <= 0.5 and abs(cut.meta['DY']) <= 0.5


def test_user_catalogue_and_nan_rejection(mosaic):
    cat = Table({'RA': [], 'DEC': [], 'MAG_AUTO': [], 'FLUX_RADIUS_80': [],
                 'fwhm': []})
    for x, y, mag in GALAXIES[:3]:
        sky = mosaic.wcs.pixel_to_world(x, y)
        cat.add_row([sky.ra.deg, sky.dec.deg, mag, 15.0, 14.0])
    cutouts, kept = make_cutouts(mosaic, cat, size=64)
    # the third galaxy's cutout holds the NaN patch
    assert len(cutouts) == 2
    assert kept.meta['rejected'] == {'nan': 1}
    cutouts, _ = make_cutouts(mosaic, cat, size=64, max_nan_fraction=0.1)
    assert len(cutouts) == 3 and cutouts[2].mask.sum() == 100


def test_select_galaxies_thresholds():
    cat = Table({'x': [1., 2., 3., 4.], 'y': [1., 2., 3., 4.],
                 'MAG_AUTO': [25.9, 26.1, 24.0, 24.0],
                 'FLUX_RADIUS': [11., 11., 9., 11.],
                 'FWHM_IMAGE': [11., 11., 11., 10.]})
    assert list(select_galaxies(cat)['X_IMAGE']) == [1.0]


@pytest.mark.parametrize('args, kwargs, exc, match', [
    ((np.ones((10, 10)),), {'zero_point': ZP}, TypeError,
     'mosaic must be an NDData'),
    ((NDData(np.ones((10, 10))),), {'zero_point': ZP}, ValueError,
     'mosaic must carry a WCS'),
])
def test_bad_mosaic(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_cutouts(*args, **kwargs)


def test_missing_zero_point(mosaic):
    with pytest.raises(ValueError, match='zero_point must be given'):
        make_cutouts(mosaic)


def test_catalogue_missing_columns(mosaic):
    with pytest.raises(ValueError, match='must have the columns '
                                         'FLUX_RADIUS, FWHM_IMAGE'):
        make_cutouts(mosaic, Table({'x': [1.0], 'y': [1.0],
                                    'MAG_AUTO': [20.0]}))
    with pytest.raises(ValueError, match='X_IMAGE/Y_IMAGE or ALPHA'):
        select_galaxies(Table({'MAG_AUTO': [20.0], 'FLUX_RADIUS': [12.],
                               'FWHM_IMAGE': [12.]}))
    with pytest.raises(TypeError, match='catalogue must be an astropy'):
        select_galaxies({'MAG_AUTO': [20.0]})
