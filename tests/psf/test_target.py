"""
The output resolution through the PSF door: ``resolve_psf(...,
target_psf=...)`` (issue 19 item 1).

Every spelling of one target gives the same narrow PSF; a target carrying
its own pixel scale is resampled onto the output grid; the narrow PSF
convolved with the target gives the PSF back, a stack plane by plane and
with the registration of a PSF used as given; refused targets raise
errors naming ``target_psf``; the record and its keywords say what was
asked for.
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.modeling.models import Gaussian2D
from astropy.nddata import NDData
from scipy.signal import fftconvolve

from astrodeconv.psf import (make_gaussian_psf, make_moffat_psf,
                             make_narrow_psf, measure_fwhm, psf_centroid,
                             psf_to_image_psf, resolve_psf,
                             target_psf_from_fwhm)
from astrodeconv.utils.exceptions import AstrodeconvWarning

SCALE = 0.1 * u.arcsec        # data pixel scale
PSF = make_moffat_psf(6.0, shape=(41, 41))


def circular(image, kernel):
    """Periodic convolution of two centred stamps of one odd shape."""
    shift = tuple(-(n // 2) for n in kernel.shape)
    otf = np.fft.fft2(np.roll(kernel, shift, axis=(0, 1)))
    return np.fft.ifft2(np.fft.fft2(image) * otf).real


# -- spellings ---------------------------------------------------------------

def test_fwhm_in_arcsec_pixels_and_as_an_array_give_one_narrow_psf():
    arcsec = resolve_psf(PSF, image_scale=SCALE, target_psf=0.25 * u.arcsec)
    pixels = resolve_psf(PSF, target_psf=2.5 * u.pix)
    array = resolve_psf(PSF, target_psf=target_psf_from_fwhm(2.5, (41, 41)))
    np.testing.assert_array_equal(arcsec.array, pixels.array)
    np.testing.assert_array_equal(arcsec.array, array.array)
    # a smaller stamp of the same target: the same to round-off of its
    # (vanishing) truncated wings
    small = resolve_psf(PSF, target_psf=target_psf_from_fwhm(2.5, (17, 17)))
    np.testing.assert_allclose(small.array, pixels.array, rtol=0,
                               atol=1e-9 * pixels.array.max())
    # the upsampled grid halves the pixel: 0.25" is 5 output pixels
    finer = resolve_psf(PSF, image_scale=SCALE, upsample=2,
                        target_psf=0.25 * u.arcsec)
    assert finer.target_fwhm == pytest.approx(5.0)
    assert finer.output_scale == pytest.approx(0.05)
    assert finer.target_fwhm_arcsec == pytest.approx(0.25)


def test_narrow_psf_convolved_with_the_target_is_the_psf():
    resolved = resolve_psf(PSF, target_psf=2.0 * u.pix)
    assert resolved.array.shape == PSF.shape
    np.testing.assert_allclose(resolved.full_psf, PSF / PSF.sum(), rtol=0,
                               atol=1e-15)
    back = circular(resolved.array, resolved.target)
    assert np.abs(back - resolved.full_psf).max() < 1e-4 * PSF.max()
    assert measure_fwhm(resolved.array) < 0.95 * measure_fwhm(PSF)


def test_nddata_target_with_a_scale_is_resampled_onto_the_output_grid():
    # 0.2" FWHM drawn at 0.05"/px (4 pixels) for data at 0.1"/px
    fine = target_psf_from_fwhm(4.0, (33, 33))
    given = NDData(fine, meta={'PIXSCALE': 0.05})
    with pytest.warns(AstrodeconvWarning, match='target_psf is sampled at'):
        resampled = resolve_psf(PSF, image_scale=SCALE, target_psf=given)
    direct = resolve_psf(PSF, image_scale=SCALE, target_psf=0.2 * u.arcsec)
    assert resampled.target_kind == 'nddata'
    assert resampled.target_fwhm == pytest.approx(2.0, rel=0.03)
    np.testing.assert_allclose(resampled.array, direct.array, rtol=0,
                               atol=0.02 * direct.array.max())
    # on the output grid already: no resampling, no warning
    same = resolve_psf(PSF, image_scale=SCALE, target_psf=NDData(
        target_psf_from_fwhm(2.0, (41, 41)), meta={'PIXSCALE': 0.1}))
    np.testing.assert_array_equal(same.array, direct.array)


def test_image_psf_and_model_targets():
    target = target_psf_from_fwhm(2.0, (21, 21))
    direct = resolve_psf(PSF, target_psf=2.0 * u.pix)
    # an ImagePSF oversampled twice is on the grid of upsample=2
    image_psf = psf_to_image_psf(target_psf_from_fwhm(4.0, (41, 41)),
                                 oversampling=2)
    up = resolve_psf(PSF, upsample=2, target_psf=image_psf)
    assert up.target_kind == 'imagepsf'
    assert up.target_fwhm == pytest.approx(4.0, rel=0.01)
    with pytest.warns(AstrodeconvWarning, match='resampled by a factor 0.5'):
        down = resolve_psf(PSF, target_psf=image_psf)
    assert down.target_fwhm == pytest.approx(2.0, rel=0.03)
    # an astropy model (surface brightness, integrated over the pixels)
    sigma = 2.0 / (2 * np.sqrt(2 * np.log(2)))
    model = resolve_psf(PSF, target_psf=Gaussian2D(x_stddev=sigma,
                                                   y_stddev=sigma))
    assert model.target_kind == 'model'
    np.testing.assert_allclose(model.target[10:31, 10:31], target, rtol=0,
                               atol=2e-3 * target.max())
    np.testing.assert_allclose(model.array, direct.array, rtol=0,
                               atol=0.02 * direct.array.max())
    # a photutils PRF (pixel-integrated, sampled at the pixel centres): the
    # same pixel-integrated Gaussian as a FWHM gives
    photutils_psf = pytest.importorskip('photutils.psf')
    prf = resolve_psf(PSF, target_psf=photutils_psf.CircularGaussianPRF(
        fwhm=2.0))
    assert prf.target_kind == 'model'
    np.testing.assert_allclose(prf.array, direct.array, rtol=0,
                               atol=1e-9 * direct.array.max())


def test_a_resolved_psf_takes_its_target_later():
    once = resolve_psf(PSF, image_scale=SCALE, target_psf=0.2 * u.arcsec)
    later = resolve_psf(resolve_psf(PSF), image_scale=SCALE,
                        target_psf=0.2 * u.arcsec)
    np.testing.assert_array_equal(once.array, later.array)
    assert once.cards() == later.cards()
    # and keeps it when passed on without one
    assert resolve_psf(once) is once


def test_stack_is_narrowed_plane_by_plane():
    stack = np.stack([make_moffat_psf(f, shape=(31, 31)) for f in (5., 7.)])
    resolved = resolve_psf(stack, shape=(2, 64, 64), target_psf=2.0 * u.pix)
    assert resolved.array.shape == (2, 31, 31)
    for plane, psf in zip(resolved.array, stack):
        expected = make_narrow_psf(psf, resolved.target)
        np.testing.assert_array_equal(plane, expected)


def test_even_psf_gives_an_odd_narrow_psf_within_the_image():
    psf = make_gaussian_psf(5.0, shape=(24, 24))
    resolved = resolve_psf(psf, shape=(40, 40), target_psf=2.0 * u.pix)
    assert resolved.array.shape == (25, 25)
    # as large as the image: cropped to it, still of unit sum
    cropped = resolve_psf(psf, shape=(24, 24), target_psf=2.0 * u.pix)
    assert cropped.array.shape == (24, 24)
    assert cropped.array.sum() == pytest.approx(1.0)


def test_registration_of_a_psf_used_as_given_is_kept():
    # centroid one pixel right of the centre: used as given (the default)
    psf = np.roll(make_gaussian_psf(5.0, shape=(31, 31)), 1, axis=1)
    with pytest.warns(AstrodeconvWarning, match='used as given'):
        resolved = resolve_psf(psf, target_psf=2.0 * u.pix)
    cy, cx = psf_centroid(resolved.array)
    assert (cy, cx) == (pytest.approx(15.0, abs=1e-6),
                        pytest.approx(16.0, abs=1e-3))
    assert resolved.cards()['PSFOFFX'] == pytest.approx(1.0)
    assert resolved.cards()['DCNVTGT'] == 'gaussian'


def test_an_off_centre_target_is_centred():
    target = np.roll(target_psf_from_fwhm(2.0, (41, 41)), 1, axis=0)
    resolved = resolve_psf(PSF, target_psf=target)
    cy, cx = psf_centroid(resolved.target)
    assert (cy, cx) == (pytest.approx(20.0, abs=1e-6),
                        pytest.approx(20.0, abs=1e-6))
    np.testing.assert_allclose(
        resolved.array, resolve_psf(PSF, target_psf=2.0 * u.pix).array,
        rtol=0, atol=1e-6 * resolved.array.max())


# -- the record and its keywords ---------------------------------------------

def test_record_and_cards():
    resolved = resolve_psf(PSF, image_scale=SCALE,
                           target_psf=0.25 * u.arcsec)
    assert resolved.target_kind == 'gaussian'
    assert resolved.target_fwhm == pytest.approx(2.5)
    assert resolved.target_fwhm_arcsec == pytest.approx(0.25)
    assert resolved.cards() == {'DCNVTGT': 'gaussian', 'DCNVTFW': 0.25,
                                'DCNVTFWP': 2.5}
    # an array target: its FWHM measured, in arcsec when the scale is known
    array = resolve_psf(PSF, image_scale=SCALE,
                        target_psf=target_psf_from_fwhm(3.0, (41, 41)))
    cards = array.cards()
    assert cards['DCNVTGT'] == 'array'
    assert cards['DCNVTFWP'] == pytest.approx(3.0, rel=0.01)
    assert cards['DCNVTFW'] == pytest.approx(0.3, rel=0.01)
    # no pixel scale: pixels only
    assert 'DCNVTFW' not in resolve_psf(
        PSF, target_psf=target_psf_from_fwhm(3.0, (41, 41))).cards()
    for key, value in cards.items():
        assert len(key) <= 8 and key == key.upper()
        assert isinstance(value, (str, float))


def test_without_target_the_record_is_unchanged():
    resolved = resolve_psf(PSF)
    assert resolved.target is None and resolved.full_psf is None
    assert resolved.target_kind is None and resolved.output_scale is None
    assert resolved.cards() == {}
    np.testing.assert_array_equal(resolved.array, PSF / PSF.sum())


# -- refusals ----------------------------------------------------------------

ELLIPTICAL = make_gaussian_psf(4.0, shape=(41, 41), ellipticity=0.5)


@pytest.mark.parametrize('psf, kwargs, error, match', [
    # wider than the PSF
    (make_gaussian_psf(4.0, shape=(41, 41)), {'target_psf': 6.0 * u.pix},
     ValueError, '^target_psf must be narrower than the PSF in every '
     'direction'),
    # elliptical, wider than the PSF along x only
    (make_gaussian_psf(5.0, shape=(41, 41)), {'target_psf': ELLIPTICAL},
     ValueError, '^target_psf must be narrower.* along 0 degrees'),
    (make_gaussian_psf(5.0, shape=(41, 41)), {'target_psf': ELLIPTICAL.T},
     ValueError, '^target_psf must be narrower.* along 90 degrees'),
    # an angle with no pixel scale
    (PSF, {'target_psf': 0.2 * u.arcsec}, ValueError,
     r'^target_psf is a FWHM of 0.2 arcsec, an angle, but the pixel scale '
     'of the output grid is unknown'),
    # a target carrying its scale, for data without one
    (PSF, {'target_psf': NDData(target_psf_from_fwhm(2.0, (21, 21)),
                                meta={'PIXSCALE': 0.05})}, ValueError,
     r'^target_psf is sampled at 0.05 arcsec per pixel .* cannot be put on '
     'the output grid'),
    (PSF, {'target_psf': 0.2}, TypeError,
     r'^target_psf must be a FWHM Quantity .* got float 0.2'),
    (PSF, {'target_psf': 2.0 * u.m}, u.UnitsError,
     r'^target_psf must be a FWHM Quantity .* unit Unit\("m"\)'),
    (PSF, {'target_psf': -2.0 * u.pix}, ValueError,
     '^target_psf FWHM must be positive and finite'),
    (PSF, {'target_psf': np.zeros((5, 5))}, ValueError,
     '^target_psf must have a positive sum'),
    (PSF, {'target_psf': np.ones((2, 5, 5))}, ValueError,
     '^target_psf must be a 2D array, got 3'),
    (PSF, {'target_psf': resolve_psf(PSF)}, TypeError,
     '^target_psf must be .* got a ResolvedPSF'),
    (PSF, {'target_psf': 2.0 * u.pix, 'normalize': False}, ValueError,
     '^target_psf must not be given with normalize=False'),
    (resolve_psf(PSF, target_psf=2.0 * u.pix), {'target_psf': 2.0 * u.pix},
     ValueError, '^target_psf must be given once'),
])
def test_refused_targets(psf, kwargs, error, match):
    with pytest.raises(error, match=match):
        resolve_psf(psf, **kwargs)


def test_a_target_sampled_on_another_grid_is_refused_when_wider():
    # the target drawn for a grid twice finer, given as a plain array:
    # twice too wide on this grid, which the narrowness check catches
    psf = make_gaussian_psf(5.0, shape=(41, 41))
    with pytest.raises(ValueError, match='check that both are sampled on '
                       'the output grid'):
        resolve_psf(psf, target_psf=target_psf_from_fwhm(6.0, (41, 41)))


def test_narrow_psf_of_the_door_matches_make_narrow_psf_by_hand():
    target = make_gaussian_psf(2.0, shape=(41, 41))
    by_hand = make_narrow_psf(PSF, target)
    door = resolve_psf(PSF, target_psf=target).array
    np.testing.assert_allclose(door, by_hand, rtol=0, atol=1e-15)
    back = fftconvolve(door, target, mode='same')
    assert np.abs(back - PSF / PSF.sum()).max() < 1e-3 * PSF.max()
