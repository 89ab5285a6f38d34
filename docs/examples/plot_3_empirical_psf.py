# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
An empirical PSF from the stars of the same image
=================================================

The PSF of a ground-based image changes from night to night, so the best
PSF is the one measured on the stars of the image itself. This example
makes a 25.6 arcsec field (0.2 arcsec pixels) holding the demo galaxy and
sixteen stars, all blurred by the same seeing, builds an effective PSF
from the stars with `~astrodeconv.psf.build_empirical_psf` (the photutils
ePSF builder), compares it with the true PSF, and uses it to deconvolve
the galaxy onto the 0.05 arcsec grid.
"""

import warnings

import astropy.units as u
import matplotlib.pyplot as plt
import numpy as np
from astropy.nddata import CCDData, Cutout2D, StdDevUncertainty
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from astrodeconv.datasets import load_demo_data
from astrodeconv.deconvolution import LearnedDeconvolver
from astrodeconv.metrics import nmse
from astrodeconv.operators import block_sum
from astrodeconv.psf import build_empirical_psf, measure_fwhm, resample_psf

# %%
# A field with stars
# ------------------
# The scene is drawn on the fine 0.05 arcsec grid: the demo truth galaxy
# in the middle and point sources around it, each at a random sub-pixel
# phase of the 0.2 arcsec pixels. It is blurred by the demo's seeing PSF
# (Airy core, 0.7 arcsec Moffat), summed over 4x4 blocks onto the camera's
# pixels, and given the demo's noise.

rng = np.random.default_rng(2025)
demo = load_demo_data()
k = demo.upsample
sigma = float(demo.observed.uncertainty.array.mean())

fine = np.zeros((512, 512))
fine[192:320, 192:320] = demo.truth.data
stars = []
for yc in (14, 38, 90, 114):         # a grid of camera pixels, with a
    for xc in (14, 38, 90, 114):     # random sub-pixel phase each
        y, x = 4 * yc + rng.integers(0, 4), 4 * xc + rng.integers(0, 4)
        fine[y, x] += rng.uniform(2e4, 1e5)   # nJy
        stars.append((y, x))
observed = block_sum(fftconvolve(fine, demo.psf, mode='same'), k)
observed += rng.normal(0.0, sigma, observed.shape)

wcs = WCS(naxis=2)
wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
wcs.wcs.crval = [53.16, -27.78]
wcs.wcs.crpix = [64.5, 64.5]
wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
field = CCDData(observed, unit='nJy', wcs=wcs,
                uncertainty=StdDevUncertainty(np.full(observed.shape, sigma)))
print(f'field {field.shape} at 0.2"/px with {len(stars)} stars')

# %%
# Building the PSF from the stars
# -------------------------------
# Stars are detected, and those that are isolated, point-like and fully
# inside the image are stacked. The galaxy is rejected by the
# point-likeness test. ``fwhm`` is only a first guess for the detection
# (0.7 arcsec is 3.5 pixels).

empirical = build_empirical_psf(field, size=21, fwhm=3.5, maxiters=5)
print(f'{len(empirical.stars)} stars used, PSF {empirical.psf.shape}')

# The true PSF on the camera's pixels, for comparison: the fine PSF
# integrated over 0.2 arcsec pixels.
true_coarse = resample_psf(demo.psf, from_scale=0.05 * u.arcsec,
                           to_scale=0.2 * u.arcsec, shape=21)
print(f'FWHM: empirical {measure_fwhm(empirical.psf) * 0.2:.3f} arcsec, '
      f'true {measure_fwhm(true_coarse) * 0.2:.3f} arcsec')
difference = abs(empirical.psf - true_coarse).max() / true_coarse.max()
print(f'largest difference: {difference:.1%} of the peak')

# %%
# Deconvolving the galaxy with it
# -------------------------------
# The super-resolution needs the PSF on the 0.05 arcsec output grid:
# `~astrodeconv.psf.resample_psf` brings the empirical PSF there,
# conserving flux. A `~astropy.nddata.Cutout2D` keeps the WCS of the
# galaxy's stamp. The same deconvolution with the true PSF shows what the
# measured PSF costs.

cutout = Cutout2D(field.data, (63.5, 63.5), (32, 32), wcs=field.wcs)
stamp = CCDData(cutout.data, unit='nJy', wcs=cutout.wcs,
                uncertainty=StdDevUncertainty(np.full((32, 32), sigma)))
psf_fine = resample_psf(empirical.psf, factor=k)
deconvolver = LearnedDeconvolver(upsample=k)
with warnings.catch_warnings():
    # a network cannot propagate the uncertainty; it says so
    warnings.filterwarnings('ignore', message='uncertainty cannot be')
    with_empirical = deconvolver(stamp, psf=psf_fine)
    with_true = deconvolver(stamp, psf=demo.psf)
print(f'NMSE against the truth: empirical PSF '
      f'{nmse(with_empirical, demo.truth):.3f}, true PSF '
      f'{nmse(with_true, demo.truth):.3f}')

# %%
# The figure shows the field with the stars used, the empirical PSF and
# its difference from the true one (same colour scale as the PSF, times
# 10), and the galaxy deconvolved with the empirical PSF.

fig, axes = plt.subplots(1, 4, figsize=(13, 3.5))
axes[0].imshow(np.arcsinh(field.data / (3 * sigma)), origin='lower',
               cmap='gray_r')
axes[0].plot(empirical.stars['x'], empirical.stars['y'], 'o', mfc='none',
             mec='tab:red', ms=12)
axes[0].set_title('Field; circles: PSF stars')
peak = true_coarse.max()
axes[1].imshow(empirical.psf, origin='lower', cmap='magma', vmin=0,
               vmax=peak)
axes[1].set_title('Empirical PSF (0.2"/px)')
axes[2].imshow(10 * (empirical.psf - true_coarse), origin='lower',
               cmap='RdBu_r', vmin=-peak, vmax=peak)
axes[2].set_title('10 x (empirical - true)')
axes[3].imshow(np.arcsinh(with_empirical.data
                          / (0.05 * demo.truth.data.max())),
               origin='lower', cmap='magma')
axes[3].set_title('Galaxy, x4 with that PSF')
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
plt.show()
