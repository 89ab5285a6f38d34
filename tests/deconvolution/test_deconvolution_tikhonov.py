"""Tests of TikhonovDeconvolver: filter, flux, upsampling, batches, errors."""

import threading

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import (CCDData, NDData, StdDevUncertainty,
                            VarianceUncertainty)

from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.utils.exceptions import AstrodeconvWarning


def reference_tikhonov(y, psf, lam):
    """Straight transcription of the published filter, for comparison."""
    big = np.zeros_like(y)
    py, px = psf.shape
    oy, ox = y.shape[0] // 2 - py // 2, y.shape[1] // 2 - px // 2
    big[oy:oy + py, ox:ox + px] = psf
    h = np.fft.rfft2(np.fft.ifftshift(big))
    lap = np.zeros_like(y)
    lap[:3, :3] = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
    lap = np.roll(lap, (-1, -1), axis=(0, 1))
    lap_f = np.fft.rfft2(lap)
    x = np.conj(h) * np.fft.rfft2(y) / (np.abs(h) ** 2
                                        + lam * np.abs(lap_f) ** 2)
    return np.fft.irfft2(x, s=y.shape)


def test_matches_reference_filter(observed, psf):
    out = TikhonovDeconvolver(lam=9e-3)(observed, psf=psf)
    np.testing.assert_allclose(out, reference_tikhonov(observed, psf, 9e-3),
                               atol=1e-10)


@pytest.mark.parametrize('lam', [1e-5, 9e-3, 1.0])
def test_flux_preserved_for_any_lambda(observed, psf, lam):
    out = TikhonovDeconvolver(lam=lam)(observed, psf=psf)
    assert np.isclose(out.sum(), observed.sum(), rtol=1e-10)


def test_dc_gain_is_one(observed, psf):
    res = TikhonovDeconvolver().deconvolve(observed, psf=psf)
    assert np.isclose(res.effective_filter[0, 0], 1.0)


def test_delta_psf_gives_laplacian_smoothing_only(observed):
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    # a delta PSF is undersampled (FWHM below one pixel): it warns
    with pytest.warns(AstrodeconvWarning, match='below one pixel'):
        out = TikhonovDeconvolver(lam=1e-12)(observed, psf=delta)
    np.testing.assert_allclose(out, observed, atol=1e-8)


def test_deconvolution_sharpens(truth, observed, psf):
    out = TikhonovDeconvolver()(observed, psf=psf)
    err_in = np.sum((observed - truth) ** 2)
    err_out = np.sum((out - truth) ** 2)
    assert err_out < 0.75 * err_in


def test_residual_and_effective_psf(observed, psf, blur):
    res = TikhonovDeconvolver().deconvolve(observed, psf=psf)
    np.testing.assert_allclose(res.residual,
                               observed - blur(res.image, psf), atol=1e-10)
    assert res.effective_psf.shape == psf.shape
    assert np.isclose(res.effective_psf.sum(), 1.0)
    # the effective PSF is sharper than the PSF
    assert res.effective_psf.max() > psf.max()


@pytest.mark.parametrize('rule', ['auto', 'sure', 'gcv'])
def test_lambda_selection_is_near_optimal(truth, observed, psf, rule):
    res = TikhonovDeconvolver(lam=rule).deconvolve(
        observed, psf=psf, error=np.full(observed.shape, 0.01))
    chosen = float(res.params['lam'])
    grid = np.logspace(-5, 0, 26)
    errors = [np.sum((TikhonovDeconvolver(lam=lam)(observed, psf=psf)
                      - truth) ** 2) for lam in grid]
    best = min(errors)
    assert 1e-5 < chosen < 1.0
    assert np.sum((res.image - truth) ** 2) < 1.3 * best


def test_lambda_auto_adapts_to_noise(truth, psf, blur):
    rng = np.random.default_rng(3)
    clean = blur(truth, psf)
    lams = [float(TikhonovDeconvolver(lam='auto').deconvolve(
        clean + rng.normal(0, s, clean.shape), psf=psf).params['lam'])
        for s in (0.001, 0.05)]
    assert lams[1] > 10 * lams[0]


def test_batch_equals_loop(truth, psf, blur):
    rng = np.random.default_rng(5)
    stack = blur(np.stack([truth, truth[::-1], truth.T]), psf)
    stack = stack + rng.normal(0, 0.01, stack.shape)
    deconv = TikhonovDeconvolver(lam='auto')
    batch = deconv.deconvolve(stack, psf=psf)
    assert batch.image.shape == stack.shape
    assert batch.params['lam'].shape == (3,)
    for i in range(3):
        single = deconv.deconvolve(stack[i], psf=psf)
        np.testing.assert_allclose(batch.image[i], single.image, atol=1e-10)
        assert np.isclose(batch.params['lam'][i], single.params['lam'])


def test_batch_with_one_psf_per_image(truth, psf, make_psf, blur):
    psfs = np.stack([psf, make_psf(3.0, 15)])
    stack = np.stack([blur(truth, p) for p in psfs])
    out = TikhonovDeconvolver()(stack, psf=psfs)
    for i in range(2):
        np.testing.assert_allclose(
            out[i], TikhonovDeconvolver()(stack[i], psf=psfs[i]), atol=1e-10)


def test_list_of_nddata(observed, psf, wcs):
    items = [NDData(observed, psf=psf, wcs=wcs, unit='adu'),
             CCDData(observed[:32, :48], unit='adu'),
             NDData(observed * 2, psf=psf, unit='adu')]
    outs = TikhonovDeconvolver().deconvolve(
        [items[0], NDData(items[1].data, unit='adu', psf=psf), items[2]])
    assert [type(o) for o in outs.image] == [NDData, NDData, NDData]
    assert outs.image[1].data.shape == (32, 48)
    np.testing.assert_allclose(outs.image[2].data, 2 * outs.image[0].data,
                               atol=1e-10)
    assert outs.params['lam'].shape == (3,)


def test_list_mixing_images_with_and_without_uncertainty(observed, psf):
    with_error = NDData(observed, psf=psf, uncertainty=StdDevUncertainty(
        np.full(observed.shape, 0.01)))
    without = NDData(observed, psf=psf)
    res = TikhonovDeconvolver().deconvolve([with_error, without])
    assert isinstance(res.image[0].uncertainty, StdDevUncertainty)
    assert res.image[1].uncertainty is None
    assert res.error[1] is None


def test_shared_instance_is_thread_safe(observed, psf):
    deconv = TikhonovDeconvolver(lam='auto')
    expected = deconv(observed, psf=psf)
    results = {}

    def work(key, data):
        results[key] = deconv(data, psf=psf)

    threads = [threading.Thread(target=work, args=(i, observed * (i + 1)))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(results[1], 2 * expected, rtol=1e-6)


class TestUncertainty:
    def test_propagation_matches_monte_carlo(self, psf):
        rng = np.random.default_rng(7)
        deconv = TikhonovDeconvolver(lam=1e-2)
        sigma = np.full((32, 32), 0.01)
        sigma[:, 16:] = 0.02           # heteroscedastic noise
        draws = np.stack([deconv(rng.normal(0, sigma), psf=psf)
                          for _ in range(600)])
        predicted = deconv.deconvolve(np.zeros((32, 32)), psf=psf,
                                      error=sigma).error
        np.testing.assert_allclose(draws.std(axis=0).mean(),
                                   predicted.mean(), rtol=0.05)
        # the right half is noisier in the propagated map as in the draws
        assert predicted[:, 24:].mean() > 1.5 * predicted[:, :8].mean()

    def test_propagation_with_upsampling(self, psf):
        rng = np.random.default_rng(8)
        deconv = TikhonovDeconvolver(lam=1e-2, upsample=2)
        draws = np.stack([deconv(rng.normal(0, 0.01, (16, 16)), psf=psf)
                          for _ in range(600)])
        predicted = deconv.deconvolve(np.zeros((16, 16)), psf=psf,
                                      error=np.full((16, 16), 0.01)).error
        np.testing.assert_allclose(draws.std(axis=0).mean(),
                                   predicted.mean(), rtol=0.05)

    @pytest.mark.parametrize('unc_class', [StdDevUncertainty,
                                           VarianceUncertainty])
    def test_output_keeps_uncertainty_class(self, observed, psf, unc_class):
        err = np.full(observed.shape, 0.01)
        value = err if unc_class is StdDevUncertainty else err ** 2
        data = NDData(observed, uncertainty=unc_class(value), psf=psf)
        out = TikhonovDeconvolver()(data)
        assert isinstance(out.uncertainty, unc_class)
        # the same propagated error, in the class's own terms
        sigma = TikhonovDeconvolver().deconvolve(observed, psf=psf,
                                                 error=err).error
        expected = sigma if unc_class is StdDevUncertainty else sigma ** 2
        np.testing.assert_allclose(out.uncertainty.array, expected,
                                   rtol=1e-12)
        # deconvolution amplifies white noise (1.21 here): not passed on
        assert not np.allclose(out.uncertainty.array, value, rtol=0.1)


class TestUpsampling:
    def test_shape_and_flux(self, observed, psf):
        data = observed[:32, :32]
        out = TikhonovDeconvolver(upsample=4)(data, psf=psf)
        assert out.shape == (128, 128)
        assert np.isclose(out.sum(), data.sum(), rtol=1e-10)

    def test_wcs_pixel_scale_and_sky_positions(self, observed, psf, wcs):
        data = NDData(observed, wcs=wcs, psf=psf, unit='adu',
                      meta=fits.Header({'OBJECT': 'gal', 'CRPIX1': 32.5}))
        out = TikhonovDeconvolver(upsample=4)(data)
        scale_in = wcs.proj_plane_pixel_scales()
        scale_out = out.wcs.proj_plane_pixel_scales()
        for a, b in zip(scale_in, scale_out):
            assert np.isclose((a / b).decompose().value, 4.0)
        # any point keeps its sky coordinates: fine pixel f <-> coarse
        # pixel (f + 0.5) / 4 - 0.5
        fine = np.array([[0.0, 0.0], [10.3, 77.1], [127.0, 64.5]])
        coarse = (fine + 0.5) / 4 - 0.5
        sky_f = out.wcs.pixel_to_world(fine[:, 0], fine[:, 1])
        sky_c = wcs.pixel_to_world(coarse[:, 0], coarse[:, 1])
        assert np.all(sky_f.separation(sky_c).to_value(u.arcsec) < 1e-6)
        assert out.wcs.pixel_shape == (256, 256)
        # stale WCS keywords are removed from a header meta
        assert 'CRPIX1' not in out.meta
        assert out.meta['OBJECT'] == 'gal'
        assert out.meta['DCNVUPS'] == 4

    def test_wcs_with_sip_keeps_sky_positions(self, observed, psf, wcs):
        from astropy.wcs import Sip
        a = np.zeros((3, 3))
        b = np.zeros((3, 3))
        a[2, 0], b[0, 2], a[1, 1] = 2e-5, -1e-5, 3e-6
        wcs.wcs.ctype = ['RA---TAN-SIP', 'DEC--TAN-SIP']
        wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
        out = TikhonovDeconvolver(upsample=2)(NDData(observed, wcs=wcs,
                                                     psf=psf))
        fine = np.array([[3.0, 100.0], [120.0, 7.5]])
        coarse = (fine + 0.5) / 2 - 0.5
        sep = out.wcs.pixel_to_world(*fine.T).separation(
            wcs.pixel_to_world(*coarse.T))
        assert np.all(sep.to_value(u.arcsec) < 1e-6)

    def test_super_resolution_beats_upsampled_input(self, make_galaxy,
                                                    make_psf, blur):
        truth = make_galaxy((128, 128))
        psf = make_psf(10.0, 41)
        fine = blur(truth, psf)
        coarse = fine.reshape(32, 4, 32, 4).sum(axis=(1, 3))
        coarse += np.random.default_rng(1).normal(0, 0.01, coarse.shape)
        out = TikhonovDeconvolver(lam='auto', upsample=4)(coarse, psf=psf)
        naive = np.kron(coarse, np.ones((4, 4))) / 16
        assert np.sum((out - truth) ** 2) < 0.7 * np.sum((naive - truth) ** 2)


class TestBoundary:
    def _edge_source(self, psf, blur):
        truth = np.zeros((64, 64))
        truth[20:44, 0:3] = 1.0                 # bright ridge at the left
        return truth, blur(truth, psf)

    @pytest.mark.parametrize('boundary', ['reflect', 'apodize'])
    def test_no_wraparound_leak(self, psf, blur, boundary):
        truth, _ = self._edge_source(psf, blur)
        # a real image is cut, not periodic: blur a wider field and crop
        wide = np.zeros((64, 96))
        wide[:, 16:80] = truth
        data = blur(wide, psf)[:, 16:80]
        periodic = TikhonovDeconvolver(lam=1e-3)(data, psf=psf)
        padded = TikhonovDeconvolver(lam=1e-3, boundary=boundary)(
            data, psf=psf)
        right = (slice(20, 44), slice(-6, None))
        assert np.abs(padded[right]).max() < 0.3 * np.abs(
            periodic[right]).max()
        assert padded.shape == data.shape

    def test_pad_width_is_used(self, observed, psf):
        a = TikhonovDeconvolver(boundary='reflect', pad_width=4)(observed,
                                                                 psf=psf)
        b = TikhonovDeconvolver(boundary='reflect', pad_width=12)(observed,
                                                                  psf=psf)
        assert not np.allclose(a, b)
        np.testing.assert_allclose(a[20:44, 20:44], b[20:44, 20:44],
                                   atol=0.05 * np.abs(b).max())


def test_masked_pixels_filled_and_carried(observed, psf):
    data = observed.copy()
    data[10, 12] = np.nan
    mask = np.zeros(observed.shape, bool)
    mask[40:43, 40:43] = True
    data[40:43, 40:43] = 1e6                 # garbage under the mask
    out = TikhonovDeconvolver()(NDData(data, mask=mask, psf=psf))
    assert np.all(np.isfinite(out.data))
    assert out.mask[10, 12] and out.mask[41, 41] and out.mask.sum() == 10
    clean = TikhonovDeconvolver()(observed, psf=psf)
    # the garbage did not spread
    assert np.abs(out.data - clean)[~out.mask].max() < 0.5


def test_repr():
    assert repr(TikhonovDeconvolver(lam='gcv', upsample=2)) == (
        "TikhonovDeconvolver(lam='gcv', upsample=2, boundary='periodic', "
        "pad_width='auto', dtype='float64')")


def test_single_precision(observed, psf):
    single = TikhonovDeconvolver(dtype='float32')(observed, psf=psf)
    double = TikhonovDeconvolver()(observed, psf=psf)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, double, atol=1e-5 * np.abs(
        double).max())
    assert np.isclose(single.sum(dtype=float), observed.sum(), rtol=1e-5)


@pytest.mark.parametrize('lam', [1e-2, 'auto'])
@pytest.mark.parametrize('per_image_psf', [False, True])
def test_chunked_threaded_stack_equals_single_images(lam, per_image_psf):
    # 120 images of 64x64 span several cache-sized chunks, which run on
    # several threads: each image must come out as if deconvolved alone
    from astrodeconv import conf
    from astrodeconv.psf import make_gaussian_psf

    rng = np.random.default_rng(11)
    data = rng.random((120, 64, 64)) + 1.0
    if per_image_psf:
        psf = np.stack([make_gaussian_psf(2.0 + 0.01 * i, shape=(11, 11))
                        for i in range(120)])
    else:
        psf = make_gaussian_psf(2.5, shape=(11, 11))
    deconv = TikhonovDeconvolver(lam=lam)
    with conf.set_temp('fft_workers', 2):
        stacked = deconv.deconvolve(data, psf=psf)
    with conf.set_temp('fft_workers', 1):
        serial = deconv(data, psf=psf)
    np.testing.assert_array_equal(stacked.image, serial)
    for i in (0, 57, 119):
        one = deconv.deconvolve(data[i], psf=psf[i] if per_image_psf
                                else psf)
        np.testing.assert_allclose(stacked.image[i], one.image, rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(stacked.params['lam'][i],
                                   one.params['lam'], rtol=1e-12)
        # one PSF and one weight: the effective PSF is shared, (1, py, px)
        eff = stacked.effective_psf
        np.testing.assert_allclose(eff[i if len(eff) > 1 else 0],
                                   one.effective_psf, atol=1e-12)
        np.testing.assert_allclose(stacked.residual[i], one.residual,
                                   atol=1e-12)


def test_float32_input_stays_float32():
    from astrodeconv.psf import make_gaussian_psf

    data = np.random.default_rng(2).random((40, 32, 32)).astype(np.float32)
    psf = make_gaussian_psf(2.0, shape=(9, 9))
    out = TikhonovDeconvolver(dtype='float32')(data, psf=psf)
    assert out.dtype == np.float32
    ref = TikhonovDeconvolver()(data.astype(float), psf=psf)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # flux to single precision
    np.testing.assert_allclose(out.sum(axis=(1, 2)),
                               data.sum(axis=(1, 2)), rtol=1e-5)
