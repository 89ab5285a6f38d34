"""The NDData input/output contract, checked for every deconvolver."""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import CCDData, NDData, StdDevUncertainty

from astrodeconv import conf
from astrodeconv.deconvolution import (RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver,
                                       WienerDeconvolver)
from astrodeconv.utils import AstrodeconvWarning

DECONVOLVERS = [TikhonovDeconvolver(), WienerDeconvolver(),
                RichardsonLucyDeconvolver(n_iter=10)]
IDS = ['tikhonov', 'wiener', 'richardson_lucy']


def run(deconv, data, psf):
    """Call the deconvolver, giving the PSF unless the NDData has one."""
    kwargs = {}
    if not (isinstance(data, NDData) and data.psf is not None):
        kwargs['psf'] = psf
    has_error = isinstance(data, NDData) and data.uncertainty is not None
    if has_error and not deconv._linear:
        with pytest.warns(AstrodeconvWarning,
                          match='uncertainty cannot be propagated'):
            return deconv(data, **kwargs)
    return deconv(data, **kwargs)


@pytest.mark.parametrize('deconv', DECONVOLVERS, ids=IDS)
def test_round_trip_every_kind(deconv, any_input, psf):
    out = run(deconv, any_input, psf)
    assert type(out) is type(any_input)
    if isinstance(any_input, u.Quantity):
        assert out.unit == any_input.unit
    if isinstance(any_input, NDData):
        assert out.unit == any_input.unit
        assert out is not any_input
        if any_input.wcs is not None:
            assert out.wcs.to_header() == any_input.wcs.to_header()
        else:
            assert out.wcs is None
        for key, value in any_input.meta.items():
            assert out.meta[key] == value
        assert out.meta['DECONV'] == type(deconv).__name__
        assert 'DCNVVER' in out.meta
        assert out.mask.shape == out.data.shape
        if any_input.uncertainty is not None:
            if deconv._linear:
                assert type(out.uncertainty) is type(any_input.uncertainty)
                assert out.uncertainty.array.shape == out.data.shape
            else:
                assert out.uncertainty is None
        else:
            assert out.uncertainty is None
    values = out.data if isinstance(out, NDData) else np.asarray(
        getattr(out, 'value', out))
    data = (any_input.data if isinstance(any_input, NDData)
            else np.asarray(getattr(any_input, 'value', any_input)))
    assert np.isclose(values.sum(), data.sum(), rtol=1e-6)


@pytest.mark.parametrize('deconv', DECONVOLVERS, ids=IDS)
def test_flux_conserved_with_upsampling(deconv, observed, psf):
    cls = type(deconv)
    params = {'n_iter': 10} if cls is RichardsonLucyDeconvolver else {}
    data = observed[:32, :32] + 0.05
    out = cls(upsample=2, **params)(data, psf=psf)
    assert out.shape == (64, 64)
    assert np.isclose(out.sum(), data.sum(), rtol=1e-6)


def test_input_not_modified(observed, psf, wcs):
    data = NDData(observed.copy(), wcs=wcs, psf=psf.copy(),
                  meta={'A': 1}, mask=np.zeros(observed.shape, bool))
    TikhonovDeconvolver(upsample=2)(data)
    np.testing.assert_array_equal(data.data, observed)
    assert data.meta == {'A': 1}
    assert data.wcs.wcs.cdelt[1] == wcs.wcs.cdelt[1]


def tikhonov_noise_gain(psf, shape, lam):
    """
    Output std of periodic Tikhonov for unit white noise (exact formula).

    By Parseval, ``sqrt(mean |W|**2)`` over the full spectrum, with
    ``W = H* / (|H|**2 + lam |L|**2)`` built here with `numpy.fft`.
    """
    big = np.zeros(shape)
    big[:psf.shape[0], :psf.shape[1]] = psf
    big = np.roll(big, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)),
                  axis=(0, 1))
    otf = np.fft.fft2(big)
    lap = np.zeros(shape)
    lap[0, 0] = 4
    lap[[1, -1], 0] = -1
    lap[0, [1, -1]] = -1
    filt = np.conj(otf) / (np.abs(otf) ** 2
                           + lam * np.abs(np.fft.fft2(lap)) ** 2)
    return np.sqrt(np.mean(np.abs(filt) ** 2))


def test_units_are_kept_and_uncertainty_unit_converted(observed, psf):
    data = NDData(observed, unit=u.Jy, psf=psf,
                  uncertainty=StdDevUncertainty(
                      np.full(observed.shape, 10.0), unit=u.mJy))
    out = TikhonovDeconvolver()(data)
    assert out.unit == u.Jy
    assert out.uncertainty.unit == u.Jy
    # 10 mJy = 0.01 Jy times the exact noise gain of the filter (1.213 for
    # this PSF and lam=9e-3), the same at every pixel (periodic, white)
    expected = 0.01 * tikhonov_noise_gain(psf, observed.shape, 9e-3)
    np.testing.assert_allclose(out.uncertainty.array, expected, rtol=1e-10)


@pytest.mark.parametrize('deconv', [
    TikhonovDeconvolver(lam=9e-3), TikhonovDeconvolver(lam=1e-3),
    TikhonovDeconvolver(lam=9e-3, upsample=2),
    WienerDeconvolver(balance=1e-2)],
    ids=['tikhonov', 'tikhonov_small_lam', 'tikhonov_upsample2',
         'wiener_fixed'])
def test_propagated_error_matches_monte_carlo(deconv, truth, psf, blur):
    # The standard deviation, pixel by pixel, of the results of the same
    # deconvolver over 2000 noise realisations (a map of noise levels that
    # varies by a factor 3 over the image) is the propagated error.
    # Per-pixel scatter expected from 2000 draws: 1.6%. Measured for the
    # four cases: median ratio 0.998-0.9993, 99% of the pixels within
    # 0.958-1.042, correlation of the maps 0.998.
    k = deconv.upsample
    shape = (24, 24)
    clean = blur(truth, psf)[20:44, 20:44] if k == 1 else blur(
        truth, psf).reshape(32, 2, 32, 2).sum(axis=(1, 3))[4:28, 4:28]
    yy, xx = np.indices(shape)
    error = 0.01 * (1 + 2 * np.exp(-((yy - 8) ** 2 + (xx - 14) ** 2) / 20)
                    + 0.5 * xx / 23)
    rng = np.random.default_rng(11)
    noisy = clean + rng.normal(0, 1, (2000,) + shape) * error
    res = deconv.deconvolve(noisy, psf=psf, error=np.broadcast_to(
        error, noisy.shape).copy())
    assert res.error.shape == (2000, 24 * k, 24 * k)
    propagated = res.error[0]
    np.testing.assert_array_equal(res.error[1], propagated)
    ratio = res.image.std(axis=0, ddof=1) / propagated
    assert abs(np.median(ratio) - 1) < 0.01
    low, high = np.percentile(ratio, [0.5, 99.5])
    assert 0.94 < low and high < 1.06
    assert np.corrcoef(res.image.std(axis=0).ravel(),
                       propagated.ravel())[0, 1] > 0.99


def test_output_psf_is_effective_psf(observed, psf):
    out = TikhonovDeconvolver()(NDData(observed, psf=psf))
    assert out.psf.shape == psf.shape
    assert out.psf.max() > psf.max()


def test_provenance_switch(observed, psf):
    with conf.set_temp('provenance', False):
        out = TikhonovDeconvolver()(NDData(observed, psf=psf,
                                           meta={'OBJECT': 'x'}))
    assert out.meta == {'OBJECT': 'x'}
    # an explicit weight is recorded as given
    out = TikhonovDeconvolver(lam=0.037)(NDData(observed, psf=psf))
    assert out.meta['DCNVLRUL'] == 'fixed' and out.meta['DCNVLAM'] == 0.037
    # a chosen weight is recorded as the one the results report and the
    # one the image was made with
    auto = TikhonovDeconvolver(lam='auto')
    out = auto(NDData(observed, psf=psf))
    assert out.meta['DCNVLRUL'] == 'auto'
    chosen = float(auto.deconvolve(observed, psf=psf).params['lam'])
    assert out.meta['DCNVLAM'] == pytest.approx(chosen, rel=1e-12)
    assert not np.isclose(chosen, TikhonovDeconvolver().lam, rtol=0.01)
    again = TikhonovDeconvolver(lam=out.meta['DCNVLAM'])(observed, psf=psf)
    np.testing.assert_allclose(out.data, again, rtol=0,
                               atol=1e-12 * np.abs(again).max())
    assert all(len(key) <= 8 for key in out.meta)


def test_psf_renormalised_with_warning(observed, psf):
    with pytest.warns(AstrodeconvWarning, match='psf sum is 2, not 1'):
        out = TikhonovDeconvolver()(observed, psf=2 * psf)
    np.testing.assert_allclose(out, TikhonovDeconvolver()(observed,
                                                          psf=psf))


def test_ccddata_mask_or_nonfinite(observed, psf):
    data = observed.copy()
    data[0, 0] = np.inf
    mask = np.zeros(data.shape, bool)
    mask[5, 5] = True
    out = TikhonovDeconvolver()(CCDData(data, unit='adu', mask=mask),
                                psf=psf)
    assert out.mask[0, 0] and out.mask[5, 5] and out.mask.sum() == 2
    assert np.all(np.isfinite(out.data))


def test_no_warning_for_clean_input(observed, psf):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        TikhonovDeconvolver()(observed, psf=psf)
