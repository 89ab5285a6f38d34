# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
PSF matching kernels: degrade an image to the resolution of another.
"""

import numpy as np
from photutils.psf_matching import make_kernel as _make_kernel
from photutils.psf_matching import make_wiener_kernel as _make_wiener

from ..utils._validation import check_choice, check_real
from .core import pad_psf, validate_psf
from .measure import measure_fwhm

__all__ = ['make_matching_kernel']

#: Relative FWHM margin within which a target may be narrower than the
#: source (identical PSFs measured with round-off).
_FWHM_RTOL = 1e-3


def make_matching_kernel(source_psf, target_psf, *, window=None,
                         regularization=1e-4, method='threshold'):
    r"""
    Make the kernel that turns a narrow PSF into a broader one.

    Convolving an image whose PSF is ``source_psf`` with the returned
    kernel gives an image whose PSF is ``target_psf`` (the kernel is the
    ratio of the PSFs' Fourier transforms, see
    `photutils.psf_matching.make_kernel`). Both PSFs must have the same
    pixel scale (use `resample_psf` first otherwise).

    Parameters
    ----------
    source_psf : array_like
        The narrower (higher resolution) PSF, centred.
    target_psf : array_like
        The broader PSF, centred. A target narrower than the source raises
        a ValueError, since matching it would mean deconvolving.
    window : callable, optional
        Taper applied in Fourier space to suppress the noisy high
        frequencies of the ratio, such as an instance of
        `~photutils.psf_matching.TopHatWindow`,
        `~photutils.psf_matching.CosineBellWindow` or
        `~photutils.psf_matching.SplitCosineBellWindow`. Recommended for
        empirical PSFs.
    regularization : float, optional
        For ``method='threshold'``, frequencies where the source transfer
        function falls below ``regularization`` times its peak are set to
        zero (range ``[0, 1)``). For ``method='wiener'``, the Tikhonov
        term relative to the peak source power (> 0).
    method : {'threshold', 'wiener'}, optional
        `~photutils.psf_matching.make_kernel` (hard threshold) or
        `~photutils.psf_matching.make_wiener_kernel` (smooth Wiener
        regularisation, less ringing).

    Returns
    -------
    kernel : `~numpy.ndarray`
        The kernel, normalised to unit sum and centred. Its shape is the
        largest of the two PSF shapes along each axis, plus one along an
        even axis (photutils needs odd shapes); the PSFs are zero-padded to
        it with `~astrodeconv.psf.pad_psf`, which keeps them centred.

    Raises
    ------
    ValueError
        If the target PSF is narrower than the source PSF (FWHM measured
        with `~astrodeconv.psf.measure_fwhm`).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import fftconvolve
    >>> from astrodeconv.psf import make_gaussian_psf, make_matching_kernel
    >>> source = make_gaussian_psf(2.0, shape=41)
    >>> target = make_gaussian_psf(4.0, shape=41)
    >>> kernel = make_matching_kernel(source, target)
    >>> matched = fftconvolve(source, kernel, mode='same')
    >>> bool(np.abs(matched - target).max() < 1e-3 * target.max())
    True
    """
    check_choice(method, 'method', ('threshold', 'wiener'))
    if method == 'threshold':
        regularization = check_real(regularization, 'regularization',
                                    minimum=0)
        if regularization >= 1:
            msg = ('regularization must be in the range [0, 1) for '
                   f"method='threshold', got {regularization}")
            raise ValueError(msg)
    else:
        regularization = check_real(regularization, 'regularization',
                                    minimum=0, strict=True)
    if window is not None and not callable(window):
        msg = (f'window must be a callable such as '
               f'photutils.psf_matching.TopHatWindow(0.5), got {window!r}')
        raise TypeError(msg)
    source = validate_psf(source_psf, name='source_psf', warn=False)
    target = validate_psf(target_psf, name='target_psf', warn=False)

    fwhm_source = measure_fwhm(source)
    fwhm_target = measure_fwhm(target)
    if fwhm_target < fwhm_source * (1 - _FWHM_RTOL):
        msg = (f'target_psf must be broader than source_psf, got a target '
               f'FWHM of {fwhm_target:.3f} pixels for a source FWHM of '
               f'{fwhm_source:.3f} pixels. Swap the two PSFs, or match both '
               'images to a broader common PSF.')
        raise ValueError(msg)

    shape = tuple(int(max(a, b)) | 1 for a, b in
                  zip(source.shape, target.shape, strict=True))
    source = pad_psf(source, shape)
    target = pad_psf(target, shape)
    if method == 'threshold':
        kernel = _make_kernel(source, target, window=window,
                              regularization=regularization)
    else:
        kernel = _make_wiener(source, target, window=window,
                              regularization=regularization)
    kernel = np.asarray(kernel, dtype=float)
    return kernel / kernel.sum()
