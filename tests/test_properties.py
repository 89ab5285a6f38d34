"""
Property-based tests (hypothesis) of the invariants everything builds on.

* every linear method conserves the total flux, for every boundary,
  regularisation weight and upsampling factor;
* the WCS of an upsampled grid maps every fine pixel centre to the sky
  position of the same point of the coarse grid;
* the forward model's adjoint is exact.
"""

import warnings

import numpy as np
import pytest
from astropy.wcs import WCS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrodeconv.deconvolution import TikhonovDeconvolver, WienerDeconvolver
from astrodeconv.operators import ForwardModel
from astrodeconv.psf import make_gaussian_psf
from astrodeconv.utils._wcs import upsample_wcs

SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def gaussian_stamp(rng, shape):
    """A positive galaxy-like image with noise, random position and size."""
    yy, xx = np.indices(shape)
    y0, x0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
    width = rng.uniform(1.5, 6.0)
    image = 100 * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2)
                         / (2 * width ** 2))
    return image + rng.normal(0, 0.5, shape)


@SETTINGS
@given(seed=st.integers(0, 2 ** 16),
       ny=st.integers(12, 40), nx=st.integers(12, 40),
       k=st.integers(1, 3),
       boundary=st.sampled_from(['periodic', 'reflect', 'apodize']),
       weight=st.one_of(st.floats(1e-6, 10.0), st.sampled_from(['auto'])),
       method=st.sampled_from(['tikhonov', 'wiener']))
def test_linear_methods_conserve_flux(seed, ny, nx, k, boundary, weight,
                                      method):
    rng = np.random.default_rng(seed)
    data = np.stack([gaussian_stamp(rng, (ny, nx)) for _ in range(2)])
    fwhm = rng.uniform(1.5, 3.0) * k
    size = 2 * int(2 * fwhm) + 1
    size = min(size, 2 * ((min(ny, nx) * k - 1) // 2) + 1)
    psf = make_gaussian_psf(fwhm, shape=(size, size))
    if method == 'tikhonov':
        deconv = TikhonovDeconvolver(lam=weight, upsample=k,
                                     boundary=boundary)
    else:
        deconv = WienerDeconvolver(balance=weight, upsample=k,
                                   boundary=boundary)
    with warnings.catch_warnings():
        # small random stamps may trigger PSF plausibility warnings; the
        # property under test is the flux
        warnings.simplefilter('ignore')
        out = deconv(data, psf=psf)
    np.testing.assert_allclose(out.sum(axis=(-2, -1)),
                               data.sum(axis=(-2, -1)), rtol=1e-6,
                               atol=1e-9 * np.abs(data).sum())


@SETTINGS
@given(k=st.integers(2, 5),
       crpix=st.tuples(st.floats(-50, 150), st.floats(-50, 150)),
       crval=st.tuples(st.floats(0, 359), st.floats(-80, 80)),
       scale=st.floats(0.01, 1.0), angle=st.floats(0, 2 * np.pi),
       points=st.lists(st.tuples(st.floats(0, 63), st.floats(0, 63)),
                       min_size=1, max_size=5))
def test_upsampled_wcs_maps_pixel_centres(k, crpix, crval, scale, angle,
                                          points):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crpix = crpix
    wcs.wcs.crval = crval
    c, s = np.cos(angle), np.sin(angle)
    wcs.wcs.cd = scale / 3600 * np.array([[-c, s], [s, c]])
    fine = upsample_wcs(wcs, k, shape=(32 * k, 32 * k))
    fine_pixels = np.array(points)
    # fine pixel f is the point (f + 0.5) / k - 0.5 of the coarse grid
    coarse_pixels = (fine_pixels + 0.5) / k - 0.5
    sky_fine = fine.pixel_to_world(fine_pixels[:, 0], fine_pixels[:, 1])
    sky_coarse = wcs.pixel_to_world(coarse_pixels[:, 0],
                                    coarse_pixels[:, 1])
    separation = sky_fine.separation(sky_coarse).arcsec
    assert np.all(separation < 1e-6 * max(scale, 1e-3))
    np.testing.assert_allclose(np.abs(np.linalg.det(fine.wcs.cd)),
                               np.abs(np.linalg.det(wcs.wcs.cd)) / k ** 2,
                               rtol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 2 ** 16), ny=st.integers(4, 24),
       nx=st.integers(4, 24), k=st.integers(1, 4),
       n_images=st.integers(1, 3), per_image=st.booleans(),
       pad_width=st.integers(0, 4),
       py=st.integers(1, 9), px=st.integers(1, 9))
def test_forward_model_adjoint_is_exact(seed, ny, nx, k, n_images, per_image,
                                        pad_width, py, px):
    rng = np.random.default_rng(seed)
    py, px = min(py, ny * k), min(px, nx * k)
    psf = rng.normal(size=((n_images,) if per_image else ()) + (py, px))
    model = ForwardModel(psf, (ny, nx), upsample=k, pad_width=pad_width)
    x = rng.normal(size=(n_images,) + model.fine_shape)
    y = rng.normal(size=(n_images, ny, nx))
    lhs = np.vdot(model.forward(x), y)
    rhs = np.vdot(x, model.adjoint(y))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)
