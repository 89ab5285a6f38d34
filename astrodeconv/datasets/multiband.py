# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated multi-band observations: ground-based narrow bands and a sharp
space-based broad band of the same galaxies.

`simulate_multiband` draws the galaxies of `simulate_galaxies` (same
population of bulges, disks and star-forming clumps) with a spectrum of
their own for each part, integrates every part through the throughput of
every band (`astrodeconv.multiband.Band`), and observes

* each narrow band (default Rubin r, i, z) on a coarse grid with its own
  ground-based Moffat PSF, and
* the broad band (default Euclid VIS) on a grid ``upsample`` times finer
  with a sharp space PSF.

The spectra are power laws ``f_nu ~ lambda**beta``: red bulges (``beta``
1 to 2.5), bluer disks (-0.5 to 0.8) and blue clumps (-1.5 to -0.5). So
the colours vary across every galaxy, and the broad-band image is *not*
exactly a linear combination of the narrow-band images: the test of the
joint deconvolution is realistic. The broad-band truth is drawn through
its own throughput.

Pixel values are in nJy per pixel on every grid (``m_AB = 31.4 - 2.5
log10(F / nJy)``). GalSim is imported only when the function is called.
"""

from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.nddata import CCDData, StdDevUncertainty
from astropy.wcs import WCS

from ..utils._optional_deps import import_optional
from ..utils._validation import check_positive_int, check_real
from ..utils._wcs import upsample_wcs

__all__ = ['MultiBandSimulation', 'ReferenceSample', 'SPECTRAL_SLOPES',
           'TRUTH_FWHM', 'load_reference_sample', 'simulate_multiband']

__doctest_requires__ = {('simulate_multiband',): ['galsim', 'specutils']}

#: Spectral slopes ``beta`` (``f_nu ~ lambda**beta``) drawn uniformly for
#: the bulge, the smooth disk and the clumps of each simulated galaxy.
SPECTRAL_SLOPES = {'bulge': (1.0, 2.5), 'disk': (-0.5, 0.8),
                   'clumps': (-1.5, -0.5)}

#: FWHM in arcsec of the Gaussian that sets the resolution of the truth
#: images (about that of HST/ACS).
TRUTH_FWHM = 0.08

_FLUX_UNIT = u.nJy


@dataclass
class MultiBandSimulation:
    """
    The output of `simulate_multiband`.

    Attributes
    ----------
    data : ndarray
        ``(N, B, ny, nx)``: the narrow-band observations (nJy per pixel).
    errors : ndarray
        ``(B,)``: their noise standard deviation.
    broad_data : ndarray
        ``(N, fy, fx)``: the broad-band observations.
    broad_error : float
        Their noise standard deviation.
    psfs : ndarray
        ``(B, py, px)``: the narrow-band PSFs sampled on the fine grid.
    broad_psf : ndarray
        The broad-band PSF on the fine grid.
    truth : ndarray
        ``(N, B, fy, fx)``: every narrow band without PSF or noise, on the
        fine grid.
    broad_truth : ndarray
        ``(N, fy, fx)``: the broad band without PSF or noise.
    sed_weights : ndarray
        The flat-spectrum SED weights of the bands
        (`~astrodeconv.multiband.sed_weights`).
    band_keys, broad_key : tuple of str, str
        The bands simulated.
    pixel_scale : float
        Narrow-band pixel scale in arcsec.
    upsample : int
        Grid ratio between narrow-band and broad-band pixels.
    parameters : list of dict
        The parameters of every galaxy, with its spectral slopes.
    """

    data: np.ndarray
    errors: np.ndarray
    broad_data: np.ndarray
    broad_error: float
    psfs: np.ndarray
    broad_psf: np.ndarray
    truth: np.ndarray
    broad_truth: np.ndarray
    sed_weights: np.ndarray
    band_keys: tuple
    broad_key: str
    pixel_scale: float
    upsample: int
    parameters: list = field(default_factory=list)

    def __len__(self):
        return self.data.shape[0]

    def _wcs(self, scale):
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
        wcs.wcs.crval = [150.1, 2.2]
        ny, nx = self.data.shape[-2:]
        wcs.wcs.crpix = [nx / 2 + 0.5, ny / 2 + 0.5]
        wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
        wcs.wcs.cunit = ['deg', 'deg']
        wcs.pixel_shape = (nx, ny)
        wcs.wcs.set()
        return wcs

    def object_bands(self, index):
        """
        One object's observations as CCDData with WCS, uncertainty, PSF.

        Returns
        -------
        bands : list of `~astropy.nddata.CCDData`
            The narrow bands, each on the coarse grid.
        broad : `~astropy.nddata.CCDData`
            The broad band on the fine grid.
        """
        coarse = self._wcs(self.pixel_scale)
        fine = upsample_wcs(coarse, self.upsample)
        bands = []
        for b, key in enumerate(self.band_keys):
            bands.append(CCDData(
                self.data[index, b], unit=_FLUX_UNIT, wcs=coarse.deepcopy(),
                uncertainty=StdDevUncertainty(np.full(
                    self.data.shape[-2:], self.errors[b])),
                psf=self.psfs[b], meta={'BAND': key}))
        broad = CCDData(self.broad_data[index], unit=_FLUX_UNIT, wcs=fine,
                        uncertainty=StdDevUncertainty(np.full(
                            self.broad_data.shape[-2:], self.broad_error)),
                        psf=self.broad_psf, meta={'BAND': self.broad_key})
        return bands, broad


def _power_law(beta, wave):
    from specutils import Spectrum

    return Spectrum(spectral_axis=wave,
                    flux=(wave / (700 * u.nm)).decompose().value ** beta
                    * _FLUX_UNIT)


def _band_factors(bands, broad, betas, wave):
    """Mean f_nu in every band of a power law normalised in the broad one."""
    spectrum = _power_law(betas, wave)
    ref = broad.mean_flux_density(spectrum).to_value(_FLUX_UNIT)
    return np.array([band.mean_flux_density(spectrum).to_value(_FLUX_UNIT)
                     for band in bands]) / ref


def _draw(galsim, profile, size, scale, resolution):
    image = galsim.ImageD(size, size, scale=scale)
    galsim.Convolve(profile, resolution).drawImage(image=image, method='auto')
    return image.array


def simulate_multiband(n, *, bands=('rubin_r', 'rubin_i', 'rubin_z'),
                       broad='euclid_vis', size=32, upsample=2,
                       mag_range=(20.0, 23.5), band_fwhm=(0.7, 0.9),
                       broad_fwhm=0.17, noise=2.0, broad_noise=0.5,
                       seed=0):
    """
    Simulate galaxies seen in narrow ground-based bands and a broad
    space-based band.

    Parameters
    ----------
    n : int
        Number of galaxies.
    bands : sequence of str or `~astrodeconv.multiband.Band`
        The narrow bands (default Rubin r, i, z).
    broad : str or `~astrodeconv.multiband.Band`
        The broad band (default Euclid VIS).
    size : int
        Side of the narrow-band stamps in their pixels; the broad band and
        the truth have ``size * upsample`` pixels on a side.
    upsample : int
        Grid ratio between the narrow-band and broad-band pixels; the
        narrow-band pixel scale is that of the first band, the broad-band
        scale that divided by ``upsample``.
    mag_range : tuple of float
        Range of broad-band AB magnitudes (number counts as in
        `~astrodeconv.datasets.simulate_galaxies`).
    band_fwhm : tuple of float
        Range of the narrow-band seeing FWHM in arcsec (Moffat, beta 3.5),
        drawn once per band for the whole set.
    broad_fwhm : float
        FWHM of the broad-band PSF in arcsec (Moffat, beta 2.5).
    noise, broad_noise : float
        Standard deviation of the white noise in nJy per narrow-band and
        per broad-band pixel.
    seed : int
        Random seed; the same seed gives the same set.

    Returns
    -------
    simulation : `MultiBandSimulation`

    Examples
    --------
    >>> from astrodeconv.datasets import simulate_multiband
    >>> sim = simulate_multiband(2, seed=1)
    >>> sim.data.shape, sim.broad_data.shape, sim.truth.shape
    ((2, 3, 32, 32), (2, 64, 64), (2, 3, 64, 64))
    """
    from ..multiband import get_band, sed_weights
    from ..operators import ForwardModel
    from ..psf import make_moffat_psf
    from .population import _draw_parameters, galaxy_components

    galsim = import_optional('galsim', purpose='to simulate galaxies')
    n = check_positive_int(n, 'n')
    size = check_positive_int(size, 'size', minimum=8)
    k = check_positive_int(upsample, 'upsample')
    noise = check_real(noise, 'noise', minimum=0)
    broad_noise = check_real(broad_noise, 'broad_noise', minimum=0)
    band_objs = [get_band(b) if isinstance(b, str) else b for b in bands]
    broad_obj = get_band(broad) if isinstance(broad, str) else broad
    scale = float(band_objs[0].pixel_scale.to_value(u.arcsec))
    fine_scale = scale / k
    fine = size * k
    rng = np.random.default_rng(seed)
    psf_size = 4 * int(np.ceil(max(band_fwhm) / fine_scale)) + 1
    psf_size = min(psf_size, fine - 1 + fine % 2)
    fwhms = rng.uniform(*band_fwhm, len(band_objs))
    psfs = np.stack([make_moffat_psf(f / fine_scale, 3.5,
                                     shape=(psf_size, psf_size))
                     for f in fwhms])
    broad_psf = make_moffat_psf(broad_fwhm / fine_scale, 2.5,
                                shape=(psf_size, psf_size))
    pad = (psf_size // 2 + k - 1) // k
    broad_model = ForwardModel(broad_psf, (fine, fine), pad_width=pad * k)
    lo = min(b.wavelength_range[0] for b in band_objs + [broad_obj])
    hi = max(b.wavelength_range[1] for b in band_objs + [broad_obj])
    wave = np.linspace(lo.to_value(u.nm) * 0.95, hi.to_value(u.nm) * 1.05,
                       400) * u.nm
    gsparams = galsim.GSParams(maximum_fft_size=8192)
    # the truth has the resolution of HST images resampled to the fine
    # grid (as the targets of the published sample)
    resolution = galsim.Gaussian(fwhm=TRUTH_FWHM, gsparams=gsparams)
    truth = np.zeros((n, len(band_objs), fine, fine))
    broad_truth = np.zeros((n, fine, fine))
    parameters = []
    for i in range(n):
        p = _draw_parameters(rng, mag_range)
        slopes = {part: float(rng.uniform(*limits))
                  for part, limits in SPECTRAL_SLOPES.items()}
        p.update({f'beta_{part}': value for part, value in slopes.items()})
        parameters.append(p)
        bulge, disk, knots, rotation, _ = galaxy_components(
            galsim, p, gsparams)
        shift = (p['x_offset'] * fine_scale, p['y_offset'] * fine_scale)
        parts = {'bulge': bulge.shift(*shift),
                 'disk': disk.rotate(rotation).shift(*shift)}
        if knots:
            parts['clumps'] = galsim.Add(knots).rotate(rotation).shift(*shift)
        for part, profile in parts.items():
            image = _draw(galsim, profile, fine, fine_scale, resolution)
            factors = _band_factors(band_objs, broad_obj, slopes[part], wave)
            truth[i] += factors[:, None, None] * image
            broad_truth[i] += image
    data = np.stack([ForwardModel(psfs[b], (size, size), upsample=k,
                                  pad_width=pad).forward(truth[:, b])
                     for b in range(len(band_objs))], axis=1)
    data = data + rng.normal(0.0, noise, data.shape)
    broad_data = broad_model.forward(broad_truth)
    broad_data = broad_data + rng.normal(0.0, broad_noise, broad_data.shape)
    weights = sed_weights(band_objs, broad_obj)
    return MultiBandSimulation(
        data=data, errors=np.full(len(band_objs), noise),
        broad_data=broad_data, broad_error=broad_noise, psfs=psfs,
        broad_psf=broad_psf, truth=truth, broad_truth=broad_truth,
        sed_weights=np.asarray(weights), band_keys=tuple(
            b.key for b in band_objs), broad_key=broad_obj.key,
        pixel_scale=scale, upsample=k, parameters=parameters)


@dataclass
class ReferenceSample:
    """
    A multi-band sample in the layout of the reference implementation.

    Attributes
    ----------
    bandset : `~astrodeconv.multiband.BandSet`
        The narrow bands and the broad band, as CCDData with WCS, PSF and
        uncertainty.
    target : ndarray or None
        ``(B, fy, fx)``: the high-resolution target of every band, when
        the sample has one.
    sed_weights : ndarray
        The SED weights of the sample.
    """

    bandset: object
    target: np.ndarray
    sed_weights: np.ndarray


def _sample_wcs(scale, shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.pixel_shape = (shape[1], shape[0])
    wcs.wcs.set()
    return wcs


def load_reference_sample(directory, *, pixel_scale=0.2, upsample=2,
                          unit='nJy'):
    """
    Read a multi-band sample saved in the layout of the reference code.

    The directory holds the ``.npy`` files of the public sample of
    Akhaury et al. (2025): ``noisy_LSST.npy`` (``(ny, nx, B)``),
    ``psf_LSST.npy`` (``(py, px, B)``, on the fine grid), ``euclid.npy``,
    ``psf_euclid_vis.npy``, ``noisemap_LSST.npy`` (the noise of the B bands
    and of the broad band), ``sed.npy`` and, optionally,
    ``target_HST.npy``.

    The reference convolves with ``scipy.signal.fftconvolve(...,
    mode='same')``, which for a PSF of even size ``N`` puts its centre on
    pixel ``N / 2 - 1``; this package puts it on pixel ``N // 2``. The PSFs
    are therefore shifted by one pixel along each axis (for even sizes),
    which makes the operators reproduce the sample's data (checked by the
    tests: the residual of the target is smallest with this shift).

    Parameters
    ----------
    directory : str or path-like
        Where the files are.
    pixel_scale : float, optional
        Narrow-band pixel scale in arcsec (Rubin: 0.2).
    upsample : int, optional
        Grid ratio between narrow-band and broad-band pixels.
    unit : str, optional
        The flux unit to attach (the sample is in one arbitrary unit).

    Returns
    -------
    sample : `ReferenceSample`
    """
    from pathlib import Path

    from ..multiband import BandSet

    directory = Path(directory)
    if not directory.is_dir():
        msg = f'directory must be an existing folder, got {str(directory)!r}'
        raise FileNotFoundError(msg)

    def load(name):
        return np.load(directory / f'{name}.npy')

    data = np.moveaxis(load('noisy_LSST'), -1, 0)
    psfs = np.moveaxis(load('psf_LSST'), -1, 0)
    broad = load('euclid')
    broad_psf = load('psf_euclid_vis')
    noise = load('noisemap_LSST')
    weights = load('sed')
    target_path = directory / 'target_HST.npy'
    target = (np.moveaxis(np.load(target_path), -1, 0)
              if target_path.exists() else None)

    def recentre(psf):
        shift = tuple(1 - n % 2 for n in psf.shape[-2:])
        return np.roll(psf, shift, axis=(-2, -1))

    coarse = _sample_wcs(pixel_scale, data.shape[-2:])
    fine = upsample_wcs(coarse, upsample, shape=broad.shape)
    images = [CCDData(band, unit=unit, wcs=coarse.deepcopy(),
                      uncertainty=StdDevUncertainty(np.full(band.shape,
                                                            noise[b])),
                      psf=recentre(psfs[b]))
              for b, band in enumerate(data)]
    broad_image = CCDData(broad, unit=unit, wcs=fine,
                          uncertainty=StdDevUncertainty(
                              np.full(broad.shape, noise[-1])),
                          psf=recentre(broad_psf))
    return ReferenceSample(bandset=BandSet(images, broad_image),
                           target=target, sed_weights=weights)
