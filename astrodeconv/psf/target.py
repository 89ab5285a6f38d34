# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Output resolution: the "narrow" PSF that takes a target resolution to the
observed one.

Asking for an image at a finite resolution ``t`` (a Gaussian of 0.2"
FWHM, say) instead of the infinite resolution of a full deconvolution is
how STARRED and scarlet work: the image sought is ``t * x``, and since
``h * x = n * (t * x)`` with ``n`` the PSF deconvolved by the target, a
deconvolution with the narrow PSF ``n`` returns ``t * x``. The narrow PSF
is built here exactly, in Fourier space, as the ratio of the transfer
functions.
"""

import numpy as np
from astropy import units as u

from .analytic import make_gaussian_psf
from .core import pad_psf, validate_psf

__all__ = ['make_narrow_psf', 'target_psf_from_fwhm']

#: Frequencies where the target's transfer function is below this fraction
#: of its peak carry nothing of ``t * x``: the narrow PSF is zero there.
TARGET_FLOOR = 1e-3
#: The PSF's transfer function above this fraction of its peak is where
#: the target must be at least as wide as the PSF (the ratio at most 1).
PSF_SIGNIFICANT = 1e-2
#: Tolerance on that ratio (round-off, pixel integration).
RATIO_TOLERANCE = 0.05


def target_psf_from_fwhm(fwhm, shape, *, pixel_scale=None):
    """
    A circular Gaussian target resolution sampled on the output grid.

    Parameters
    ----------
    fwhm : float or `~astropy.units.Quantity`
        FWHM in output pixels, or an angle with ``pixel_scale``.
    shape : tuple of int
        Stamp shape (odd sizes keep the centre on a pixel).
    pixel_scale : `~astropy.units.Quantity`, optional
        Angle per output pixel, needed for an angular ``fwhm``.

    Returns
    -------
    target : ndarray
        Unit-sum Gaussian centred on ``shape // 2``.

    Examples
    --------
    >>> from astropy import units as u
    >>> from astrodeconv.psf import target_psf_from_fwhm
    >>> t = target_psf_from_fwhm(0.2 * u.arcsec, (15, 15),
    ...                          pixel_scale=0.1 * u.arcsec)
    >>> t.shape, round(float(t.sum()), 6)
    ((15, 15), 1.0)
    """
    if isinstance(fwhm, u.Quantity) and not fwhm.unit.is_equivalent(u.pix):
        if pixel_scale is None:
            msg = ('pixel_scale must be given (the angle of one output '
                   f'pixel) for a target FWHM of {fwhm}')
            raise ValueError(msg)
        fwhm = (fwhm / pixel_scale).to_value(u.dimensionless_unscaled)
    elif isinstance(fwhm, u.Quantity):
        fwhm = fwhm.to_value(u.pix)
    return make_gaussian_psf(float(fwhm), shape=tuple(shape))


def make_narrow_psf(psf, target, *, name='target_psf'):
    r"""
    The PSF deconvolved by a target resolution, built in Fourier space.

    With :math:`\hat h` and :math:`\hat t` the transfer functions of the
    PSF and of the target on the output grid, the narrow PSF is
    :math:`\hat n = \hat h / \hat t` wherever :math:`|\hat t|` exceeds
    ``TARGET_FLOOR`` of its peak and 0 elsewhere (frequencies the target
    removes from the image sought). A deconvolution with ``n`` returns the
    truth convolved with ``t``. At the faint high frequencies (below
    ``PSF_SIGNIFICANT`` of the peak) where a cuspy or truncated PSF
    transmits more than a smooth target, the ratio is capped at 1 in
    modulus: there the output keeps the PSF's own (slightly higher)
    resolution instead of amplifying those frequencies.

    Parameters
    ----------
    psf : array_like
        The PSF on the output grid, centred on ``shape // 2``; a centroid
        offset it carries (a PSF used as given) is kept by the narrow PSF,
        so that the result keeps the registration the PSF gives.
    target : array_like
        The target resolution on the same grid, centred, narrower than the
        PSF in every direction.
    name : str, optional
        Name of the target argument in error messages.

    Returns
    -------
    narrow : ndarray
        Unit sum, on the larger of the two stamps (odd sizes).

    Raises
    ------
    ValueError
        If the target is not narrower than the PSF in some direction: its
        transfer function falls below the PSF's, by more than
        ``RATIO_TOLERANCE``, at a frequency the PSF still transmits (above
        ``PSF_SIGNIFICANT`` of its peak). The message gives the direction.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import fftconvolve
    >>> from astrodeconv.psf import make_gaussian_psf, make_narrow_psf
    >>> psf = make_gaussian_psf(8.0, shape=(41, 41))
    >>> target = make_gaussian_psf(3.0, shape=(41, 41))
    >>> narrow = make_narrow_psf(psf, target)
    >>> back = fftconvolve(narrow, target, mode='same')
    >>> bool(np.abs(back - psf).max() < 1e-6 * psf.max())
    True
    """
    psf = validate_psf(psf, check_center=False, warn=False)
    target = validate_psf(target, name=name, warn=False)
    shape = tuple(int(max(a, b)) | 1 for a, b in zip(psf.shape,
                                                     target.shape))
    psf = pad_psf(psf, shape) / psf.sum()
    target = pad_psf(target, shape) / target.sum()
    # transfer functions with the centre pixel on the origin
    h = np.fft.fft2(np.fft.ifftshift(psf))
    t = np.fft.fft2(np.fft.ifftshift(target))
    # the exact ratio where the target transmits more than the PSF; a
    # smooth roll-off (no hard cut, which would ring across the stamp)
    # where the target transmits less: at faint high frequencies of a
    # cuspy or truncated PSF, and where the target vanishes
    floor = TARGET_FLOOR * np.abs(t).max()
    ratio = h * np.conj(t) / (np.maximum(np.abs(t), np.abs(h)) ** 2
                              + floor ** 2)
    exact = np.abs(h) / np.maximum(np.abs(t), floor)
    significant = np.abs(h) > PSF_SIGNIFICANT * np.abs(h).max()
    gain = np.where(significant, exact, 0.0)
    worst = np.unravel_index(np.argmax(gain), gain.shape)
    if gain[worst] > 1 + RATIO_TOLERANCE:
        fy = np.fft.fftfreq(shape[0])[worst[0]]
        fx = np.fft.fftfreq(shape[1])[worst[1]]
        angle = np.degrees(np.arctan2(fy, fx)) % 180
        msg = (f'{name} must be narrower than the PSF in every direction: '
               f'along {angle:.0f} degrees (from the x axis) it transmits '
               f'less than the PSF at a frequency of '
               f'{np.hypot(fy, fx):.3f} cycles per output pixel (ratio '
               f'{gain[worst]:.3g}); choose a sharper target, or check '
               'that both are sampled on the output grid')
        raise ValueError(msg)
    narrow = np.fft.fftshift(np.fft.ifft2(ratio).real)
    return narrow / narrow.sum()
