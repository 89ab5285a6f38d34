"""Richardson-Lucy and Wiener baselines."""

import numpy as np
import pytest
from astropy.nddata import NDData

from astrodeconv.deconvolution import (RichardsonLucyDeconvolver,
                                       WienerDeconvolver)


class TestRichardsonLucy:
    def test_flux_conserved_every_iteration_count(self, observed, psf):
        for n_iter in (1, 5, 40):
            out = RichardsonLucyDeconvolver(n_iter=n_iter)(observed, psf=psf)
            assert np.isclose(out.sum(), observed.sum(), rtol=1e-9)

    def test_no_clipping_of_negative_data(self, observed, psf):
        data = observed - 0.2      # strongly negative sky
        res = RichardsonLucyDeconvolver(n_iter=20).deconvolve(data, psf=psf)
        assert res.image.min() < 0
        assert res.params['offset'] > 0.2
        assert np.isclose(res.image.sum(), data.sum(), rtol=1e-9)

    def test_offset_does_not_change_noise_free_result(self, truth, psf,
                                                      blur):
        data = blur(truth, psf) + 0.1
        a = RichardsonLucyDeconvolver(n_iter=15, offset=0.0)(data, psf=psf)
        b = RichardsonLucyDeconvolver(n_iter=15, offset=0.0)(data + 1.0,
                                                             psf=psf)
        # a pedestal changes RL's path but not the flux, and both sharpen
        assert np.isclose(b.sum() - a.sum(), data.size, rtol=1e-9)

    def test_sharpens_and_converges(self, truth, psf, blur):
        data = blur(truth, psf)
        errs = [np.sum((RichardsonLucyDeconvolver(n_iter=n)(data, psf=psf)
                        - truth) ** 2) for n in (1, 10, 50)]
        assert errs[0] > errs[1] > errs[2]

    def test_masked_pixels_do_not_drive_the_solution(self, truth, psf, blur):
        data = blur(truth, psf)
        mask = np.zeros(data.shape, bool)
        mask[20:24, 20:24] = True
        corrupted = data.copy()
        corrupted[mask] = 50.0
        clean = RichardsonLucyDeconvolver(n_iter=20, offset=0.0)(data,
                                                                 psf=psf)
        out = RichardsonLucyDeconvolver(n_iter=20, offset=0.0)(
            NDData(corrupted, mask=mask, psf=psf))
        assert out.mask[mask].all()
        far = np.ones(data.shape, bool)
        far[12:32, 12:32] = False
        np.testing.assert_allclose(out.data[far], clean[far], atol=0.05)

    def test_progress_bar(self, observed, psf, capsys):
        deconv = RichardsonLucyDeconvolver(n_iter=3, progress=True)
        deconv(observed, psf=psf)
        assert 'Richardson-Lucy' in capsys.readouterr().err

    def test_upsampled_residual_is_small(self, make_galaxy, make_psf, blur):
        truth = make_galaxy((64, 64))
        psf = make_psf(6.0, 25)
        coarse = blur(truth, psf).reshape(32, 2, 32, 2).sum(axis=(1, 3))
        res = RichardsonLucyDeconvolver(n_iter=50, upsample=2,
                                        offset=0.0).deconvolve(coarse,
                                                               psf=psf)
        assert np.abs(res.residual).max() < 0.05 * coarse.max()


class TestWiener:
    def test_fixed_balance_formula(self, observed, psf):
        res = WienerDeconvolver(balance=0.01).deconvolve(observed, psf=psf)
        big = np.zeros(observed.shape)
        big[:15, :15] = psf
        h = np.fft.rfft2(np.roll(big, (-7, -7), axis=(0, 1)))
        expected = np.conj(h) / (np.abs(h) ** 2 + 0.01)
        expected[0, 0] = 1 / np.conj(h[0, 0])
        np.testing.assert_allclose(res.effective_filter, expected,
                                   atol=1e-10)

    def test_auto_balance_beats_poor_fixed_choices(self, truth, observed,
                                                   psf):
        auto = WienerDeconvolver()(observed, psf=psf)
        err = np.sum((auto - truth) ** 2)
        for balance in (1e-6, 10.0):
            fixed = WienerDeconvolver(balance=balance)(observed, psf=psf)
            assert err < np.sum((fixed - truth) ** 2)

    def test_uncertainty_propagated(self, observed, psf):
        res = WienerDeconvolver(balance=0.01).deconvolve(
            observed, psf=psf, error=np.full(observed.shape, 0.01))
        assert res.error.shape == observed.shape
        assert np.all(res.error > 0)

    @pytest.mark.parametrize('upsample', [1, 2])
    def test_flux(self, observed, psf, upsample):
        out = WienerDeconvolver(upsample=upsample)(observed, psf=psf)
        assert np.isclose(out.sum(), observed.sum(), rtol=1e-9)


def test_progress_bar_is_a_deprecated_spelling_of_progress():
    from astropy.utils.exceptions import AstropyDeprecationWarning

    from astrodeconv.deconvolution import RichardsonLucyDeconvolver

    with pytest.warns(AstropyDeprecationWarning, match="use 'progress'"):
        deconvolver = RichardsonLucyDeconvolver(progress_bar=True)
    assert deconvolver.progress is True
