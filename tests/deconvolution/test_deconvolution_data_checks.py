"""Bad data, uncertainties, masks and memory (issue 10, section 5)."""

import time

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import (CCDData, NDData, StdDevUncertainty,
                            VarianceUncertainty)

import astrodeconv
from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       TikhonovDeconvolver)
from astrodeconv.deconvolution import core
from astrodeconv.utils.exceptions import AstrodeconvWarning


def _psf(size=11, fwhm=3.0):
    sigma = fwhm / 2.3548
    yy, xx = np.indices((size, size)) - size // 2
    psf = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    return psf / psf.sum()


def _data(shape=(32, 32), seed=0):
    rng = np.random.default_rng(seed)
    return 10 + rng.normal(0, 1, shape)


# -- uncertainties -----------------------------------------------------------

def test_all_nan_uncertainty_is_an_error():
    data = _data()
    nd = NDData(data, psf=_psf(),
                uncertainty=StdDevUncertainty(np.full(data.shape, np.nan)))
    with pytest.raises(ValueError, match=r'data\.uncertainty must have '
                       'finite values where the data are finite'):
        TikhonovDeconvolver().deconvolve(nd)
    with pytest.raises(ValueError, match=r'^error must have finite'):
        TikhonovDeconvolver()(data, psf=_psf(),
                              error=np.full(data.shape, np.nan))
    # a partly NaN error is masked and filled
    error = np.ones(data.shape)
    error[3, 4] = np.nan
    res = TikhonovDeconvolver().deconvolve(data, psf=_psf(), error=error)
    assert np.isfinite(res.image).all()
    assert np.isfinite(res.error).all() and (res.error > 0).all()


def test_nan_uncertainty_on_masked_pixels_only_is_an_error():
    data = _data()
    mask = np.zeros(data.shape, bool)
    mask[:, :16] = True
    error = np.ones(data.shape)
    error[:, 16:] = np.nan
    with pytest.raises(ValueError, match='^error must have finite'):
        TikhonovDeconvolver()(data, psf=_psf(), mask=mask, error=error)


def test_stack_with_all_nan_uncertainty_names_the_image():
    data = np.stack([_data(seed=i) for i in range(3)])
    error = np.ones(data.shape)
    error[1] = np.nan
    with pytest.raises(ValueError, match=r'^error\[1\] must have finite '
                       r'values.*\(image 1 of the stack of 3\)'):
        TikhonovDeconvolver()(data, psf=_psf(), error=error)


def test_stack_with_all_nan_image_raises_like_a_single_image():
    single = np.full((32, 32), np.nan)
    with pytest.raises(ValueError, match='^data must contain finite'):
        TikhonovDeconvolver()(single, psf=_psf())
    data = np.stack([_data(seed=i) for i in range(3)])
    data[2] = np.nan
    with pytest.raises(ValueError, match=r'^data\[2\] must contain finite '
                       r'values, got only NaN/inf pixels \(image 2'):
        TikhonovDeconvolver()(data, psf=_psf())


def test_stack_with_fully_masked_image_names_it():
    data = np.stack([_data(seed=i) for i in range(2)])
    mask = np.zeros(data.shape, bool)
    mask[0] = True
    with pytest.raises(ValueError, match=r'^data\[0\] must have unmasked'):
        TikhonovDeconvolver()(data, psf=_psf(), mask=mask)


@pytest.mark.parametrize('cls,name', [
    (StdDevUncertainty, 'a 1-sigma error'),
    (VarianceUncertainty, 'a variance')])
def test_negative_uncertainty_is_an_error(cls, name):
    data = _data()
    values = np.ones(data.shape)
    values[5, 5] = -2.0
    nd = NDData(data, psf=_psf(), uncertainty=cls(values))
    with pytest.raises(ValueError, match=rf'^data\.uncertainty must be '
                       rf'non-negative \({name}\).*minimum -2'):
        TikhonovDeconvolver()(nd)


# -- dtypes and dimensions -------------------------------------------------

@pytest.mark.parametrize('where', ['nddata', 'error', 'list'])
def test_bytes_data_is_a_type_error_naming_the_dtype(where):
    data = _data()
    raw = np.full(data.shape, b'1.0')
    with pytest.raises(TypeError, match=r"must contain real numbers, got "
                       r"an array of dtype \|S3"):
        if where == 'nddata':
            TikhonovDeconvolver()(NDData(raw), psf=_psf())
        elif where == 'error':
            TikhonovDeconvolver()(data, psf=_psf(), error=raw)
        else:
            TikhonovDeconvolver()([NDData(raw)], psf=_psf())


def test_complex_data_is_refused():
    data = _data() + 1j
    with pytest.raises(TypeError, match=r'^data must contain real numbers, '
                       r'got an array of dtype complex128'):
        TikhonovDeconvolver()(NDData(data), psf=_psf())


def test_3d_ccddata_error_mentions_stacks():
    with pytest.raises(ValueError, match=r'^data must be a 2D image, got 3 '
                       r'dimension\(s\)\. A 3D stack \(N, ny, nx\) is '
                       'accepted as a numpy array'):
        TikhonovDeconvolver()(CCDData(np.ones((2, 32, 32)), unit='adu'),
                              psf=_psf())


def test_mostly_nan_image_warns():
    data = _data()
    data.flat[:int(0.95 * data.size)] = np.nan
    with pytest.warns(AstrodeconvWarning, match=r'^data has 95% '
                      'non-finite'):
        TikhonovDeconvolver()(data, psf=_psf())
    data = _data()
    data[:10] = np.nan  # 31 %: no warning (warnings are errors here)
    TikhonovDeconvolver()(data, psf=_psf())


def test_mostly_nan_image_of_a_stack_warns_with_its_index():
    data = np.stack([_data(seed=i) for i in range(2)])
    data[1].flat[:int(0.92 * data[1].size)] = np.nan
    with pytest.warns(AstrodeconvWarning, match=r'^data\[1\] has 92%'):
        TikhonovDeconvolver()(data, psf=_psf())


# -- masks from regions ----------------------------------------------------

def _star_field(wcs):
    data = _data((64, 64))
    data[40, 20] = 1e6  # a bright star
    return data


def test_pixel_region_mask():
    from regions import CirclePixelRegion, PixCoord

    data = _data((64, 64))
    region = CirclePixelRegion(PixCoord(20, 40), 3)
    expected = np.zeros(data.shape, bool)
    yy, xx = np.indices(data.shape)
    expected[(xx - 20) ** 2 + (yy - 40) ** 2 < 9] = True
    from_region = TikhonovDeconvolver().deconvolve(
        data, psf=_psf(), mask=region)
    from_array = TikhonovDeconvolver().deconvolve(
        data, psf=_psf(), mask=expected)
    np.testing.assert_array_equal(from_region.image, from_array.image)
    out = TikhonovDeconvolver()(NDData(data, psf=_psf()), mask=region)
    np.testing.assert_array_equal(out.mask, expected)


def test_sky_region_mask_uses_the_wcs(wcs):
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, Regions

    data = _star_field(wcs)
    star = SkyCoord.from_pixel(20, 40, wcs)
    region = CircleSkyRegion(star, 0.6 * u.arcsec)  # 3 pixels
    nd = NDData(data, wcs=wcs, psf=_psf())
    out = TikhonovDeconvolver()(nd, mask=region)
    assert out.mask[40, 20] and out.mask[40, 22]
    assert not out.mask[40, 24] and out.mask.sum() == 29
    assert out.data.max() < 1e3  # the star was masked and filled
    # a Regions list (what Regions.read returns) works too
    both = Regions([region, CircleSkyRegion(
        SkyCoord.from_pixel(50, 10, wcs), 0.6 * u.arcsec)])
    out = TikhonovDeconvolver()(nd, mask=both)
    assert out.mask[10, 50] and out.mask[40, 20]


def test_sky_region_without_wcs_is_an_error(wcs):
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    region = CircleSkyRegion(SkyCoord(53.16, -27.78, unit='deg'),
                             1 * u.arcsec)
    with pytest.raises(ValueError, match=r'^mask is a sky region '
                       r'\(CircleSkyRegion\) but the data have no WCS'):
        TikhonovDeconvolver()(_data(), psf=_psf(), mask=region)


def test_region_file_mask(tmp_path, wcs):
    from regions import Regions

    path = tmp_path / 'star.reg'
    path.write_text('# Region file format: DS9\nimage\n'
                    'circle(21,41,3)\n')
    out = TikhonovDeconvolver()(NDData(_star_field(wcs), psf=_psf()),
                                mask=Regions.read(path, format='ds9'))
    # ds9 counts from 1: the circle is centred on pixel (x, y) = (20, 40)
    assert out.mask[40, 20] and out.mask[40, 22] and out.mask[38, 20]
    assert not out.mask[40, 24] and 20 <= out.mask.sum() <= 29


# -- memory ------------------------------------------------------------------

def test_memory_check_fails_at_once(monkeypatch):
    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 2.0)
    data = _data((64, 64))
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r'^TikhonovDeconvolver needs '
                       r'about \d+(\.\d+)? GB .*12800x12800 output pixels '
                       r'with upsample=200\), more than the '
                       r'astrodeconv\.conf\.memory_limit of 2 GB'):
        TikhonovDeconvolver(upsample=200)(data, psf=_psf(401, 600))
    assert time.perf_counter() - start < 5


def test_memory_check_counts_the_stack(monkeypatch):
    # 64 images of 64x64 upsampled 4x: 64 * 256**2 * 8 B * 16 = 0.54 GB
    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 0.5)
    data = np.stack([_data((64, 64), seed=i) for i in range(64)])
    with pytest.raises(MemoryError, match=r'64 image\(s\) of 256x256'):
        TikhonovDeconvolver(upsample=4)(data, psf=_psf(21, 8))
    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 0.6)
    TikhonovDeconvolver(upsample=4)(data[:2], psf=_psf(21, 8))


def test_memory_check_learned(monkeypatch):
    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 0.1)
    with pytest.raises(MemoryError, match='^LearnedDeconvolver needs'):
        LearnedDeconvolver(upsample=20)(_data((64, 64)), psf=_psf(61, 40))


def test_available_memory_sources(monkeypatch):
    import sys

    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 3.5)
    assert core.available_memory() == (int(3.5e9),
                                       'astrodeconv.conf.memory_limit')
    monkeypatch.setattr(astrodeconv.conf, 'memory_limit', 0)
    monkeypatch.setitem(sys.modules, 'psutil', None)
    limit, source = core.available_memory()
    assert limit > 0 and source == 'available memory'

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(core.os, 'sysconf', no_sysconf)
    assert core.available_memory()[0] == core.FALLBACK_MEMORY
