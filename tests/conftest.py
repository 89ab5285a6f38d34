"""Shared fixtures: images, PSFs, WCS and every supported input kind."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import (CCDData, InverseVariance, NDData,
                            StdDevUncertainty, VarianceUncertainty)
from astropy.wcs import WCS
from scipy import fft as sp_fft

NOISE = 0.01


def gaussian_psf(fwhm, size):
    """A normalised, centred Gaussian PSF made with numpy only."""
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    yy, xx = np.indices((size, size)) - size // 2
    psf = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    return psf / psf.sum()


def circular_convolve(image, psf):
    """Circular convolution with a PSF centred on (ny // 2, nx // 2)."""
    big = np.zeros(image.shape[-2:])
    big[:psf.shape[0], :psf.shape[1]] = psf
    big = np.roll(big, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)),
                  axis=(0, 1))
    otf = sp_fft.rfft2(big)
    return sp_fft.irfft2(sp_fft.rfft2(image, axes=(-2, -1)) * otf,
                         s=image.shape[-2:], axes=(-2, -1))


def galaxy(shape=(64, 64), *, seed=0):
    """A smooth galaxy with two compact clumps."""
    yy, xx = np.indices(shape, dtype=float)
    cy, cx = shape[0] / 2, shape[1] / 2
    r = np.hypot((yy - cy) / 0.7, xx - cx)
    img = np.exp(-r / 5.0)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        y0, x0 = rng.uniform(-8, 8, 2) + (cy, cx)
        img += 0.5 * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / 2.0)
    return img


@pytest.fixture
def psf():
    return gaussian_psf(4.0, 15)


@pytest.fixture
def truth():
    return galaxy()


@pytest.fixture
def observed(truth, psf):
    rng = np.random.default_rng(42)
    return circular_convolve(truth, psf) + rng.normal(0, NOISE, truth.shape)


@pytest.fixture
def wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.crval = [53.16, -27.78]
    w.wcs.crpix = [32.5, 30.0]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    w.wcs.cunit = ['deg', 'deg']
    w.pixel_shape = (64, 64)
    return w


def _kinds(observed, wcs, psf):
    err = np.full(observed.shape, NOISE)
    unit = u.electron / u.s
    return {
        'ndarray': observed,
        'quantity': observed * unit,
        'nddata': NDData(observed, unit=unit, wcs=wcs, psf=psf,
                         meta={'OBJECT': 'gal'}),
        'ccddata': CCDData(observed, unit=unit, wcs=wcs,
                           uncertainty=StdDevUncertainty(err),
                           meta={'OBJECT': 'gal'}),
        'nddata_variance': NDData(observed, unit=unit,
                                  uncertainty=VarianceUncertainty(err ** 2),
                                  wcs=wcs),
        'nddata_ivar': NDData(observed, unit=unit,
                              uncertainty=InverseVariance(err ** -2)),
        'nddata_nowcs': NDData(observed),
    }


@pytest.fixture(params=['ndarray', 'quantity', 'nddata', 'ccddata',
                        'nddata_variance', 'nddata_ivar', 'nddata_nowcs'])
def any_input(request, observed, wcs, psf):
    """Every supported input kind holding the same observation."""
    return _kinds(observed, wcs, psf)[request.param]


@pytest.fixture
def make_psf():
    """The numpy Gaussian PSF factory ``make_psf(fwhm, size)``."""
    return gaussian_psf


@pytest.fixture
def blur():
    """Circular convolution ``blur(image, psf)`` used to simulate data."""
    return circular_convolve


@pytest.fixture
def make_galaxy():
    """The galaxy factory ``make_galaxy(shape, seed=...)``."""
    return galaxy


@pytest.fixture
def cli_error_line(capsys):
    """
    A function returning the one error line of a failed command.

    It asserts that standard error holds no traceback and exactly one
    ``astrodeconv: error: ...`` line, and returns that line.
    """
    def read():
        err = capsys.readouterr().err
        assert 'Traceback' not in err
        lines = [line for line in err.splitlines() if 'error' in line]
        assert len(lines) == 1, err
        assert lines[0].startswith('astrodeconv: error: ')
        return lines[0]

    return read
