"""Tests of astrodeconv.io.read_image / write_image."""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import (CCDData, NDData, StdDevUncertainty,
                            VarianceUncertainty)
from astropy.wcs import WCS

from astrodeconv.io import read_image, write_image
from astrodeconv.utils.exceptions import AstrodeconvWarning


@pytest.fixture
def wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.cunit = ['deg', 'deg']
    w.wcs.crval = [150.1, 2.2]
    w.wcs.crpix = [8.5, 6.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    w.wcs.radesys = 'ICRS'
    w.wcs.set()
    return w


@pytest.fixture
def image(wcs):
    rng = np.random.default_rng(0)
    data = rng.normal(10.0, 1.0, (12, 16)).astype(np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[3, 4] = mask[7, 1] = True
    psf = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    return CCDData(data, unit='nJy', wcs=wcs,
                   uncertainty=StdDevUncertainty(np.full(data.shape, 0.5)),
                   mask=mask, psf=psf,
                   meta={'OBJECT': 'GOODS-S', 'EXPTIME': 30.0,
                         'NCOMBINE': 3, 'FLAG': True})


def _same_wcs(a, b):
    ha, hb = a.to_header(relax=True), b.to_header(relax=True)
    assert set(ha) == set(hb)
    for key in ha:
        if isinstance(ha[key], float):
            assert ha[key] == pytest.approx(hb[key], rel=1e-12, abs=1e-15)
        else:
            assert ha[key] == hb[key]


def test_round_trip_ccddata(tmp_path, image):
    path = tmp_path / 'image.fits'
    assert write_image(image, path) is None
    out = read_image(path)
    assert isinstance(out, CCDData)
    assert out.unit == u.nJy
    np.testing.assert_array_equal(out.data, image.data)
    assert out.data.dtype == np.float32
    assert out.data.dtype.isnative
    _same_wcs(out.wcs, image.wcs)
    assert isinstance(out.uncertainty, StdDevUncertainty)
    np.testing.assert_allclose(out.uncertainty.array, 0.5)
    np.testing.assert_array_equal(out.mask, image.mask)
    np.testing.assert_allclose(out.psf, image.psf)
    for key, value in image.meta.items():
        assert out.meta[key] == value
    # layout and WCS keywords live in .data and .wcs, not in meta
    for key in ('NAXIS', 'BITPIX', 'BUNIT', 'CRPIX1', 'CTYPE1', 'EXTNAME'):
        assert key not in out.meta
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ['PRIMARY', 'UNCERT', 'MASK', 'PSF']
        assert hdul['MASK'].data.dtype == np.uint8
        assert hdul['UNCERT'].header['UTYPE'] == 'StdDevUncertainty'
        assert hdul[0].header['BUNIT'] == 'nJy'


def test_round_trip_header_meta(tmp_path, image):
    header = fits.Header()
    header['OBSERVER'] = ('Hubble', 'who')
    header['HISTORY'] = 'reduced'
    header['COMMENT'] = 'a comment'
    header['HIERARCH LONG KEYWORD'] = 2
    image.meta = header
    path = tmp_path / 'header.fits'
    write_image(image, path)
    meta = read_image(path).meta
    assert meta['OBSERVER'] == 'Hubble'
    assert meta.comments['OBSERVER'] == 'who'
    assert list(meta['HISTORY']) == ['reduced']
    assert list(meta['COMMENT']) == ['a comment']
    assert meta['LONG KEYWORD'] == 2


def test_dict_meta_long_keys_and_unsafe_values(tmp_path):
    meta = {'SHORT': 1, 'AVERYLONGKEY': 'x', 'NESTED': {'a': 1},
            'ARRAY': np.arange(3), 'COMMENT': 'note'}
    path = tmp_path / 'meta.fits'
    with pytest.warns(AstrodeconvWarning, match='not FITS-safe.*NESTED'):
        write_image(NDData(np.ones((3, 3)), meta=meta), path)
    out = read_image(path).meta
    assert out['SHORT'] == 1
    assert out['AVERYLONGKEY'] == 'x'
    assert 'NESTED' not in out and 'ARRAY' not in out
    assert list(out['COMMENT']) == ['note']


def test_ndarray_quantity_and_unitless_nddata(tmp_path):
    data = np.arange(20.0).reshape(4, 5)
    write_image(data, tmp_path / 'array.fits')
    out = read_image(tmp_path / 'array.fits')
    assert type(out) is NDData
    assert out.unit is None and out.wcs is None
    assert out.uncertainty is None and out.mask is None and out.psf is None
    np.testing.assert_array_equal(out.data, data)

    write_image(data * u.MJy / u.sr, tmp_path / 'quantity.fits')
    out = read_image(tmp_path / 'quantity.fits')
    assert isinstance(out, CCDData)
    assert out.unit == u.MJy / u.sr

    write_image(NDData(data), tmp_path / 'nddata.fits')
    assert type(read_image(tmp_path / 'nddata.fits')) is NDData


def test_uncertainty_converted_to_stddev(tmp_path):
    image = CCDData(np.ones((4, 4)), unit='adu',
                    uncertainty=VarianceUncertainty(np.full((4, 4), 9.0)))
    write_image(image, tmp_path / 'var.fits')
    with fits.open(tmp_path / 'var.fits') as hdul:
        np.testing.assert_allclose(hdul['UNCERT'].data, 3.0)
    out = read_image(tmp_path / 'var.fits')
    assert isinstance(out.uncertainty, StdDevUncertainty)
    np.testing.assert_allclose(out.uncertainty.array, 3.0)


def test_ccddata_interoperability(tmp_path, wcs):
    image = CCDData(np.ones((12, 16)), unit='adu', wcs=wcs,
                    uncertainty=VarianceUncertainty(np.full((12, 16), 4.0)),
                    mask=np.eye(12, 16, dtype=bool))
    image.write(tmp_path / 'ccd.fits')
    out = read_image(tmp_path / 'ccd.fits')
    np.testing.assert_allclose(out.uncertainty.array, 2.0)
    np.testing.assert_array_equal(out.mask, image.mask)
    _same_wcs(out.wcs, wcs)

    write_image(out, tmp_path / 'ours.fits')
    back = CCDData.read(tmp_path / 'ours.fits')
    assert back.unit == u.adu
    np.testing.assert_allclose(back.uncertainty.array, 2.0)
    np.testing.assert_array_equal(back.mask, image.mask)


@pytest.mark.parametrize(('bunit', 'unit'), [
    ('ADU', u.adu), ('ELECTRONS/S', u.electron / u.s),
    ('counts', u.count), ('nJy', u.nJy)])
def test_non_standard_bunit(tmp_path, bunit, unit):
    header = fits.Header({'BUNIT': bunit})
    fits.PrimaryHDU(np.ones((3, 3)), header).writeto(tmp_path / 'b.fits')
    out = read_image(tmp_path / 'b.fits')
    assert isinstance(out, CCDData)
    assert out.unit == unit


def test_unparseable_bunit(tmp_path):
    header = fits.Header({'BUNIT': 'furlongs per fortnight'})
    fits.PrimaryHDU(np.ones((3, 3)), header).writeto(tmp_path / 'b.fits')
    with pytest.warns(AstrodeconvWarning, match='not a unit astropy'):
        out = read_image(tmp_path / 'b.fits')
    assert type(out) is NDData
    assert out.unit is None
    # the text is kept in meta and written back
    assert out.meta['BUNIT'] == 'furlongs per fortnight'
    write_image(out, tmp_path / 'c.fits')
    assert fits.getheader(tmp_path / 'c.fits')['BUNIT'] == (
        'furlongs per fortnight')
    # a parsed BUNIT lives in .unit, not in meta
    write_image(CCDData(np.ones((3, 3)), unit='nJy'), tmp_path / 'a.fits')
    assert 'BUNIT' not in read_image(tmp_path / 'a.fits').meta


def _psf_file(path):
    fits.HDUList([fits.PrimaryHDU(np.ones((64, 64))),
                  fits.ImageHDU(np.ones((15, 15)), name='PSF')]
                 ).writeto(path)
    return path.read_bytes()


@pytest.mark.parametrize('keep', [1000, 10])
def test_truncated_last_extension_header(tmp_path, keep):
    path = tmp_path / 'cut.fits'
    content = _psf_file(path)
    start = 2880 + 64 * 64 * 8 + (-(64 * 64 * 8) % 2880)
    path.write_bytes(content[:start + keep])
    label = "extension 1 \\('PSF'\\)" if keep >= 400 else 'extension 1'
    with pytest.raises(OSError, match=rf"cut.fits' is truncated: its "
                       rf"{label} has an incomplete header"):
        read_image(path)


def test_trailing_junk_warns(tmp_path):
    path = tmp_path / 'junk.fits'
    path.write_bytes(_psf_file(path) + b'junk' * 30)
    with pytest.warns(AstrodeconvWarning, match=r"junk.fits' has 120 bytes "
                      'after its last HDU'):
        image = read_image(path)
    assert image.psf.shape == (15, 15)


@pytest.fixture
def multi_extension(tmp_path, wcs):
    path = tmp_path / 'mef.fits'
    hdul = fits.HDUList([
        fits.PrimaryHDU(),
        fits.BinTableHDU.from_columns(
            [fits.Column(name='a', format='E', array=np.ones(3))],
            name='CAT'),
        fits.ImageHDU(np.ones(5), name='SPEC'),
        fits.ImageHDU(np.ones((3, 3)), name='PSF'),
        fits.ImageHDU(np.full((12, 16), 2.0), wcs.to_header(), name='SCI'),
        fits.ImageHDU(np.full((4, 4), 3.0), name='OTHER'),
    ])
    hdul.writeto(path)
    return path


def test_hdu_selection(multi_extension):
    # the first 2D image that is not an auxiliary extension
    assert read_image(multi_extension).data[0, 0] == 2.0
    assert read_image(multi_extension, hdu='sci').data[0, 0] == 2.0
    assert read_image(multi_extension, hdu=5).data[0, 0] == 3.0
    assert read_image(multi_extension, hdu=-1).data[0, 0] == 3.0
    image = read_image(multi_extension)
    assert image.wcs.has_celestial
    assert image.psf.shape == (3, 3)


@pytest.mark.parametrize(('hdu', 'error', 'match'), [
    ('NOPE', ValueError, "hdu must name an extension.*'NOPE'"),
    (9, ValueError, 'hdu must be an index between 0 and 5'),
    ('CAT', ValueError, 'must hold 2D image data'),
    (2, ValueError, 'must hold 2D image data'),
    (0, ValueError, 'must hold 2D image data'),
    (1.5, TypeError, 'hdu must be an integer index or an extension name'),
])
def test_hdu_errors(multi_extension, hdu, error, match):
    with pytest.raises(error, match=match):
        read_image(multi_extension, hdu=hdu)


def test_no_2d_image(tmp_path):
    path = tmp_path / 'cube.fits'
    fits.HDUList([fits.PrimaryHDU(np.ones((2, 3, 4))),
                  fits.ImageHDU(np.ones(3))]).writeto(path)
    with pytest.raises(ValueError, match='has no HDU with 2D image data'):
        read_image(path)


def test_aux_shape_mismatch(tmp_path):
    path = tmp_path / 'bad.fits'
    fits.HDUList([fits.PrimaryHDU(np.ones((4, 4))),
                  fits.ImageHDU(np.ones((3, 3)), name='UNCERT')]
                 ).writeto(path)
    with pytest.raises(ValueError, match='UNCERT extension.*shape'):
        read_image(path)


def test_psfimage_alias(tmp_path):
    path = tmp_path / 'psf.fits'
    psf = np.arange(9.0).reshape(3, 3) / 36
    fits.HDUList([fits.PrimaryHDU(np.ones((4, 4))),
                  fits.ImageHDU(psf, name='PSFIMAGE')]
                 ).writeto(path)
    np.testing.assert_array_equal(read_image(path).psf, psf)


def test_read_missing_file(tmp_path):
    path = tmp_path / 'missing.fits'
    with pytest.raises(FileNotFoundError, match='missing.fits.*does not'):
        read_image(path)


@pytest.mark.parametrize('content', [b'', b'not a FITS file' * 300, 'cut'])
def test_read_corrupt_file(tmp_path, content):
    path = tmp_path / 'corrupt.fits'
    if content == 'cut':
        fits.PrimaryHDU(np.ones((64, 64))).writeto(path)
        content = path.read_bytes()[:-5000]
    path.write_bytes(content)
    with pytest.raises(OSError, match='corrupt.fits.*is not a readable FITS '
                       'file'):
        read_image(path)


def test_read_path_type():
    with pytest.raises(TypeError, match='path must be a str or os.PathLike'):
        read_image(3)


def test_overwrite_protection(tmp_path):
    path = tmp_path / 'out.fits'
    write_image(np.ones((3, 3)), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError,
                       match='out.fits.*already exists.*overwrite=True.*'
                       '--overwrite'):
        write_image(np.zeros((3, 3)), path)
    assert path.read_bytes() == before
    write_image(np.zeros((3, 3)), path, overwrite=True)
    np.testing.assert_array_equal(read_image(path).data, 0.0)
    assert os.listdir(tmp_path) == ['out.fits']


def test_missing_output_directory(tmp_path):
    missing = tmp_path / 'nope'
    with pytest.raises(FileNotFoundError, match='directory that does not'
                       ) as info:
        write_image(np.ones((3, 3)), missing / 'out.fits')
    # the message names the directory, never a temporary file
    assert repr(str(missing)) in str(info.value)
    assert 'tmp-' not in str(info.value)


def test_failed_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'out.fits'
    write_image(np.ones((3, 3)), path)
    before = path.read_bytes()

    def broken_writeto(self, fileobj, **kwargs):
        fileobj.write(b'SIMPLE  =  partial')
        raise RuntimeError('disk full')

    monkeypatch.setattr(fits.HDUList, 'writeto', broken_writeto)
    with pytest.raises(RuntimeError, match='disk full'):
        write_image(np.zeros((3, 3)), path, overwrite=True)
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError, match='disk full'):
        write_image(np.zeros((3, 3)), tmp_path / 'new.fits')
    # neither a partial output nor a temporary file is left behind
    assert os.listdir(tmp_path) == ['out.fits']


def test_stale_wcs_keywords_replaced(tmp_path, wcs):
    meta = fits.Header({'CD1_1': 1.0, 'CD2_2': 1.0, 'CTYPE1': 'RA---SIN',
                        'EXTNAME': 'SCI', 'OBJECT': 'x'})
    write_image(NDData(np.ones((12, 16)), wcs=wcs, meta=meta),
                tmp_path / 'w.fits')
    header = fits.getheader(tmp_path / 'w.fits')
    assert 'CD1_1' not in header and 'EXTNAME' not in header
    assert header['CTYPE1'] == 'RA---TAN'
    assert header['OBJECT'] == 'x'
    _same_wcs(read_image(tmp_path / 'w.fits').wcs, wcs)


@pytest.mark.parametrize(('image', 'error', 'match'), [
    ([[1, 2], [3, 4]], TypeError, 'image must be an NDData'),
    (np.ones((2, 3, 4)), ValueError, 'image must be 2D, got 3'),
    (np.array([['a', 'b']]), TypeError, 'image must hold real numbers'),
])
def test_write_errors(tmp_path, image, error, match):
    with pytest.raises(error, match=match):
        write_image(image, tmp_path / 'x.fits')
    assert os.listdir(tmp_path) == []
