"""Units and headers under super-resolution (issue 10, section 4)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from astropy.wcs.utils import proj_plane_pixel_area

from astrodeconv.deconvolution import (RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver,
                                       WienerDeconvolver)
from astrodeconv.utils.exceptions import AstrodeconvWarning

K = 2
LINEAR = [TikhonovDeconvolver, WienerDeconvolver]
ALL = [*LINEAR, RichardsonLucyDeconvolver]


def _image(shape=(32, 32)):
    yy, xx = np.indices(shape)
    rng = np.random.default_rng(3)
    return (5.0 + 100 * np.exp(-((yy - 16) ** 2 + (xx - 15) ** 2) / 8)
            + rng.normal(0, 0.1, shape))


def _fine_psf(size=15, fwhm=4.0):
    sigma = fwhm / 2.3548
    yy, xx = np.indices((size, size)) - size // 2
    psf = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    return psf / psf.sum()


def _run(cls, data):
    deconvolver = cls(upsample=K)
    if cls is RichardsonLucyDeconvolver and (
            getattr(data, 'uncertainty', None) is not None):
        with pytest.warns(AstrodeconvWarning, match='uncertainty cannot'):
            return deconvolver.deconvolve(data, psf=_fine_psf())
    return deconvolver.deconvolve(data, psf=_fine_psf())


@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('unit', ['MJy/sr', 'nJy/arcsec2', 'Jy/beam'])
def test_surface_brightness_mean_is_kept(cls, unit, wcs):
    data = _image()
    wcs.pixel_shape = data.shape
    ccd = CCDData(data, unit=unit, wcs=wcs)
    out = _run(cls, ccd).image
    assert out.unit == u.Unit(unit)
    assert out.shape == (32 * K, 32 * K)
    # a surface brightness is not divided by k**2: its mean is kept ...
    assert out.data.mean() == pytest.approx(data.mean(), rel=1e-6)
    # ... and so is the flux through the WCS pixel area
    area_in = proj_plane_pixel_area(wcs)
    area_out = proj_plane_pixel_area(out.wcs)
    assert area_out == pytest.approx(area_in / K ** 2)
    assert (out.data * area_out).sum() == pytest.approx(
        (data * area_in).sum(), rel=1e-6)
    # whereas a flux per pixel is shared among the k**2 fine pixels
    flux = _run(cls, CCDData(data, unit='nJy', wcs=wcs)).image
    assert flux.data.sum() == pytest.approx(data.sum(), rel=1e-6)
    assert flux.data.mean() == pytest.approx(data.mean() / K ** 2,
                                             rel=1e-6)


@pytest.mark.parametrize('cls', LINEAR)
def test_surface_brightness_quantity_and_error(cls):
    data = _image()
    error = np.full(data.shape, 0.1)
    sb = cls(upsample=K).deconvolve(data * u.MJy / u.sr, psf=_fine_psf(),
                                    error=error * u.MJy / u.sr)
    flux = cls(upsample=K).deconvolve(data * u.nJy, psf=_fine_psf(),
                                      error=error * u.nJy)
    assert sb.image.unit == u.MJy / u.sr
    np.testing.assert_allclose(sb.image.value, flux.image.value * K ** 2)
    np.testing.assert_allclose(sb.error, flux.error * K ** 2)
    # the residual stays on the observation grid, in the data unit
    np.testing.assert_allclose(sb.residual.value, flux.residual.value,
                               atol=1e-9)
    # without super-resolution nothing changes
    same = TikhonovDeconvolver()(data * u.MJy / u.sr, psf=_fine_psf())
    np.testing.assert_allclose(same.value,
                               TikhonovDeconvolver()(data, psf=_fine_psf()))


@pytest.mark.parametrize('unit', [u.ABmag, u.mag, u.Unit('mag / arcsec2'),
                                  u.dex(u.Jy)])
def test_magnitudes_are_refused(unit):
    data = _image()
    with pytest.raises(u.UnitsError, match=r'data must be in linear units'
                       r'.*logarithmic.*Convert magnitudes'):
        TikhonovDeconvolver()(data * unit, psf=_fine_psf())


def test_magnitude_ccddata_is_refused(wcs):
    with pytest.raises(u.UnitsError, match='data must be in linear units'):
        TikhonovDeconvolver()(CCDData(_image(), unit='mag/arcsec2',
                                      wcs=wcs), psf=_fine_psf())


def _header():
    header = fits.Header()
    header['OBJECT'] = 'galaxy'
    header['PIXSCALE'] = (0.2, '[arcsec] pixel scale')
    header['NOISE'] = (0.1, '[nJy] noise per pixel')
    header['SATURATE'] = 5e4
    header['GAIN'] = 2.5
    header['SKYLEVEL'] = 12.0
    header['MAGZP'] = 27.0
    header['COMMENT'] = '0.2 arcsec pixels, 32x32'
    header['HISTORY'] = 'stacked'
    header['CRPIX1'] = 16.0
    return header


@pytest.mark.parametrize('as_dict', [False, True])
def test_input_grid_keywords_on_upsampled_product(wcs, as_dict):
    meta = _header()
    if as_dict:
        meta = {key: meta[key] for key in ('OBJECT', 'PIXSCALE', 'NOISE',
                                           'SATURATE', 'GAIN', 'MAGZP',
                                           'CRPIX1')}
    out = TikhonovDeconvolver(upsample=K)(
        CCDData(_image(), unit='nJy', wcs=wcs, meta=meta), psf=_fine_psf())
    keys = {str(key).upper() for key in out.meta}
    for key in ('NOISE', 'SATURATE', 'GAIN', 'SKYLEVEL', 'COMMENT',
                'CRPIX1'):
        assert key not in keys
    assert out.meta['OBJECT'] == 'galaxy'
    assert out.meta['MAGZP'] == 27.0  # total fluxes are kept
    assert out.meta['PIXSCALE'] == pytest.approx(0.2 / K)
    if not as_dict:
        assert out.meta['HISTORY'][0] == 'stacked'
        history = ''.join(out.meta['HISTORY'])
        assert 'NOISE' in history and 'PIXSCALE' in history
    # the input is not changed, and without upsampling nothing is dropped
    assert 'NOISE' in meta
    same = TikhonovDeconvolver()(
        CCDData(_image(), unit='nJy', wcs=wcs, meta=meta), psf=_fine_psf())
    assert same.meta['NOISE'] == 0.1 and same.meta['PIXSCALE'] == 0.2


def test_unparseable_bunit_kept_as_text(tmp_path, wcs):
    from astrodeconv.io import read_image, write_image

    header = wcs.to_header()
    header['BUNIT'] = ('10**-9 furlong', 'in-house unit')
    path = tmp_path / 'in.fits'
    fits.PrimaryHDU(_image(), header=header).writeto(path)
    with pytest.warns(AstrodeconvWarning, match='furlong.*without a unit'):
        image = read_image(path)
    assert image.unit is None
    out = TikhonovDeconvolver(upsample=K)(image, psf=_fine_psf())
    assert out.meta['BUNIT'] == '10**-9 furlong'
    write_image(out, tmp_path / 'out.fits')
    assert fits.getheader(tmp_path / 'out.fits')['BUNIT'] == (
        '10**-9 furlong')


def test_surface_brightness_stddev_uncertainty(wcs):
    data = _image()
    ccd = CCDData(data, unit='MJy/sr', wcs=wcs,
                  uncertainty=StdDevUncertainty(np.full(data.shape, 0.1)))
    out = TikhonovDeconvolver(upsample=K)(ccd, psf=_fine_psf())
    ref = TikhonovDeconvolver(upsample=K)(
        CCDData(data, unit='nJy', wcs=wcs,
                uncertainty=StdDevUncertainty(np.full(data.shape, 0.1))),
        psf=_fine_psf())
    np.testing.assert_allclose(out.uncertainty.array,
                               ref.uncertainty.array * K ** 2)
