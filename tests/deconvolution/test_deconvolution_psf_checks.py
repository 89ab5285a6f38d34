"""
The PSF a deconvolver is given: its pixel scale and its centre (issue 10).

A PSF that carries its pixel scale is checked against the output grid and
resampled (or refused) when it is not on it; a PSF that carries none gets
a plausibility check. An off-centre PSF is used as given by default
(issue 18: it keeps the registration it carries), with one warning and the
PSFOFFY/PSFOFFX keywords when it is more than half a pixel off; with
``recenter=True`` it is recentred with one warning.
"""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS
from scipy.ndimage import fourier_shift

from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver,
                                       WienerDeconvolver, make_deconvolver)
from astrodeconv.psf import (make_moffat_psf, psf_center, psf_centroid,
                             psf_to_image_psf, recenter_psf, resample_psf)
from astrodeconv.utils.exceptions import AstrodeconvWarning

torch = pytest.importorskip('torch')

DATA_SCALE = 0.2  # arcsec per data pixel


class Identity(torch.nn.Module):
    def forward(self, x, sigma=None):
        return x


def celestial_wcs(scale, shape=(32, 32)):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [53.16, -27.78]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.wcs.cunit = ['deg', 'deg']
    return wcs


def seeing_psf(scale, shape):
    """A 0.8 arcsec Moffat seeing sampled at ``scale`` arcsec."""
    return make_moffat_psf(0.8 * u.arcsec, pixel_scale=scale * u.arcsec,
                           shape=shape)


@pytest.fixture
def scene(make_galaxy, blur):
    """A 32 x 32 observation at 0.2 arcsec of a galaxy seen in 0.8"."""
    truth = make_galaxy((32, 32), seed=3)
    psf = seeing_psf(DATA_SCALE, 13)
    data = blur(truth, psf) + np.random.default_rng(5).normal(
        0, 0.01, truth.shape)
    return NDData(data, wcs=celestial_wcs(DATA_SCALE)), psf


# -- 1. the PSF carries its pixel scale --------------------------------------

FINE = 0.05  # a PSF sampled for a 4 times finer grid


def _fine_psf_inputs():
    psf = seeing_psf(FINE, 49)
    return {
        'meta PIXSCALE': NDData(psf, meta={'PIXSCALE': FINE}),
        'meta pixel_scale': NDData(psf, meta={'pixel_scale':
                                              FINE * u.arcsec / u.pix}),
        'meta CDELT': CCDData(psf, unit='', meta={
            'CDELT1': -FINE / 3600, 'CDELT2': FINE / 3600}),
        'meta CD': NDData(psf, meta={'CD1_1': -FINE / 3600, 'CD1_2': 0.0,
                                     'CD2_1': 0.0, 'CD2_2': FINE / 3600}),
        'celestial WCS': NDData(psf, wcs=celestial_wcs(FINE, psf.shape)),
        'ImagePSF': psf_to_image_psf(psf, oversampling=4),
    }


@pytest.mark.parametrize('kind', list(_fine_psf_inputs()))
def test_psf_at_another_scale_is_resampled_with_a_warning(scene, kind):
    data, _ = scene
    given = _fine_psf_inputs()[kind]
    with pytest.warns(AstrodeconvWarning,
                      match=r'psf is sampled at .*, but the output grid '
                      r'has .*; it was resampled by a factor 0\.25') as rec:
        out = TikhonovDeconvolver()(data, psf=given)
    assert len(rec) == 1
    text = str(rec[0].message)
    if kind != 'ImagePSF':
        assert '0.05 arcsec' in text and '0.2 arcsec' in text, text
    else:
        assert '4 PSF pixels per data pixel' in text, text
    # the same as the PSF resampled by hand onto the output grid
    reference = TikhonovDeconvolver()(
        data, psf=resample_psf(seeing_psf(FINE, 49), 0.25))
    np.testing.assert_allclose(out.data, reference.data, atol=1e-9,
                               err_msg=f'psf given as {kind}')
    assert out.data.sum() == pytest.approx(data.data.sum(), rel=1e-9)


@pytest.mark.parametrize('kind', list(_fine_psf_inputs()))
def test_psf_on_the_output_grid_is_used_as_given(scene, kind):
    data, _ = scene
    given = _fine_psf_inputs()[kind]
    # 0.05 arcsec is the output grid of upsample=4: no warning, no change
    out = TikhonovDeconvolver(upsample=4)(data, psf=given)
    reference = TikhonovDeconvolver(upsample=4)(data,
                                                psf=seeing_psf(FINE, 49))
    np.testing.assert_allclose(out.data, reference.data, atol=1e-9,
                               err_msg=f'psf given as {kind}')


def test_psf_within_one_percent_of_the_grid_is_not_resampled(scene):
    data, psf = scene
    out = TikhonovDeconvolver()(data, psf=NDData(psf, meta={
        'PIXSCALE': DATA_SCALE * 1.009}))
    np.testing.assert_array_equal(out.data,
                                  TikhonovDeconvolver()(data, psf=psf).data)
    with pytest.warns(AstrodeconvWarning, match='resampled by a factor'):
        TikhonovDeconvolver()(data, psf=NDData(psf, meta={
            'PIXSCALE': DATA_SCALE * 1.02}))


def test_coarse_psf_with_upsample_is_resampled(scene):
    # the issue's second case: a 0.2"/px PSF given with upsample=4
    data, psf = scene
    with pytest.warns(AstrodeconvWarning, match=r'psf is sampled at 0\.2 '
                      r'arcsec per pixel .* has 0\.05 arcsec per pixel'):
        out = TikhonovDeconvolver(upsample=4)(
            data, psf=NDData(psf, meta={'PIXSCALE': DATA_SCALE}))
    reference = TikhonovDeconvolver(upsample=4)(data,
                                                psf=resample_psf(psf, 4))
    np.testing.assert_allclose(out.data, reference.data, atol=1e-9)


def test_psf_scale_on_the_data_psf_attribute(scene):
    data, _ = scene
    fine = NDData(seeing_psf(FINE, 49), meta={'PIXSCALE': FINE})
    with_psf = NDData(data.data, wcs=data.wcs, psf=fine)
    with pytest.warns(AstrodeconvWarning, match='resampled by a factor 0.25'):
        TikhonovDeconvolver()(with_psf)


@pytest.mark.parametrize(('psf_scale', 'shape', 'upsample', 'match'), [
    # 5 pixels of 0.01" become a quarter of a 0.2" pixel
    (0.01, 5, 1, 'smaller than 3 pixels'),
    # 31 pixels of 0.2" become 124 pixels of 0.05" > 4 * 16
    (0.2, 31, 4, r'larger than the output image \(64, 64\)'),
])
def test_psf_that_cannot_be_resampled(make_galaxy, psf_scale, shape,
                                      upsample, match):
    data = NDData(make_galaxy((16, 16)), wcs=celestial_wcs(DATA_SCALE,
                                                           (16, 16)))
    psf = NDData(seeing_psf(max(psf_scale, 0.1), shape),
                 meta={'PIXSCALE': psf_scale})
    with pytest.raises(ValueError, match=match) as error:
        TikhonovDeconvolver(upsample=upsample)(data, psf=psf)
    text = str(error.value)
    target = DATA_SCALE / upsample
    assert text.startswith('psf is sampled at'), text
    assert f'{psf_scale:g} arcsec' in text and f'{target:g} arcsec' in text
    assert 'Please give the PSF on the output grid' in text


def test_psf_scale_without_data_wcs_falls_back_to_plausibility(make_galaxy):
    # the data have no WCS: the PSF scale cannot be compared, and a PSF
    # wider than a quarter of the image warns, naming the assumption
    psf = seeing_psf(0.02, 61)  # FWHM 40 pixels
    with pytest.warns(AstrodeconvWarning, match=r'psf has a FWHM of '
                      r'\d+(\.\d+)? output pixels, wider than a quarter of '
                      r'the output image 64 x 64\. Since its pixel scale '
                      r'\(0\.02 arcsec'):
        TikhonovDeconvolver()(make_galaxy((64, 64)),
                              psf=NDData(psf, meta={'PIXSCALE': 0.02}))


# -- 1. plausibility when nothing tells the scale ----------------------------

def test_plain_psf_wider_than_a_quarter_of_the_image_warns(make_galaxy):
    data = make_galaxy((64, 64))
    psf = seeing_psf(0.02, 61)  # a 0.02"/px PSF given for 0.2" data
    with pytest.warns(AstrodeconvWarning, match=r'psf has a FWHM of .* '
                      r'output pixels, wider than a quarter of the output '
                      r'image 64 x 64\. Since nothing gives its pixel scale, '
                      r'it was assumed to be sampled on the output grid'):
        TikhonovDeconvolver()(data, psf=psf)


def test_plain_undersampled_psf_warns(make_galaxy):
    data = make_galaxy((64, 64))
    psf = seeing_psf(1.0, 5)  # FWHM 0.8 pixel
    with pytest.warns(AstrodeconvWarning, match=r'psf has a FWHM of 0\.\d+ '
                      r'output pixels, below one pixel \(undersampled\)\. '
                      r'.*upsample=2'):
        TikhonovDeconvolver(upsample=2)(data[:32, :32], psf=psf)


def test_plausible_plain_psf_is_silent(make_galaxy, psf):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        TikhonovDeconvolver()(make_galaxy((64, 64)), psf=psf)
        TikhonovDeconvolver()(make_galaxy((64, 64)),
                              psf=seeing_psf(0.2, 13))  # FWHM 4 px


# -- 2. off-centre PSFs ------------------------------------------------------

OFFSET = (0.9, -0.95)  # the case: about 1.3 pixels


def off_centre(psf, offset=OFFSET):
    """``psf`` moved by ``offset`` pixels (scipy's Fourier shift)."""
    return np.fft.ifft2(fourier_shift(np.fft.fft2(psf), offset)).real


def centroid_offset(psf):
    return tuple(np.subtract(psf_centroid(psf), psf_center(psf.shape)))


@pytest.fixture
def centred_scene(make_galaxy, blur):
    """As ``scene``, with a PSF stamp large enough to shift it."""
    truth = make_galaxy((32, 32), seed=3)
    psf = seeing_psf(DATA_SCALE, 25)
    data = blur(truth, psf) + np.random.default_rng(5).normal(
        0, 0.01, truth.shape)
    return NDData(data, wcs=celestial_wcs(DATA_SCALE)), psf


DECONVOLVERS = [
    TikhonovDeconvolver,
    WienerDeconvolver,
    lambda **kw: RichardsonLucyDeconvolver(n_iter=5, **kw),
    lambda **kw: LearnedDeconvolver(Identity(), device='cpu', **kw),
]
IDS = ['tikhonov', 'wiener', 'richardson-lucy', 'learned']


@pytest.mark.parametrize('make', DECONVOLVERS, ids=IDS)
def test_off_centre_psf_is_recentred_with_one_warning(centred_scene, make):
    data, psf = centred_scene
    off = off_centre(psf)
    offset = centroid_offset(off)
    assert np.hypot(*offset) > 1.2
    deconvolver = make(recenter=True)
    assert make().recenter is False
    with pytest.warns(AstrodeconvWarning, match=r'psf centroid is \(\+0\.900'
                      r', -0\.950\) output pixels') as rec:
        result = deconvolver.deconvolve(data, psf=off)
    recentring = [w for w in rec if 'centroid' in str(w.message)]
    assert len(recentring) == 1
    # the provenance records the shift (FITS-safe keywords)
    assert result.image.meta['DCNVPSFY'] == pytest.approx(OFFSET[0],
                                                          abs=1e-3)
    assert result.image.meta['DCNVPSFX'] == pytest.approx(OFFSET[1],
                                                          abs=1e-3)
    # the same result as with the PSF recentred by hand
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrodeconvWarning)
        reference = make(recenter=True).deconvolve(data,
                                                   psf=recenter_psf(off))
    np.testing.assert_allclose(result.image.data, reference.image.data,
                               atol=1e-8)


def test_one_recentring_warning_for_a_list(centred_scene):
    data, psf = centred_scene
    with pytest.warns(AstrodeconvWarning, match='psf centroid') as rec:
        out = TikhonovDeconvolver(recenter=True)([data, data, data],
                                                 psf=off_centre(psf))
    assert len([w for w in rec if 'centroid' in str(w.message)]) == 1
    assert all(o.meta['DCNVPSFY'] == pytest.approx(OFFSET[0], abs=1e-3)
               for o in out)


def test_recentred_psf_keeps_the_sources_in_place(make_galaxy, blur):
    # a point source observed with the true (centred) PSF, deconvolved with
    # an off-centre copy of it: recentring keeps the source where it is;
    # the default (as given) shifts it by minus the PSF offset (documented)
    truth = np.zeros((48, 48))
    truth[24, 24] = 1.0
    psf = seeing_psf(DATA_SCALE, 31)
    data = blur(truth, psf)
    off = off_centre(psf, (1.0, -2.0))
    with pytest.warns(AstrodeconvWarning, match='psf centroid'):
        recentred = TikhonovDeconvolver(lam=1e-4, recenter=True)(data,
                                                                 psf=off)
    assert psf_centroid(np.clip(recentred, 0, None)) == pytest.approx(
        (24, 24), abs=0.05)
    with pytest.warns(AstrodeconvWarning, match='used as given'):
        as_given = TikhonovDeconvolver(lam=1e-4)(data, psf=off)
    assert psf_centroid(np.clip(as_given, 0, None)) == pytest.approx(
        (23, 26), abs=0.05)


def test_recenter_false_uses_the_psf_as_given(centred_scene):
    data, psf = centred_scene
    off = off_centre(psf)
    with pytest.warns(AstrodeconvWarning, match=r'psf centroid is '
                      r'\(\+0\.\d+, -0\.9\d+\) output pixels \(y, x\), 1\.31 '
                      r'pixels from the centre .* used as given') as rec:
        result = TikhonovDeconvolver().deconvolve(data, psf=off)
    assert len(rec) == 1
    assert 'DCNVPSFY' not in result.image.meta
    # the offset is recorded, FITS-safe
    # (the centroid of the Fourier-shifted PSF, within 0.005 pixel of it)
    assert result.image.meta['PSFOFFY'] == pytest.approx(OFFSET[0], abs=5e-3)
    assert result.image.meta['PSFOFFX'] == pytest.approx(OFFSET[1], abs=5e-3)
    # used as given: the ForwardModel of the very array explains the data
    # as well as it did (no hidden shift)
    np.testing.assert_allclose(result.image.data.sum(), data.data.sum(),
                               rtol=1e-9)
    # a centred PSF adds no keyword
    result = TikhonovDeconvolver().deconvolve(data, psf=psf)
    assert 'DCNVPSFY' not in result.image.meta
    assert 'PSFOFFY' not in result.image.meta


def test_offset_below_half_a_pixel_is_silent(centred_scene):
    data, psf = centred_scene
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        result = TikhonovDeconvolver().deconvolve(
            data, psf=off_centre(psf, (0.3, -0.35)))
    assert 'PSFOFFY' not in result.image.meta


def test_tiny_offsets_are_left_alone(centred_scene):
    data, psf = centred_scene
    nearly = off_centre(psf, (0.005, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        TikhonovDeconvolver(recenter=True)(data, psf=nearly)


@pytest.mark.parametrize('recenter', [True, False])
def test_far_off_psf_is_an_error(centred_scene, recenter):
    data, _ = centred_scene
    psf = np.zeros((15, 15))
    psf[7, 12] = 1.0  # 5 pixels off, a quarter of 15 is 3.75
    with pytest.raises(ValueError, match=r'psf must be roughly centred on '
                       r'pixel \(ny // 2, nx // 2\) = \(7, 7\), got a '
                       r'centroid at \(7\.00, 12\.00\), more than a quarter'):
        TikhonovDeconvolver(recenter=recenter)(data, psf=psf)
    psf = np.zeros((15, 15))
    psf[7, 10] = 1.0  # 3 pixels off: recentred
    with pytest.warns(AstrodeconvWarning):
        TikhonovDeconvolver()(data, psf=psf)


def test_stack_of_psfs_recentred_per_image(centred_scene):
    data, psf = centred_scene
    stack = np.stack([data.data, data.data])
    psfs = np.stack([psf, off_centre(psf)])
    with pytest.warns(AstrodeconvWarning, match='psf centroid') as rec:
        out = TikhonovDeconvolver(recenter=True)(stack, psf=psfs)
    assert len([w for w in rec if 'centroid' in str(w.message)]) == 1
    np.testing.assert_allclose(out[1], out[0], atol=1e-6 * out[0].max())


def test_nearly_unit_sum_is_renormalised_silently(centred_scene):
    data, psf = centred_scene
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = TikhonovDeconvolver()(data, psf=psf * 0.99997)
    np.testing.assert_allclose(out.data,
                               TikhonovDeconvolver()(data, psf=psf).data,
                               atol=1e-12)


@pytest.mark.parametrize('value', ['yes', 1, None])
def test_recenter_must_be_a_bool(value):
    with pytest.raises(TypeError, match='recenter must be True or False'):
        TikhonovDeconvolver(recenter=value)


def test_make_deconvolver_passes_recenter():
    for method in ('tikhonov', 'wiener', 'richardson-lucy'):
        assert make_deconvolver(method, recenter=True).recenter is True
        assert make_deconvolver(method).recenter is False


def test_psf_center_convention_is_unchanged():
    # recentring targets (ny // 2, nx // 2) for both parities
    for shape in ((15, 15), (16, 16)):
        psf = seeing_psf(DATA_SCALE, shape)
        out = recenter_psf(off_centre(psf))
        assert psf_centroid(out) == pytest.approx(psf_center(shape),
                                                  abs=0.01)
