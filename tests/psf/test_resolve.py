"""
The PSF door, `astrodeconv.psf.resolve_psf` (issue 18 items 1 and 5).

Every kind of PSF gives the array the package used before; ``psf=None`` is
one ValueError in every mode; the centre conventions of scipy and
photutils are read right; the default keeps the PSF's registration, warns
when it is more than half a pixel off and records the offset; the mosaic
mode parses its PSF once.
"""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from astropy.table import Table
from scipy.signal import fftconvolve

import astrodeconv.psf.measure as measure_module
import astrodeconv.psf.resolve as resolve_module
from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.parallel import deconvolve_catalog, deconvolve_mosaic
from astrodeconv.psf import (FAR_OFF_PIXELS, ResolvedPSF, make_gaussian_psf,
                             make_moffat_psf, psf_center, psf_centroid,
                             psf_to_image_psf, resolve_psf)
from astrodeconv.utils.exceptions import AstrodeconvWarning


def even_psf(center, n=24, fwhm=3.0):
    """A Gaussian on an even stamp with its centre at ``center`` (y, x)."""
    yy, xx = np.indices((n, n), dtype=float)
    sigma = fwhm / 2.3548
    psf = np.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2)
                 / (2 * sigma ** 2))
    return psf / psf.sum()


# -- every accepted kind: the same array as before ---------------------------

def test_kinds_give_the_same_array():
    psf = make_moffat_psf(3.0, shape=(15, 15))
    expected = psf / psf.sum()
    kinds = {
        'ndarray': psf,
        'list': psf.tolist(),
        'quantity': psf * u.dimensionless_unscaled,
        'nddata': NDData(psf),
        'nddata without scale': NDData(psf, meta={'OBJECT': 'star'}),
        'ImagePSF': psf_to_image_psf(psf),
    }
    for kind, given in kinds.items():
        out = resolve_psf(given)
        assert isinstance(out, ResolvedPSF)
        np.testing.assert_allclose(out.array, expected, rtol=0,
                                   atol=1e-15, err_msg=kind)
        assert out.array.dtype == np.float64
        assert out.factor is None and not out.recentered


def test_scale_is_read_and_resampled():
    psf = make_moffat_psf(0.8 * u.arcsec, pixel_scale=0.05 * u.arcsec,
                          shape=49)
    with pytest.warns(AstrodeconvWarning, match='resampled by a factor 0.25'):
        out = resolve_psf(NDData(psf, meta={'PIXSCALE': 0.05}),
                          image_scale=0.2 * u.arcsec, shape=(32, 32))
    assert out.factor == pytest.approx(0.25)
    assert out.scale == pytest.approx(0.05)
    assert out.sampling_source == 'PIXSCALE in its meta'
    assert out.shape == (13, 13)
    # a plain number is arcsec
    again = resolve_psf(NDData(psf, meta={'PIXSCALE': 0.05}),
                        image_scale=0.2, shape=(32, 32), warn=False)
    np.testing.assert_array_equal(again.array, out.array)
    assert len(again.messages) == 1


def test_kernel_mode_keeps_the_sum():
    kernel = 2.0 * make_gaussian_psf(2.0, shape=(9, 9))
    out = resolve_psf(np.stack([kernel, kernel]), normalize=False)
    assert out.shape == (2, 9, 9)
    assert out.array.sum() == pytest.approx(4.0)
    assert out.offset is None


@pytest.mark.parametrize(('given', 'kwargs', 'error', 'match'), [
    (None, {}, ValueError, r'^psf must be given: a 2D array, a '
     r'dimensionless Quantity, an NDData/CCDData or a photutils ImagePSF'),
    (np.ones(5), {}, ValueError, r'^psf must be a 2D array or a 3D stack '
     r'\(N, py, px\), got 1 dim'),
    (np.ones((2, 3, 3)), {'shape': (8, 8)}, ValueError,
     r'^psf must be a 2D array, got 3 dim'),
    (np.ones((2, 3, 3)), {'shape': (3, 8, 8)}, ValueError,
     r'one PSF per image \(3\), got 2 PSFs'),
    (np.ones((3, 3), complex), {}, TypeError, 'real numbers, got an array '
     'of dtype complex128'),
    (np.ones((3, 3)) * u.m, {}, u.UnitsError, 'must be dimensionless'),
    (np.full((3, 3), np.nan), {}, ValueError, 'finite'),
    (np.ones((3, 3)) / 9, {'psf_center': 'numpy'}, ValueError,
     r"^psf_center must be one of 'astrodeconv', 'scipy', 'photutils'"),
    (np.ones((3, 3)) / 9, {'psf_center': (1, 9)}, ValueError,
     r'^psf_center must lie inside the PSF'),
    (np.ones((3, 3)) / 9, {'target_psf': np.ones((3, 3)),
                           'normalize': False}, ValueError,
     '^target_psf must not be given with normalize=False'),
    (np.ones((3, 3)), {'recenter': 'yes'}, TypeError,
     'recenter must be True or False'),
    (NDData(np.ones((3, 3)) / 9, meta={'PIXSCALE': 0.1}),
     {'image_scale': 'big'}, TypeError, '^image_scale'),
])
def test_bad_psf(given, kwargs, error, match):
    with pytest.raises(error, match=match):
        resolve_psf(given, **kwargs)


def test_image_psf_refuses_a_second_convention():
    with pytest.raises(ValueError, match='whose origin'):
        resolve_psf(psf_to_image_psf(make_gaussian_psf(2.0, (9, 9))),
                    psf_center='scipy')


def test_resolved_psf_passes_through():
    first = resolve_psf(make_gaussian_psf(2.0, (9, 9)), upsample=2)
    assert resolve_psf(first, upsample=2) is first
    with pytest.raises(ValueError, match='resolved for upsample=2'):
        resolve_psf(first, upsample=1)


# -- psf=None: one error in every mode ---------------------------------------

def test_missing_psf_is_one_error_everywhere(tmp_path):
    from astrodeconv.multiband import MultiBandDeconvolver

    image = np.random.default_rng(0).normal(size=(32, 32))
    calls = {
        'single image': lambda: TikhonovDeconvolver()(image),
        'door': lambda: resolve_psf(None),
        'mosaic': lambda: deconvolve_mosaic(image, None, psf=None, tile=16,
                                            workers=0, progress=False),
        'catalogue': lambda: deconvolve_catalog(
            NDData(image), Table({'x': [16.0], 'y': [16.0]}),
            tmp_path / 'cat', psf=None,
            size=16, workers=0, progress=False),
        'multi-band': lambda: MultiBandDeconvolver().deconvolve(
            [image[:16, :16]], image, sed_weights=[1.0]),
    }
    messages = set()
    for mode, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        messages.add(str(info.value))
        assert str(info.value).startswith('psf must be given'), mode
    assert len(messages) == 1, messages


# -- centre conventions ------------------------------------------------------

def test_scipy_convention_claim_holds():
    # fftconvolve(mode='same') leaves a delta image unmoved when the
    # kernel's peak sits on pixel n/2 - 1 of an even stamp
    image = np.zeros((21, 21))
    image[10, 10] = 1.0
    kernel = np.zeros((8, 8))
    kernel[3, 3] = 1.0
    out = fftconvolve(image, kernel, mode='same')
    assert np.unravel_index(np.argmax(out), out.shape) == (10, 10)


@pytest.mark.parametrize(('convention', 'center'), [
    ('astrodeconv', (12.0, 12.0)),
    ('scipy', (11.0, 11.0)),
    ('photutils', (11.5, 11.5)),
    ((10.25, 13.0), (10.25, 13.0)),
])
def test_conventions_move_the_centre_onto_n_over_2(convention, center):
    out = resolve_psf(even_psf(center), psf_center=convention)
    # (the Gaussian is cut by the stamp: its centroid to 1e-3 pixel)
    np.testing.assert_allclose(psf_centroid(out.array), psf_center((24, 24)),
                               atol=1e-3)
    assert out.offset == pytest.approx((0, 0), abs=1e-3)
    assert out.center_shift == pytest.approx(
        (12 - center[0], 12 - center[1]))


def test_integer_convention_shift_is_exact():
    psf = even_psf((11.0, 11.0))
    out = resolve_psf(psf, psf_center='scipy').array
    np.testing.assert_array_equal(out, np.roll(psf / psf.sum(), 1, (0, 1)))


def test_image_psf_origin_is_honoured():
    psf = even_psf((11.5, 11.5))
    for origin in [(11.5, 11.5), (10.0, 11.0)]:
        model = psf_to_image_psf(psf)
        model.origin = origin  # (x, y)
        out = resolve_psf(model, warn=False)
        assert out.center_shift == pytest.approx(
            (12 - origin[1], 12 - origin[0]))
        assert out.offset == pytest.approx(
            (11.5 - origin[1], 11.5 - origin[0]), abs=1e-3)


@pytest.mark.parametrize('convention', ['scipy', 'photutils'])
def test_declared_convention_gives_the_package_result(observed, truth,
                                                      convention):
    center = {'scipy': (11.0, 11.0), 'photutils': (11.5, 11.5)}[convention]
    reference = TikhonovDeconvolver(lam=1e-3)(
        observed, psf=even_psf((12.0, 12.0)))
    other = TikhonovDeconvolver(lam=1e-3)(
        observed, psf=even_psf(center), psf_center=convention)
    # exact for the whole-pixel roll; a half-pixel Fourier shift of a
    # sampled Gaussian matches the Gaussian sampled there to 1e-3
    tolerance = 1e-12 if convention == 'scipy' else 1e-3
    np.testing.assert_allclose(other, reference, rtol=0,
                               atol=tolerance * reference.max())
    # undeclared, the same array is off: the result moves
    with pytest.warns(AstrodeconvWarning, match='used as given'):
        wrong = TikhonovDeconvolver(lam=1e-3)(observed, psf=even_psf(center))
    assert np.abs(wrong - reference).max() > 0.05 * reference.max()


# -- the centring rule -------------------------------------------------------

def test_default_keeps_registration_and_warns_when_far_off(observed):
    psf = even_psf((8.0, 8.0), n=17)
    shifted = np.roll(psf, (1, -1), axis=(0, 1))  # 1.41 pixels off
    with pytest.warns(AstrodeconvWarning, match=r'psf centroid is '
                      r'\(\+1\.000, -1\.000\) output pixels \(y, x\), 1\.41 '
                      r'pixels .* used as given') as rec:
        out = resolve_psf(shifted)
    assert len(rec) == 1
    np.testing.assert_array_equal(out.array, shifted / shifted.sum())
    assert out.far_off and out.cards() == {'PSFOFFY': 1.0, 'PSFOFFX': -1.0}
    recentred = resolve_psf(shifted, recenter=True, warn=False)
    assert recentred.recentered and not recentred.far_off
    assert set(recentred.cards()) == {'DCNVPSFY', 'DCNVPSFX'}
    np.testing.assert_allclose(psf_centroid(recentred.array), (8, 8),
                               atol=1e-3)


def test_half_a_pixel_is_the_threshold():
    assert FAR_OFF_PIXELS == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = resolve_psf(even_psf((8.3, 8.3), n=17))
    assert not out.far_off and out.cards() == {}
    with pytest.warns(AstrodeconvWarning, match='0.57 pixels'):
        resolve_psf(even_psf((8.4, 8.4), n=17))


def test_far_off_keywords_in_the_output_header(observed, wcs):
    psf = np.roll(even_psf((8.0, 8.0), n=17), 1, axis=1)
    with pytest.warns(AstrodeconvWarning, match='PSFOFFY/PSFOFFX'):
        out = TikhonovDeconvolver()(NDData(observed, wcs=wcs), psf=psf)
    assert out.meta['PSFOFFY'] == pytest.approx(0.0, abs=1e-9)
    assert out.meta['PSFOFFX'] == pytest.approx(1.0)


def test_mosaic_header_records_the_offset(observed, tmp_path):
    from astropy.io import fits

    psf = np.roll(even_psf((8.0, 8.0), n=17), 1, axis=1)
    path = tmp_path / 'in.fits'
    fits.PrimaryHDU(observed).writeto(path)
    with pytest.warns(AstrodeconvWarning, match='used as given'):
        deconvolve_mosaic(path, tmp_path / 'out.fits', psf=psf, tile=32,
                          overlap=8, workers=0, progress=False)
    header = fits.getheader(tmp_path / 'out.fits')
    assert header['PSFOFFX'] == pytest.approx(1.0)


# -- the mosaic parses its PSF once ------------------------------------------

def test_mosaic_parses_the_psf_once(observed, monkeypatch):
    counts = {'resolve': 0, 'validate': 0, 'fwhm': 0}
    real_resolve = resolve_module.resolve_psf
    real_validate = resolve_module.validate_psf
    real_fwhm = measure_module.measure_fwhm

    def counting(name, real):
        def wrapper(*args, **kwargs):
            if name != 'resolve' or not isinstance(args[0], ResolvedPSF):
                counts[name] += 1
            return real(*args, **kwargs)
        return wrapper

    import astrodeconv.deconvolution.core as core_module
    import astrodeconv.psf as psf_package
    monkeypatch.setattr(psf_package, 'resolve_psf',
                        counting('resolve', real_resolve))
    monkeypatch.setattr(core_module, 'resolve_psf',
                        counting('resolve', real_resolve))
    monkeypatch.setattr(resolve_module, 'validate_psf',
                        counting('validate', real_validate))
    monkeypatch.setattr(measure_module, 'measure_fwhm',
                        counting('fwhm', real_fwhm))
    result = deconvolve_mosaic(observed, None, psf=make_gaussian_psf(
        2.5, (9, 9)), tile=24, overlap=6, workers=0, progress=False)
    assert result.tiles > 4
    # one parse, one validation of its one plane, however many tiles
    assert counts == {'resolve': 1, 'validate': 1, 'fwhm': 0}
