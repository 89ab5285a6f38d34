"""Tests of the FITS helpers of astrodeconv.io (astrodeconv/io/hdu.py)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from astrodeconv.io import (fits_unit_string, header_to_meta,
                            make_image_hdu, meta_to_header, read_image,
                            read_unit, read_wcs, select_image_hdu,
                            write_image)
from astrodeconv.utils.exceptions import AstrodeconvWarning


@pytest.fixture
def wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.crval = [150.1, 2.2]
    w.wcs.crpix = [8.5, 6.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    w.wcs.set()
    return w


@pytest.fixture
def hdul():
    return fits.HDUList([
        fits.PrimaryHDU(),
        fits.ImageHDU(np.zeros((4, 5)), name='UNCERT'),
        fits.BinTableHDU.from_columns(
            [fits.Column(name='a', format='E', array=np.ones(2))],
            name='TAB'),
        fits.ImageHDU(np.ones((4, 5)), name='SCI'),
        fits.ImageHDU(np.ones((2, 4, 5)), name='CUBE')])


# -- select_image_hdu ---------------------------------------------------------

def test_select_skips_empty_auxiliary_and_tables(hdul):
    assert select_image_hdu(hdul) == 3


@pytest.mark.parametrize('hdu, index', [('sci', 3), ('UNCERT', 1), (3, 3),
                                        (-2, 3), (np.int64(1), 1)])
def test_select_named_or_indexed(hdul, hdu, index):
    assert select_image_hdu(hdul, hdu) == index


@pytest.mark.parametrize('hdu, match', [
    ('NOPE', r"hdu must name an extension of 'x\.fits', got 'NOPE'; "
             r"its HDUs are: 0 'PRIMARY' \(no data\), 1 'UNCERT' \(4x5\)"),
    (5, r"hdu must be an index between 0 and 4 for 'x\.fits', got 5"),
    (-6, r'got -6'),
    ('TAB', r"hdu 'TAB' of 'x\.fits' must hold 2D image data"),
    (4, r"hdu 4 of 'x\.fits' must hold 2D image data.*'CUBE' \(2x4x5\)"),
])
def test_select_bad_values(hdul, hdu, match):
    with pytest.raises(ValueError, match=match):
        select_image_hdu(hdul, hdu, path='x.fits')


@pytest.mark.parametrize('hdu', [True, 1.0, [1]])
def test_select_bad_types(hdul, hdu):
    with pytest.raises(TypeError, match='hdu must be an integer index or an '
                                        'extension name, got'):
        select_image_hdu(hdul, hdu)


def test_select_without_image_names_the_file(tmp_path):
    path = tmp_path / 'empty.fits'
    fits.HDUList([fits.PrimaryHDU()]).writeto(path)
    with fits.open(path) as opened:
        with pytest.raises(ValueError, match=r"empty\.fits' has no HDU with "
                                             r"2D image data; its HDUs are: "
                                             r"0 'PRIMARY' \(no data\)"):
            select_image_hdu(opened)
    with pytest.raises(ValueError, match="'the HDU list' has no HDU"):
        select_image_hdu(fits.HDUList([fits.PrimaryHDU()]))


def test_select_needs_an_hdulist():
    with pytest.raises(TypeError, match='hdul must be an astropy.io.fits.'
                                        'HDUList, got PrimaryHDU'):
        select_image_hdu(fits.PrimaryHDU(np.ones((3, 3))))


def test_select_agrees_with_read_image(tmp_path, hdul):
    path = tmp_path / 'multi.fits'
    hdul[3].data = np.arange(20.0).reshape(4, 5)
    hdul.writeto(path)
    np.testing.assert_array_equal(read_image(path).data, hdul[3].data)


# -- read_wcs / read_unit -----------------------------------------------------

def test_read_wcs_celestial_of_a_cube(wcs):
    cube = WCS(naxis=3)
    cube.wcs.ctype = ['RA---TAN', 'DEC--TAN', 'FREQ']
    cube.wcs.cdelt = [-1e-4, 1e-4, 1e6]
    got = read_wcs(cube.to_header())
    assert got.naxis == 2
    assert list(got.wcs.ctype) == ['RA---TAN', 'DEC--TAN']
    header = wcs.to_header()
    assert read_wcs(header).to_header() == wcs.to_header()


def test_read_wcs_linear_and_none():
    linear = fits.Header({'CTYPE1': 'LINEAR', 'CTYPE2': 'LINEAR',
                          'CDELT1': 2.0, 'CDELT2': 2.0})
    assert list(read_wcs(linear).wcs.ctype) == ['LINEAR', 'LINEAR']
    assert read_wcs(fits.Header({'OBJECT': 'x'})) is None


def test_read_wcs_silences_fixes():
    # RADECSYS and a non-standard DATE-OBS make astropy warn that it fixed
    # them (the suite turns warnings into errors)
    header = fits.Header({'CTYPE1': 'RA---TAN', 'CTYPE2': 'DEC--TAN',
                          'CDELT1': -1e-4, 'CDELT2': 1e-4,
                          'RADECSYS': 'FK5', 'DATE-OBS': '21/03/99'})
    assert read_wcs(header).has_celestial


@pytest.mark.parametrize('bunit, unit', [
    ('nJy', u.nJy), ('erg/s/cm2', u.erg / u.s / u.cm ** 2),
    ('ELECTRONS/S', u.electron / u.s), ('counts', u.count),
    ('', None), ('not a unit', None), (None, None)])
def test_read_unit(bunit, unit):
    header = fits.Header() if bunit is None else fits.Header({'BUNIT': bunit})
    assert read_unit(header) == unit


@pytest.mark.parametrize('func', [read_wcs, read_unit, header_to_meta])
def test_header_readers_need_a_header(func):
    with pytest.raises(TypeError, match='header must be an astropy.io.fits.'
                                        'Header, got dict'):
        func({'BUNIT': 'Jy'})


# -- header_to_meta / meta_to_header ---------------------------------------

def test_header_to_meta_drops_layout_and_wcs(wcs):
    header = fits.PrimaryHDU(np.zeros((2, 2)), header=fits.Header(
        [('OBJECT', 'M51', 'target'), ('BUNIT', 'nJy'), ('BZERO', 0)])).header
    header.extend(wcs.to_header().cards)
    header.add_history('made up')
    header.append(fits.Card())  # blank card
    meta = header_to_meta(header)
    assert list(meta) == ['OBJECT', 'HISTORY']
    assert meta.comments['OBJECT'] == 'target'
    kept = header_to_meta(header, strip_wcs=False)
    assert 'CDELT1' in kept and 'CTYPE2' in kept and 'NAXIS1' not in kept
    assert list(header_to_meta(header, keep=['bunit'])) == [
        'OBJECT', 'BUNIT', 'HISTORY']
    assert 'NAXIS' in header  # the input is not changed


def test_meta_to_header_items():
    header = meta_to_header({'OBJECT': 'M51', 'EXPTIME': (30.0, 'seconds'),
                             'NCOMBINE': np.int32(3), 'GOOD': np.True_,
                             'a long key': 1.5, 'COMMENT': 'a note',
                             'HISTORY': 'step 1'})
    assert header['OBJECT'] == 'M51'
    assert header.comments['EXPTIME'] == 'seconds'
    assert header['NCOMBINE'] == 3 and header['GOOD'] is True
    assert header['a long key'] == 1.5
    assert list(header['COMMENT']) == ['a note']
    assert list(header['HISTORY']) == ['step 1']


def test_meta_to_header_skips_unsafe_items():
    meta = {'OBJECT': 'ok', 'BAD': np.nan, 'NESTED': {'a': 1},
            'UNICODE': 'caf\u00e9', 'TAB': 'a\tb'}
    with pytest.warns(AstrodeconvWarning,
                      match='not FITS-safe were not written: BAD, NESTED, '
                            'UNICODE, TAB'):
        header = meta_to_header(meta)
    assert list(header) == ['OBJECT']


def test_meta_to_header_copies_headers_and_skips_other_kinds():
    source = fits.Header({'OBJECT': 'x'})
    copy = meta_to_header(source)
    copy['OBJECT'] = 'y'
    assert source['OBJECT'] == 'x'
    assert len(meta_to_header(None)) == 0
    with pytest.warns(AstrodeconvWarning,
                      match='meta of type list cannot be written'):
        assert len(meta_to_header([('OBJECT', 'x')])) == 0


def test_meta_round_trip():
    meta = {'OBJECT': ('M51', 'target'), 'EXPTIME': 30.0}
    back = header_to_meta(meta_to_header(meta))
    assert dict(back) == {'OBJECT': 'M51', 'EXPTIME': 30.0}
    assert back.comments['OBJECT'] == 'target'


# -- fits_unit_string -------------------------------------------------------

@pytest.mark.parametrize('unit, text', [
    (u.nJy, 'nJy'), ('erg / (s cm2)', 'erg s-1 cm-2'),
    (u.electron / u.s, 'electron / s'), (u.mag, 'mag'),
    (u.dimensionless_unscaled, '')])
def test_fits_unit_string(unit, text):
    assert fits_unit_string(unit) == text


def test_fits_unit_string_bad_input():
    with pytest.raises(TypeError, match='unit must be an astropy unit or a '
                                        'string, got float'):
        fits_unit_string(1.0)


# -- make_image_hdu --------------------------------------------------------

def test_make_image_hdu_cleans_stale_wcs_keywords(wcs):
    meta = {'OBJECT': 'M51', 'CDELT1': 9.0, 'PC1_1': 0.5, 'CD1_1': 1.0,
            'CTYPE1': 'GLON-CAR', 'NAXIS1': 99, 'BUNIT': 'old'}
    hdu = make_image_hdu(np.zeros((6, 7), dtype=np.float32), meta=meta,
                         wcs=wcs, unit=u.nJy, name='SCI')
    assert isinstance(hdu, fits.ImageHDU)
    header = hdu.header
    assert header['EXTNAME'] == 'SCI' and header['OBJECT'] == 'M51'
    assert 'CD1_1' not in header and 'PC1_1' not in header
    assert header['CDELT1'] == pytest.approx(wcs.wcs.cdelt[0], rel=1e-12)
    assert header['CTYPE1'] == 'RA---TAN'
    assert header['NAXIS1'] == 7 and header['BITPIX'] == -32
    assert header['BUNIT'] == 'nJy'
    assert read_wcs(header).wcs.compare(wcs.wcs, tolerance=1e-12)


def test_make_image_hdu_without_wcs_keeps_wcs_keywords():
    meta = fits.Header({'CDELT1': 9.0, 'CTYPE1': 'LINEAR'})
    header = make_image_hdu(np.zeros((2, 2)), meta=meta).header
    assert header['CDELT1'] == 9.0 and header['CTYPE1'] == 'LINEAR'
    assert 'BUNIT' not in header


def test_make_image_hdu_unit_text_without_unit():
    meta = fits.Header([('BUNIT', 'flux units', 'arbitrary')])
    header = make_image_hdu(np.zeros((2, 2)), meta=meta).header
    assert header['BUNIT'] == 'flux units'
    assert header.comments['BUNIT'] == 'arbitrary'
    # a unit wins over the text; a dimensionless one writes no BUNIT
    assert make_image_hdu(np.zeros((2, 2)), meta=meta,
                          unit='Jy').header['BUNIT'] == 'Jy'
    assert 'BUNIT' not in make_image_hdu(
        np.zeros((2, 2)), meta=meta, unit=u.dimensionless_unscaled).header


def test_make_image_hdu_primary_and_header_only():
    hdu = make_image_hdu(np.ones((3, 3), dtype=np.int16), primary=True,
                         name='IMAGE')
    assert isinstance(hdu, fits.PrimaryHDU)
    assert hdu.name == 'IMAGE' and hdu.data.dtype == np.int16
    empty = make_image_hdu(None, meta={'OBJECT': 'x'}, primary=True)
    assert empty.data is None and empty.header['NAXIS'] == 0
    assert empty.header['OBJECT'] == 'x'


@pytest.mark.parametrize('kwargs, error, match', [
    ({'data': np.array(['a'])}, TypeError,
     r'data must hold real numbers, got dtype <U1'),
    ({'wcs': 'RA---TAN'}, TypeError,
     r'wcs must be an astropy.wcs.WCS or None, got str'),
    ({'unit': 3}, TypeError,
     r'unit must be an astropy unit, a string or None, got int'),
    ({'unit': 'not a unit'}, ValueError, 'not a unit'),
    ({'name': 1}, TypeError, r'name must be a string or None, got int'),
])
def test_make_image_hdu_bad_input(kwargs, error, match):
    kwargs = {'data': np.zeros((2, 2)), **kwargs}
    data = kwargs.pop('data')
    with pytest.raises(error, match=match):
        make_image_hdu(data, **kwargs)


def test_make_image_hdu_warning_points_at_the_caller():
    with pytest.warns(AstrodeconvWarning, match='not FITS-safe') as record:
        make_image_hdu(np.zeros((2, 2)), meta={'BAD': np.inf})
    assert record[0].filename == __file__


def test_write_image_warning_points_at_the_caller(tmp_path):
    image = NDData(np.zeros((2, 2)), meta={'BAD': np.inf})
    with pytest.warns(AstrodeconvWarning, match='not FITS-safe') as record:
        write_image(image, tmp_path / 'x.fits')
    assert record[0].filename == __file__


def test_write_image_header_is_make_image_hdu(tmp_path, wcs):
    image = CCDData(np.ones((4, 4)), unit='adu', wcs=wcs,
                    meta={'OBJECT': 'x', 'CD1_1': 3.0, 'PC2_2': 2.0})
    write_image(image, tmp_path / 'x.fits')
    expected = make_image_hdu(image.data, meta=image.meta, wcs=wcs,
                              unit=image.unit, primary=True).header
    with fits.open(tmp_path / 'x.fits') as hdul:
        written = hdul[0].header
        assert list(written.items()) == list(expected.items())
