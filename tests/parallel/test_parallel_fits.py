"""The FITS side of the catalogue and mosaic modes: the io helpers used."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.wcs import WCS

from astrodeconv.io import read_image, read_wcs
from astrodeconv.parallel import catalog, mosaic


@pytest.fixture
def wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [20.0, 20.0]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    return w


def _multi_extension_mosaic(path, wcs, data, bunit='electrons/s'):
    """A mosaic whose image is the third HDU, after an empty primary and
    a MASK extension of the same shape."""
    header = wcs.to_header()
    header['BUNIT'] = bunit
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros(data.shape, np.uint8), name='MASK'),
                  fits.ImageHDU(data, header=header, name='SCI')]
                 ).writeto(path)


def test_chunk_hdu_drops_stale_wcs_keywords(wcs):
    # a result whose meta carries WCS keywords of another grid: they must
    # not survive beside the cutout's own WCS (the chunk writer used to
    # copy them, unlike write_image)
    stale = {'OBJECT': 'G1', 'CDELT1': 1.0, 'CDELT2': 1.0, 'PC1_2': 0.3,
             'CD1_1': 2.0, 'CD2_2': 2.0, 'CRPIX1': 999.0, 'NAXIS1': 7}
    result = CCDData(np.ones((9, 9)), unit='nJy', wcs=wcs, meta=stale)
    hdu = catalog._image_hdu(result, 'G1', 3, {'CUTX': (4.0, 'x')})
    header = hdu.header
    for key in ('CD1_1', 'CD2_2', 'PC1_2'):
        assert key not in header
    assert header['CDELT1'] == pytest.approx(-0.2 / 3600, rel=1e-12)
    assert header['CRPIX1'] == 20.0 and header['NAXIS1'] == 9
    assert header['OBJECT'] == 'G1' and header['BUNIT'] == 'nJy'
    assert header['CATID'] == 'G1' and header['CATROW'] == 3
    assert header['CUTX'] == 4.0 and header['EXTNAME'] == 'CUTOUT'
    assert read_wcs(header).wcs.compare(wcs.wcs, tolerance=1e-12)


def test_catalog_chooses_the_image_hdu_as_read_image(tmp_path, wcs):
    path = tmp_path / 'mosaic.fits'
    data = np.arange(40 * 40, dtype=np.float32).reshape(40, 40)
    _multi_extension_mosaic(path, wcs, data)
    source, got_wcs, _ = catalog._mosaic_source(path)
    assert source[2] == 2
    assert got_wcs.wcs.compare(wcs.wcs, tolerance=1e-12)
    array, _, unit, hdul = catalog._open_mosaic(source)
    try:
        np.testing.assert_array_equal(array, data)
    finally:
        hdul.close()
    # the unit is read as read_image reads it
    assert unit == u.electron / u.s == read_image(path).unit


def test_catalog_mosaic_without_image_names_the_file(tmp_path):
    path = tmp_path / 'table.fits'
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros((4, 4)), name='MASK')]).writeto(path)
    with pytest.raises(ValueError, match=r"table\.fits' has no HDU with 2D "
                                         r"image data; its HDUs are: 0 "
                                         r"'PRIMARY' \(no data\), 1 'MASK'"):
        catalog._mosaic_source(path)


def test_mosaic_reads_the_image_hdu_and_keeps_its_cards(tmp_path, wcs):
    path = tmp_path / 'mosaic.fits'
    data = np.arange(40 * 40, dtype=np.float32).reshape(40, 40)
    _multi_extension_mosaic(path, wcs, data, bunit='nJy')
    source, shape, header, nddata = mosaic._open_input(path)
    assert source[1] == 2 and shape == (40, 40) and nddata is None
    np.testing.assert_array_equal(mosaic._read_window(source, ((0, 40),
                                                               (0, 40))),
                                  data)
    header['OBJECT'] = 'M51'
    cards = mosaic._output_header(header, None, 'TikhonovDeconvolver', {})
    keys = list(cards)
    # layout keywords gone, BUNIT and the WCS kept in their places
    for key in ('XTENSION', 'BITPIX', 'NAXIS', 'NAXIS1', 'PCOUNT', 'GCOUNT',
                'EXTNAME'):
        assert key not in keys
    assert keys[:keys.index('BUNIT') + 2][-2:] == ['BUNIT', 'OBJECT']
    assert cards['BUNIT'] == 'nJy' and cards['CTYPE1'] == 'RA---TAN'
    assert cards['DECONV'] == 'TikhonovDeconvolver'


def test_mosaic_output_header_of_nddata(wcs):
    image = CCDData(np.zeros((8, 8)), unit=u.erg / u.s / u.cm ** 2, wcs=wcs)
    cards = mosaic._output_header(None, image, 'WienerDeconvolver', {})
    assert list(cards)[0] == 'BUNIT'
    assert cards['BUNIT'] == 'erg s-1 cm-2'
    assert read_wcs(cards).wcs.compare(wcs.wcs, tolerance=1e-12)
