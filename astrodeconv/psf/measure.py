# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Measuring, resampling and recentring PSF arrays.
"""

import numpy as np
from astropy import units as u
from scipy.interpolate import RectBivariateSpline
from scipy.ndimage import label
from scipy.optimize import least_squares

from ..utils._validation import check_choice, check_real
from .analytic import (_check_shape, _gaussian_pixels, _integrate_radial,
                       _n_subsample, _pixel_scale_arcsec)
from .core import psf_center, psf_centroid, validate_psf

__all__ = ['measure_fwhm', 'resample_psf', 'recenter_psf']

#: Smallest 1 / beta allowed in the Moffat fit (a Gaussian to 1e-6).
_INV_BETA_MIN = 1e-6
#: Number of fine pixels across the FWHM in the 'contour' method.
_CONTOUR_SAMPLING = 30.0


def _half_max_guess(arr):
    """FWHM estimate (pixels) from the area above half the peak."""
    area = np.count_nonzero(arr >= 0.5 * arr.max())
    return max(2.0 * np.sqrt(area / np.pi), 0.5)


def _fit_profile(arr, method):
    """Least-squares fit of a pixel-integrated circular profile."""
    fwhm0 = _half_max_guess(arr)
    peak = np.unravel_index(np.argmax(arr), arr.shape)
    half = int(max(4, np.ceil(3 * fwhm0)))
    y0, x0 = max(peak[0] - half, 0), max(peak[1] - half, 0)
    data = arr[y0:peak[0] + half + 1, x0:peak[1] + half + 1]
    shape = data.shape
    start_y, start_x = peak[0] - y0, peak[1] - x0
    n_sub = _n_subsample(fwhm0)

    if method == 'gaussian':
        def model(p):
            sigma = p[2] / (2.0 * np.sqrt(2.0 * np.log(2.0)))
            return _gaussian_pixels(shape, (p[0], p[1]), sigma)

        p0 = [start_y, start_x, fwhm0]
        lower, upper = [-np.inf, -np.inf, 1e-3], [np.inf, np.inf, np.inf]
    else:
        # Moffat with u = 1 / beta: u -> 0 is the Gaussian limit, so the fit
        # reaches Gaussian profiles exactly
        def model(p):
            u_ = p[3]
            scale2 = p[2] ** 2 / (4.0 * np.expm1(u_ * np.log(2.0)))
            return _integrate_radial(
                lambda r2: np.exp(-np.log1p(r2 / scale2) / u_), shape,
                (p[0], p[1]), n_sub)

        p0 = [start_y, start_x, fwhm0, 1.0 / 3.0]
        lower = [-np.inf, -np.inf, 1e-3, _INV_BETA_MIN]
        upper = [np.inf, np.inf, np.inf, 1.0 / 1.01]

    def residuals(p):
        m = model(p)
        # best amplitude for these shape parameters (linear least squares)
        amp = (m * data).sum() / (m * m).sum()
        return (data - amp * m).ravel()

    result = least_squares(residuals, p0, bounds=(lower, upper),
                           x_scale='jac', ftol=1e-12, xtol=1e-12, gtol=1e-12)
    # centre in the coordinates of ``arr``, and the FWHM
    return (float(result.x[0] + y0), float(result.x[1] + x0),
            float(result.x[2]))


def _contour_fwhm(arr):
    """FWHM from the area above half maximum of the upsampled PSF."""
    fwhm0 = _half_max_guess(arr)
    factor = max(int(np.ceil(_CONTOUR_SAMPLING / fwhm0)), 1)
    peak = np.unravel_index(np.argmax(arr), arr.shape)
    half = int(np.ceil(2 * fwhm0)) + 2
    sub = arr[max(peak[0] - half, 0):peak[0] + half + 1,
              max(peak[1] - half, 0):peak[1] + half + 1]
    fine = resample_psf(sub, factor)
    labels, _ = label(fine >= 0.5 * fine.max())
    area = np.count_nonzero(labels == labels.flat[np.argmax(fine)])
    return float(2.0 * np.sqrt(area / np.pi) / factor)


def measure_fwhm(psf, *, pixel_scale=None, method='moffat'):
    """
    Measure the full width at half maximum (FWHM) of a PSF.

    Three methods are available:

    ``'moffat'`` (default)
        Least-squares fit of a circular Moffat profile integrated over the
        pixels, with its index beta free up to infinity (the Gaussian
        limit), over a box of about 6 FWHM around the peak. It recovers
        the intrinsic FWHM of Gaussian and Moffat PSFs to better than 1%
        even when barely sampled (FWHM ~ 1 pixel). Best for
        seeing-limited PSFs.
    ``'gaussian'``
        The same with a circular Gaussian profile.
    ``'contour'``
        Model-free: the PSF is upsampled with `resample_psf` and the FWHM
        is the diameter of the disk with the same area as the region above
        half maximum. Suited to diffraction-limited or elongated PSFs
        (it gives the geometric mean of the major and minor FWHM), to
        about 1% when the FWHM is 3 pixels or more; it overestimates
        undersampled PSFs.

    Profile fits to an elongated PSF return the FWHM of the best-fitting
    circular profile (a few percent below the geometric mean for an axis
    ratio of 1.7), and fits to an Airy pattern are biased low by the rings
    (about 6%): use ``'contour'`` for those.

    Parameters
    ----------
    psf : array_like
        2D PSF. It need not be normalised nor centred.
    pixel_scale : `~astropy.units.Quantity`, optional
        Pixel scale of ``psf`` (an angle, or angle per pixel). If given,
        the FWHM is returned as an angle in arcsec.
    method : {'moffat', 'gaussian', 'contour'}, optional
        Measurement method, see above.

    Returns
    -------
    fwhm : float or `~astropy.units.Quantity`
        The FWHM in pixels of ``psf``, or in arcsec if ``pixel_scale`` is
        given.

    Raises
    ------
    ValueError
        If the PSF is flat (no peak) or the measured FWHM is larger than
        the stamp (a flat or truncated PSF).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_moffat_psf, measure_fwhm
    >>> psf = make_moffat_psf(3.0, beta=2.5)
    >>> round(measure_fwhm(psf), 3)
    3.0
    >>> measure_fwhm(psf, pixel_scale=0.2 * u.arcsec)  # doctest: +FLOAT_CMP
    <Quantity 0.6 arcsec>
    """
    check_choice(method, 'method', ('moffat', 'gaussian', 'contour'))
    arr = validate_psf(psf, check_center=False, warn=False)
    if np.ptp(arr) <= 1e-12 * np.abs(arr).max():
        msg = (f'psf must have a peak to measure its FWHM, got a flat image '
               f'of shape {arr.shape}')
        raise ValueError(msg)
    if method == 'contour':
        fwhm = _contour_fwhm(arr)
    else:
        fwhm = _fit_profile(arr, method)[2]
    if fwhm > max(arr.shape):
        msg = (f'psf FWHM cannot be measured: the {method} fit gives '
               f'{fwhm:.4g} pixels, wider than the stamp of shape '
               f'{arr.shape}; the PSF is flat or truncated (give a larger '
               'stamp)')
        raise ValueError(msg)
    if pixel_scale is not None:
        return fwhm * _pixel_scale_arcsec(pixel_scale) * u.arcsec
    return fwhm


def _resampling_factor(factor, from_scale, to_scale):
    if factor is not None:
        if from_scale is not None or to_scale is not None:
            msg = ('factor must not be given together with from_scale and '
                   f'to_scale, got factor={factor!r}, '
                   f'from_scale={from_scale!r}, to_scale={to_scale!r}')
            raise ValueError(msg)
        return check_real(factor, 'factor', minimum=0, strict=True)
    if from_scale is None or to_scale is None:
        msg = ('factor must be given, or both from_scale and to_scale, got '
               f'from_scale={from_scale!r} and to_scale={to_scale!r}')
        raise ValueError(msg)
    quantities = [isinstance(s, u.Quantity) for s in (from_scale, to_scale)]
    if all(quantities):
        return (_pixel_scale_arcsec(from_scale, 'from_scale')
                / _pixel_scale_arcsec(to_scale, 'to_scale'))
    if any(quantities):
        msg = ('from_scale and to_scale must both be Quantities or both be '
               f'plain numbers, got {from_scale!r} and {to_scale!r}')
        raise TypeError(msg)
    return (check_real(from_scale, 'from_scale', minimum=0, strict=True)
            / check_real(to_scale, 'to_scale', minimum=0, strict=True))


def resample_psf(psf, factor=None, *, from_scale=None, to_scale=None,
                 shape=None):
    """
    Resample a PSF to another pixel scale, conserving flux.

    The cumulative flux of the PSF, known exactly at the pixel corners, is
    interpolated with a bicubic spline and differenced at the corners of
    the new pixels. Each new pixel thus receives the flux falling inside
    it. The FWHM in pixels scales with ``factor`` (to about 2% for a FWHM
    of 1.5 input pixels or more, better for larger ones): unlike
    interpolating the pixel values, the old pixel response is not added a
    second time when going to a finer grid. Going to a coarser grid is
    exact up to the interpolation inside partially covered pixels. The
    centre pixel ``(ny // 2, nx // 2)`` of the input maps onto the centre
    pixel of the output.

    Parameters
    ----------
    psf : array_like
        2D PSF centred on ``(ny // 2, nx // 2)``.
    factor : float, optional
        Ratio of the old to the new pixel size: ``factor > 1`` gives finer
        pixels (more of them), ``factor < 1`` coarser ones.
    from_scale, to_scale : `~astropy.units.Quantity` or float, optional
        Input and output pixel scales, given instead of ``factor``
        (``factor = from_scale / to_scale``). Both Quantities (angles, or
        angles per pixel) or both plain numbers in the same unit.
    shape : int or tuple of 2 int, optional
        Output shape. The default covers the same field as the input:
        ``round(n * factor)`` pixels along an axis of ``n`` pixels, plus one
        if needed to keep the parity (odd or even) of the input shape.

    Returns
    -------
    psf : `~numpy.ndarray`
        The resampled PSF. Small negative values from the spline
        interpolation (sharp, undersampled PSFs) are set to zero and the
        result is normalised to unit sum.

    Examples
    --------
    Bring a VLT seeing PSF (0.2 arcsec pixels) onto the HST/ACS grid
    (0.05 arcsec pixels):

    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_moffat_psf, measure_fwhm, resample_psf
    >>> vlt = make_moffat_psf(0.7 * u.arcsec, beta=3, shape=25,
    ...                       pixel_scale=0.2 * u.arcsec)
    >>> fine = resample_psf(vlt, from_scale=0.2 * u.arcsec,
    ...                     to_scale=0.05 * u.arcsec)
    >>> fine.shape
    (101, 101)
    >>> round(measure_fwhm(fine) / measure_fwhm(vlt), 1)
    4.0
    """
    arr = validate_psf(psf, check_center=False, warn=False)
    factor = _resampling_factor(factor, from_scale, to_scale)
    ny, nx = arr.shape
    if shape is None:
        shape = []
        for n in (ny, nx):
            m = max(int(np.round(n * factor)), 1)
            shape.append(m + 1 if (m - n) % 2 else m)
        shape = tuple(shape)
    else:
        shape = _check_shape(shape)

    cy, cx = psf_center(arr.shape)
    cumulative = np.zeros((ny + 1, nx + 1))
    cumulative[1:, 1:] = arr.cumsum(axis=0).cumsum(axis=1)
    edges_y = np.arange(ny + 1) - cy - 0.5
    edges_x = np.arange(nx + 1) - cx - 0.5
    spline = RectBivariateSpline(edges_y, edges_x, cumulative,
                                 kx=min(3, ny), ky=min(3, nx), s=0)
    ty, tx = psf_center(shape)
    new_y = np.clip((np.arange(shape[0] + 1) - ty - 0.5) / factor,
                    edges_y[0], edges_y[-1])
    new_x = np.clip((np.arange(shape[1] + 1) - tx - 0.5) / factor,
                    edges_x[0], edges_x[-1])
    out = np.diff(np.diff(spline(new_y, new_x), axis=0), axis=1)
    out = np.clip(out, 0, None)
    total = out.sum()
    if not total > 0:
        msg = (f'shape must cover part of the PSF, got shape {shape} with '
               f'factor {factor:.6g}, which holds no flux')
        raise ValueError(msg)
    return out / total


#: Methods of `recenter_psf`.
RECENTER_METHODS = ('centroid', 'peak', 'fit')
#: Iterations of the centroid method (Fourier ringing of a sharp PSF moves
#: the centroid of the clipped positive part slightly after each shift).
_CENTROID_ITERATIONS = 5
#: Residual centroid offset (pixels) at which the iterations stop.
_CENTROID_TOL = 1e-4


def _fourier_shift(psf, shift):
    """
    Shift a PSF by ``(dy, dx)`` pixels with a Fourier phase ramp.

    The shift is circular (what leaves one edge comes back at the other)
    and exactly flux conserving (the zero frequency is unchanged).

    Parameters
    ----------
    psf : ndarray
        2D array.
    shift : tuple of 2 float
        ``(dy, dx)`` in pixels; positive values move the PSF to larger
        indices.

    Returns
    -------
    shifted : ndarray
        The shifted array (real, same shape).
    """
    arr = np.asarray(psf, dtype=float)
    ny, nx = arr.shape
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    ramp = np.exp(-2j * np.pi * (fy * shift[0] + fx * shift[1]))
    return np.fft.irfft2(np.fft.rfft2(arr) * ramp, s=arr.shape)


def _peak_position(arr):
    """Sub-pixel peak: a 3-point Gaussian (log-parabola) fit per axis."""
    py, px = np.unravel_index(np.argmax(arr), arr.shape)
    position = [float(py), float(px)]
    for axis, (p, n) in enumerate(((py, arr.shape[0]), (px, arr.shape[1]))):
        if p == 0 or p == n - 1:
            continue
        if axis == 0:
            values = arr[p - 1:p + 2, px]
        else:
            values = arr[py, p - 1:p + 2]
        if np.all(values > 0):
            values = np.log(values)
        denominator = values[0] - 2 * values[1] + values[2]
        if denominator < 0:
            position[axis] += float(
                np.clip(0.5 * (values[0] - values[2]) / denominator,
                        -0.5, 0.5))
    return tuple(position)


def _psf_position(arr, method):
    if method == 'centroid':
        return psf_centroid(arr)
    if method == 'peak':
        return _peak_position(arr)
    return _fit_profile(arr, 'moffat')[:2]


def recenter_psf(psf, method='centroid', *, return_shift=False):
    """
    Move a PSF onto the centre convention ``(ny // 2, nx // 2)``.

    The PSF is shifted by a sub-pixel amount with a Fourier phase ramp (a
    circular shift: flux leaving one edge re-enters at the opposite one,
    which is harmless when the PSF wings are faint at the edges). The
    Fourier shift conserves the total flux exactly; for an undersampled PSF
    it rings (small negative pixels around the core), which keeps the flux
    but not positivity. The result is normalised to unit sum.

    Parameters
    ----------
    psf : array_like
        2D PSF, not necessarily normalised.
    method : {'centroid', 'peak', 'fit'}, optional
        How the current centre is measured:

        ``'centroid'`` (default)
            The intensity-weighted centroid of the positive pixels
            (`psf_centroid`), iterated a few times so that the centroid of
            the result lies on the centre to 1e-4 pixel. Right for
            deconvolution: the flux-weighted positions of the sources are
            kept.
        ``'peak'``
            The brightest pixel refined by a 3-point Gaussian
            (log-parabola) fit along each axis. Insensitive to faint,
            noisy or asymmetric wings.
        ``'fit'``
            The centre of a least-squares fit of a circular Moffat profile
            integrated over the pixels (see `measure_fwhm`), over about 6
            FWHM around the peak. Robust to noise; slower.

    return_shift : bool, optional
        If True, also return the ``(dy, dx)`` offset of the measured
        centre from the convention (the PSF was moved by minus that).

    Returns
    -------
    psf : `~numpy.ndarray`
        The recentred PSF, of unit sum.
    shift : tuple of 2 float
        Only with ``return_shift=True``: the offset that was removed, in
        pixels.

    Examples
    --------
    A PSF whose peak sits 1.3 pixels off the centre pixel of a 32 x 32
    stamp:

    >>> from scipy.ndimage import shift
    >>> from astrodeconv.psf import (make_gaussian_psf, psf_centroid,
    ...                              recenter_psf)
    >>> off = shift(make_gaussian_psf(4.0, shape=32), (-1.3, 0.4))
    >>> psf, offset = recenter_psf(off, return_shift=True)
    >>> [round(s, 2) for s in offset]
    [-1.3, 0.4]
    >>> [round(c, 3) for c in psf_centroid(psf)]
    [16.0, 16.0]
    """
    check_choice(method, 'method', RECENTER_METHODS)
    arr = validate_psf(psf, check_center=False, warn=False)
    center = np.array(psf_center(arr.shape), dtype=float)
    offset = np.asarray(_psf_position(arr, method), dtype=float) - center
    out = _fourier_shift(arr, -offset)
    if method == 'centroid':
        for _ in range(_CENTROID_ITERATIONS):
            residual = np.asarray(psf_centroid(out)) - center
            if np.hypot(*residual) < _CENTROID_TOL:
                break
            offset = offset + residual
            out = _fourier_shift(arr, -offset)
    out = out / out.sum()
    if return_shift:
        return out, (float(offset[0]), float(offset[1]))
    return out
