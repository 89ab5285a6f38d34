"""Tests of make_matching_kernel."""

import numpy as np
import pytest
from photutils.psf_matching import (CosineBellWindow, SplitCosineBellWindow,
                                    TopHatWindow, TukeyWindow)
from scipy.signal import fftconvolve

from astrodeconv.psf import (make_gaussian_psf, make_matching_kernel,
                             make_moffat_psf, measure_fwhm, pad_psf,
                             psf_center, psf_centroid)


def matched_residual(source, target, kernel):
    """Largest |source * kernel - target| relative to the target peak."""
    shape = kernel.shape
    matched = fftconvolve(pad_psf(source, shape), kernel, mode='same')
    target = pad_psf(target, shape)
    return np.abs(matched - target).max() / target.max()


def test_gaussian_to_gaussian():
    source = make_gaussian_psf(2.0, 41)
    target = make_gaussian_psf(4.0, 41)
    kernel = make_matching_kernel(source, target)
    assert kernel.shape == (41, 41)
    assert kernel.sum() == pytest.approx(1.0)
    assert psf_centroid(kernel) == pytest.approx((20, 20), abs=1e-6)
    assert matched_residual(source, target, kernel) < 1e-3
    # Gaussian widths add in quadrature
    assert measure_fwhm(kernel, method='gaussian') == pytest.approx(
        np.sqrt(4.0**2 - 2.0**2), rel=0.03)


def test_moffat_different_shapes():
    source = make_moffat_psf(2.5, 3.0, (40, 40))
    target = make_moffat_psf(5.0, 2.5, (51, 45))
    kernel = make_matching_kernel(source, target)
    # largest shape along each axis, made odd
    assert kernel.shape == (51, 45)
    assert np.unravel_index(np.argmax(kernel), kernel.shape) == (
        psf_center(kernel.shape))
    assert matched_residual(source, target, kernel) < 1e-3


def test_even_shapes():
    source = make_gaussian_psf(2.0, 40)
    target = make_gaussian_psf(3.5, 40)
    kernel = make_matching_kernel(source, target)
    assert kernel.shape == (41, 41)
    assert matched_residual(source, target, kernel) < 1e-3


def test_wiener_method():
    source = make_moffat_psf(2.5, 3.0, 41)
    target = make_moffat_psf(5.0, 2.5, 41)
    kernel = make_matching_kernel(source, target, method='wiener')
    assert kernel.sum() == pytest.approx(1.0)
    assert matched_residual(source, target, kernel) < 5e-3
    # a stronger regularisation gives a worse match
    smooth = make_matching_kernel(source, target, method='wiener',
                                  regularization=0.1)
    assert (matched_residual(source, target, smooth)
            > matched_residual(source, target, kernel))


@pytest.mark.parametrize(('window', 'smoother', 'max_residual'), [
    (TopHatWindow(0.6), False, 0.03),
    (TukeyWindow(0.5), True, 0.02),
    (SplitCosineBellWindow(0.3, 0.4), True, 0.05),
    (CosineBellWindow(0.5), True, 0.5),  # strong taper: a blurred match
])
def test_windows(window, smoother, max_residual):
    rng = np.random.default_rng(1)
    source = make_moffat_psf(2.5, 3.0, 41)
    noisy = source + rng.normal(0, 1e-4, source.shape)
    target = make_moffat_psf(5.0, 2.5, 41)
    raw = make_matching_kernel(noisy, target)
    tapered = make_matching_kernel(noisy, target, window=window)
    assert tapered.sum() == pytest.approx(1.0)
    assert psf_centroid(tapered) == pytest.approx((20, 20), abs=0.05)
    assert not np.allclose(tapered, raw)
    # a smooth taper suppresses the noise amplified in the raw kernel
    if smoother:
        assert np.std(tapered[:5]) < 0.7 * np.std(raw[:5])
    assert matched_residual(source, target, raw) < 0.01
    assert matched_residual(source, target, tapered) < max_residual


def test_identical_psfs():
    psf = make_moffat_psf(3.0, 2.5, 31)
    kernel = make_matching_kernel(psf, psf)
    assert kernel[15, 15] == pytest.approx(1.0, abs=1e-6)


def test_target_narrower():
    narrow = make_gaussian_psf(2.0, 31)
    broad = make_gaussian_psf(3.0, 31)
    with pytest.raises(ValueError, match=r'target_psf must be broader than '
                       r'source_psf, got a target FWHM of 2.000 pixels for '
                       r'a source FWHM of 3.000'):
        make_matching_kernel(broad, narrow)


def test_errors():
    psf = make_gaussian_psf(2.0, 31)
    broad = make_gaussian_psf(3.0, 31)
    with pytest.raises(ValueError, match=r'regularization must be in the '
                       r'range \[0, 1\)'):
        make_matching_kernel(psf, broad, regularization=1.0)
    with pytest.raises(ValueError, match='regularization must be >= 0'):
        make_matching_kernel(psf, broad, regularization=-0.1)
    with pytest.raises(ValueError, match='regularization must be > 0'):
        make_matching_kernel(psf, broad, regularization=0, method='wiener')
    with pytest.raises(ValueError, match="method must be one of 'threshold'"):
        make_matching_kernel(psf, broad, method='fft')
    with pytest.raises(TypeError, match='window must be a callable'):
        make_matching_kernel(psf, broad, window='tophat')
    with pytest.raises(ValueError, match='source_psf must be centred'):
        make_matching_kernel(np.roll(psf, 4, axis=0), broad)
    with pytest.raises(ValueError, match='target_psf must have a positive'):
        make_matching_kernel(psf, np.zeros((31, 31)))
