"""Unit classification and input-grid keywords (utils._nddata, _wcs)."""

import pytest
from astropy import units as u
from astropy.io import fits

from astrodeconv.utils._nddata import check_linear_unit, is_surface_brightness
from astrodeconv.utils._wcs import update_grid_keywords


@pytest.mark.parametrize('unit,expected', [
    ('MJy/sr', True), ('nJy/arcsec2', True), ('Jy/beam', True),
    ('erg/(s cm2 Angstrom arcsec2)', True), ('nJy', False),
    ('adu', False), ('electron/s', False), ('count/pix', False)])
def test_is_surface_brightness(unit, expected):
    assert is_surface_brightness(u.Unit(unit)) is expected


@pytest.mark.parametrize('unit', [u.ABmag, u.mag, u.Unit('mag/arcsec2'),
                                  u.dex, u.dB])
def test_check_linear_unit_refuses_logarithmic(unit):
    with pytest.raises(u.UnitsError, match='^image must be in linear'):
        check_linear_unit(unit, 'image')


def test_update_grid_keywords_header():
    header = fits.Header()
    header['PIXSCALE'] = (0.2, 'arcsec/px')
    header['NOISE'] = 1.0
    header['COMMENT'] = 'first'
    header['COMMENT'] = 'second'
    header['CD1_1'] = 1e-5
    header['OBJECT'] = 'M51'
    dropped = update_grid_keywords(header, 4)
    assert dropped == ['NOISE', 'COMMENT']
    assert header['PIXSCALE'] == 0.05
    assert header.comments['PIXSCALE'] == 'arcsec/px'
    assert 'CD1_1' not in header and 'COMMENT' not in header
    assert 'removed input-grid keywords NOISE, COMMENT' in ''.join(
        header['HISTORY'])


def test_update_grid_keywords_dict():
    meta = {'pixscale': 0.2, 'gain': 2, 'comment': 'x', 'OBJECT': 'y'}
    assert update_grid_keywords(meta, 2) == ['GAIN', 'COMMENT']
    assert meta == {'OBJECT': 'y', 'pixscale': 0.1}
