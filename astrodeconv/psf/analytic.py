# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Analytic PSF models (Gaussian, Moffat, Airy, Kolmogorov) rendered on a pixel
grid.

Every function here integrates the profile over the area of each pixel
(analytically for the circular Gaussian, by Gauss-Legendre quadrature for
the others, by GalSim for the Kolmogorov profile) so the result is a
faithful image of the PSF even when it is barely sampled. The PSF is
centred on pixel ``(ny // 2, nx // 2)`` and normalised to unit sum, the
convention of `astrodeconv.psf.validate_psf`.
"""

import numpy as np
from astropy import units as u
from scipy.special import erf, j1

from ..utils._deprecation import renamed_keyword
from ..utils._optional_deps import import_optional
from ..utils._validation import check_ellipticity as _check_ellipticity
from ..utils._validation import check_pixel_scale as _pixel_scale_arcsec
from ..utils._validation import check_positive_int, check_real
from .core import psf_center

__all__ = ['make_gaussian_psf', 'make_moffat_psf', 'make_airy_psf',
           'make_kolmogorov_psf', 'odd_stamp_size', 'DEFAULT_MOFFAT_BETA',
           'PSF_STAMP_SIZE_IN_FWHM']

#: Conversion factor between the FWHM and the sigma of a Gaussian.
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
#: FWHM of the unobscured Airy pattern in units of lambda / D.
_AIRY_FWHM = 1.028993969962188
#: Default Moffat index beta (Trujillo et al. 2001 fit to atmospheric
#: seeing), used wherever the package makes a Moffat PSF.
DEFAULT_MOFFAT_BETA = 4.765
#: Default side of an analytic PSF stamp, in units of its FWHM, per
#: profile (the Airy entry is in units of lambda / D); see `odd_stamp_size`.
#: The Kolmogorov profile has the heaviest wings: 0.75% of its flux lies
#: beyond a stamp of 8 FWHM. Elliptical PSFs get stamps larger by the ratio
#: of their major axis to their FWHM.
PSF_STAMP_SIZE_IN_FWHM = {'gaussian': 5.0, 'moffat': 6.0,
                          'airy': 8.0 * _AIRY_FWHM, 'kolmogorov': 8.0}


#: The keyword ``oversample`` is now ``oversampling`` (photutils' word);
#: the old name keeps working with a deprecation warning.
_renamed_oversample = renamed_keyword('oversample', 'oversampling',
                                      since='0.1')


def _check_shape(shape, name='shape'):
    """Return ``shape`` as a ``(ny, nx)`` tuple of positive ints."""
    if isinstance(shape, (tuple, list, np.ndarray)):
        if len(shape) != 2:
            msg = (f'{name} must be an integer or a tuple of 2 integers, '
                   f'got {len(shape)} value(s): {tuple(shape)!r}')
            raise ValueError(msg)
        return tuple(check_positive_int(s, name) for s in shape)
    size = check_positive_int(shape, name)
    return (size, size)


def odd_stamp_size(extent, *, limit=None):
    """
    The side of a PSF stamp: the smallest odd integer >= ``extent``.

    This is the one stamp-size rule of the package: odd, so that the PSF
    has a centre pixel, at least 3 pixels, and at most ``limit`` (itself
    made odd by rounding down), e.g. the side of the image the PSF is
    used on.

    Parameters
    ----------
    extent : float
        The wanted side in pixels, e.g. ``PSF_STAMP_SIZE_IN_FWHM['moffat'] *
        fwhm``.
    limit : int, optional
        The largest allowed side.

    Returns
    -------
    size : int

    Examples
    --------
    >>> from astrodeconv.psf import odd_stamp_size
    >>> odd_stamp_size(6 * 3.2), odd_stamp_size(1)
    (21, 3)
    >>> odd_stamp_size(50, limit=32)
    31
    """
    size = max(int(np.ceil(extent)), 3)
    size += 1 - size % 2
    if limit is not None:
        limit = check_positive_int(limit, 'limit')
        size = min(size, limit - (1 - limit % 2))
    return size


def _stamp_shape(shape, extent):
    """``shape`` checked, or the default square stamp of side ``extent``."""
    if shape is None:
        return (odd_stamp_size(extent),) * 2
    return _check_shape(shape)


def _fwhm_in_pixels(fwhm, pixel_scale, name='fwhm'):
    """
    Return a FWHM as a float number of pixels.

    ``fwhm`` may be a plain number (pixels), a Quantity in pixels or an
    angular Quantity, the latter needing ``pixel_scale``.
    """
    if isinstance(fwhm, u.Quantity):
        if not fwhm.isscalar:
            msg = f'{name} must be a scalar, got shape {fwhm.shape}'
            raise ValueError(msg)
        if not np.isfinite(fwhm.value) or fwhm.value <= 0:
            # checked on the value given: once in pixels it would read
            # as an unrelated number (-0.7 arcsec -> -3.4999999999999996)
            msg = f'{name} must be positive and finite, got {name}={fwhm}'
            raise ValueError(msg)
        if fwhm.unit == u.pix:
            value = float(fwhm.value)
        elif fwhm.unit.physical_type == 'angle':
            if pixel_scale is None:
                msg = (f'pixel_scale must be given when {name} is an angular '
                       f'Quantity, got {name}={fwhm} and pixel_scale=None')
                raise ValueError(msg)
            scale = _pixel_scale_arcsec(pixel_scale)
            value = float(fwhm.to_value(u.arcsec)) / scale
        else:
            msg = (f'{name} must be a number of pixels or an angular '
                   f'Quantity, got unit {fwhm.unit!r}')
            raise u.UnitsError(msg)
        return check_real(value, name, minimum=0, strict=True)
    return check_real(fwhm, name, minimum=0, strict=True)


def _check_length(value, name):
    """Return a positive length Quantity as a float in metres."""
    if not isinstance(value, u.Quantity):
        msg = (f'{name} must be a Quantity with length units, got {value!r} '
               f'of type {type(value).__name__}')
        raise TypeError(msg)
    if value.unit.physical_type != 'length':
        msg = f'{name} must have length units, got unit {value.unit!r}'
        raise u.UnitsError(msg)
    if not value.isscalar:
        msg = f'{name} must be a scalar, got shape {value.shape}'
        raise ValueError(msg)
    return check_real(float(value.to_value(u.m)), name, minimum=0,
                      strict=True)


def _n_subsample(scale):
    """
    Return the number of quadrature points per pixel (per axis).

    ``scale`` is the characteristic width of the profile in pixels: the
    narrower the profile, the more points are needed. With Gauss-Legendre
    quadrature, 6 to 16 points integrate Moffat and Airy profiles to
    better than 1e-7 of the peak down to a FWHM of half a pixel.
    """
    return int(np.clip(np.ceil(8.0 / scale), 6, 16))


def _n_subsample_elliptical(scale):
    """
    The number of quadrature points per pixel of the elliptical profiles.

    The rule of `_n_subsample` for narrow profiles; fewer points for wide
    ones (``scale``, the minor-axis FWHM, of 5 pixels or more), still
    integrated to about 1e-8 of the peak.
    """
    if scale >= 10:
        return 3
    if scale >= 5:
        return 4
    return _n_subsample(scale)


def _integrate_radial(profile, shape, center, n_sub):
    """
    Integrate a radial profile over every pixel by Gauss-Legendre quadrature.

    Parameters
    ----------
    profile : callable
        Function of the squared radius (in pixels) returning the surface
        brightness.
    shape : tuple of int
        Output shape.
    center : tuple of float
        ``(y, x)`` position of the profile centre in pixel coordinates.
    n_sub : int
        Number of quadrature points per pixel along each axis.

    Returns
    -------
    image : `~numpy.ndarray`
        Mean of the profile over each pixel.
    """
    nodes, weights = np.polynomial.legendre.leggauss(n_sub)
    offsets, weights = nodes / 2.0, weights / 2.0
    dy = (np.arange(shape[0]) - center[0])[:, None] + offsets[None, :]
    dx = (np.arange(shape[1]) - center[1])[:, None] + offsets[None, :]
    r2 = dy[:, :, None, None] ** 2 + dx[None, None, :, :] ** 2
    return np.einsum('iajb,a,b->ij', profile(r2), weights, weights)


def _angle_degrees(angle, name='angle'):
    """Return an angle (a number of degrees or a Quantity) in degrees."""
    if isinstance(angle, u.Quantity):
        if not angle.isscalar:
            msg = f'{name} must be a scalar, got shape {angle.shape}'
            raise ValueError(msg)
        if angle.unit.physical_type != 'angle':
            msg = (f'{name} must be a number of degrees or an angular '
                   f'Quantity, got unit {angle.unit!r}')
            raise u.UnitsError(msg)
        angle = float(angle.to_value(u.deg))
    return check_real(angle, name)


def _axis_ratio(ellipticity):
    """Minor-to-major axis ratio ``q`` of an ellipticity ``(1-q)/(1+q)``."""
    return (1.0 - ellipticity) / (1.0 + ellipticity)


def _elliptical_extent(extent, ellipticity):
    """A stamp extent for a circular PSF stretched along its major axis."""
    if ellipticity > 0:
        return extent / np.sqrt(_axis_ratio(ellipticity))
    return extent


def _integrate_elliptical(profile, shape, center, n_sub, ellipticity,
                          angle):
    """
    Integrate a sheared radial profile over every pixel by quadrature.

    The circular profile is stretched by ``1 / sqrt(q)`` along the major
    axis, at ``angle`` degrees counter-clockwise from the x axis (the
    columns) towards the y axis (the rows), and compressed by ``sqrt(q)``
    along the minor axis: the shear of GalSim (``g = ellipticity``), which
    keeps the area of the isophotes and so the geometric-mean FWHM.

    Parameters are those of `_integrate_radial`, plus ``ellipticity``
    (``(1 - q) / (1 + q)``) and ``angle`` (degrees).
    """
    q = _axis_ratio(ellipticity)
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    # r^2 = q u^2 + v^2 / q with u along the major axis
    cxx = q * cos**2 + sin**2 / q
    cyy = q * sin**2 + cos**2 / q
    cxy = 2.0 * cos * sin * (q - 1.0 / q)
    ny, nx = shape
    # the profile is point symmetric: on odd stamps centred on the middle
    # pixel, compute the rows up to the centre and mirror the others
    mirror = (ny % 2 == 1 and nx % 2 == 1
              and tuple(center) == ((ny - 1) / 2, (nx - 1) / 2))
    rows = ny // 2 + 1 if mirror else ny
    nodes, weights = np.polynomial.legendre.leggauss(n_sub)
    offsets, weights = nodes / 2.0, weights / 2.0
    dy = ((np.arange(rows) - center[0])[:, None]
          + offsets[None, :])[:, :, None, None]
    dx = ((np.arange(nx) - center[1])[:, None]
          + offsets[None, :])[None, None, :, :]
    r2 = cyy * dy**2 + cxx * dx**2 + cxy * dy * dx
    part = np.einsum('iajb,a,b->ij', profile(r2), weights, weights)
    if not mirror:
        return part
    return np.concatenate([part, part[-2::-1, ::-1]])


def _gaussian_pixels(shape, center, sigma):
    """Gaussian integrated exactly over pixels with the error function."""
    def edges_integral(n, c):
        edges = (np.arange(n + 1) - 0.5 - c) / (np.sqrt(2.0) * sigma)
        return 0.5 * np.diff(erf(edges))

    return np.outer(edges_integral(shape[0], center[0]),
                    edges_integral(shape[1], center[1]))


def _moffat_alpha(fwhm, beta):
    """Return the Moffat core width alpha for a given FWHM and beta."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _moffat_pixels(shape, center, fwhm, beta, ellipticity=0.0, angle=0.0):
    """Moffat profile integrated over pixels by quadrature."""
    alpha = _moffat_alpha(fwhm, beta)

    def profile(r2):
        return (1.0 + r2 / alpha**2) ** (-beta)

    if ellipticity > 0:
        n_sub = _n_subsample_elliptical(
            fwhm * np.sqrt(_axis_ratio(ellipticity)))
        return _integrate_elliptical(profile, shape, center, n_sub,
                                     ellipticity, angle)
    return _integrate_radial(profile, shape, center, _n_subsample(fwhm))


def _normalized(image):
    return image / image.sum()


@_renamed_oversample
def make_gaussian_psf(fwhm, shape=None, *, pixel_scale=None, oversampling=1,
                      ellipticity=0.0, angle=0.0):
    """
    Make a Gaussian PSF integrated over the pixels.

    The circular Gaussian is integrated exactly (error functions); an
    elliptical one (``ellipticity > 0``) by Gauss-Legendre quadrature.

    Parameters
    ----------
    fwhm : float or `~astropy.units.Quantity`
        Full width at half maximum, in (detector) pixels if a number or a
        Quantity in ``u.pix``, or an angle (then ``pixel_scale`` is
        required).
    shape : int or tuple of 2 int, optional
        Output shape ``(ny, nx)`` in output (oversampled) pixels. The
        default is the smallest odd size covering about 5 times the FWHM
        (at least 3).
    pixel_scale : `~astropy.units.Quantity`, optional
        Detector pixel scale, an angle (per pixel), used to convert an
        angular ``fwhm`` to pixels.
    oversampling : int, optional
        Sampling factor: the PSF is computed on a grid ``oversampling``
        times finer than the detector pixels, so its FWHM in output pixels
        is ``oversampling`` times the FWHM in detector pixels.
    ellipticity : float, optional
        Ellipticity ``e = (1 - q) / (1 + q)`` of the isophotes, ``q`` being
        the ratio of the minor to the major axis, in ``[0, 1)``: the
        circular profile sheared by ``g = e`` (GalSim's ``shear``), which
        keeps the isophote areas, so that ``fwhm`` is the geometric mean of
        the major and minor FWHM (``fwhm / sqrt(q)`` and ``fwhm *
        sqrt(q)``). The default stamp grows by ``1 / sqrt(q)``.
    angle : float or `~astropy.units.Quantity`, optional
        Position angle of the major axis, counter-clockwise from the x axis
        (the columns) towards the y axis (the rows): degrees if a number,
        or an angular Quantity. Ignored when ``ellipticity`` is 0.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, centred on pixel ``(ny // 2, nx // 2)`` and normalised to
        unit sum (the flux beyond the array edges is discarded).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> psf = make_gaussian_psf(3.0)
    >>> psf.shape, round(float(psf.sum()), 12)
    ((15, 15), 1.0)
    >>> make_gaussian_psf(0.8 * u.arcsec, pixel_scale=0.2 * u.arcsec).shape
    (21, 21)

    An elliptical PSF (axis ratio 2/3) with its major axis along the rows:

    >>> psf = make_gaussian_psf(3.0, ellipticity=0.2, angle=90)
    >>> psf.shape, bool(psf[:, 9].sum() > psf[9, :].sum())
    ((19, 19), True)
    """
    fwhm_pix = _fwhm_in_pixels(fwhm, pixel_scale)
    oversampling = check_positive_int(oversampling, 'oversampling')
    ellipticity = _check_ellipticity(ellipticity)
    angle = _angle_degrees(angle)
    fwhm_pix *= oversampling
    shape = _stamp_shape(shape, _elliptical_extent(
        PSF_STAMP_SIZE_IN_FWHM['gaussian'] * fwhm_pix, ellipticity))
    sigma = fwhm_pix * _FWHM_TO_SIGMA
    if ellipticity > 0:
        n_sub = _n_subsample_elliptical(
            fwhm_pix * np.sqrt(_axis_ratio(ellipticity)))
        image = _integrate_elliptical(
            lambda r2: np.exp(-0.5 * r2 / sigma**2), shape,
            psf_center(shape), n_sub, ellipticity, angle)
        return _normalized(image)
    return _normalized(_gaussian_pixels(shape, psf_center(shape), sigma))


@_renamed_oversample
def make_moffat_psf(fwhm, beta=DEFAULT_MOFFAT_BETA, shape=None, *,
                    pixel_scale=None, oversampling=1, ellipticity=0.0,
                    angle=0.0):
    r"""
    Make a Moffat PSF integrated over the pixels.

    The profile is :math:`I(r) \propto (1 + r^2 / \alpha^2)^{-\beta}` with
    :math:`\alpha = \mathrm{FWHM} / (2 \sqrt{2^{1/\beta} - 1})`, circular
    or sheared into ellipses. It is integrated over each pixel by
    Gauss-Legendre quadrature (6 to 16 points per axis, more for small
    FWHM).

    Parameters
    ----------
    fwhm : float or `~astropy.units.Quantity`
        Full width at half maximum, in (detector) pixels if a number or a
        Quantity in ``u.pix``, or an angle (then ``pixel_scale`` is
        required).
    beta : float, optional
        Moffat power index, must be > 1. The default 4.765 is the value
        predicted for Kolmogorov turbulence (Trujillo et al. 2001); ground
        based seeing is often closer to 2.5-3.5.
    shape : int or tuple of 2 int, optional
        Output shape in output (oversampled) pixels. The default is the
        smallest odd size covering about 6 times the FWHM.
    pixel_scale : `~astropy.units.Quantity`, optional
        Detector pixel scale, an angle (per pixel), used to convert an
        angular ``fwhm`` to pixels.
    oversampling : int, optional
        Sampling factor of the output grid relative to the detector pixels.
    ellipticity : float, optional
        Ellipticity ``e = (1 - q) / (1 + q)`` of the isophotes, ``q`` being
        the ratio of the minor to the major axis, in ``[0, 1)``: the
        circular profile sheared by ``g = e`` (GalSim's ``shear``), which
        keeps the isophote areas, so that ``fwhm`` is the geometric mean of
        the major and minor FWHM (``fwhm / sqrt(q)`` and ``fwhm *
        sqrt(q)``). The default stamp grows by ``1 / sqrt(q)``.
    angle : float or `~astropy.units.Quantity`, optional
        Position angle of the major axis, counter-clockwise from the x axis
        (the columns) towards the y axis (the rows): degrees if a number,
        or an angular Quantity. Ignored when ``ellipticity`` is 0.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, centred on pixel ``(ny // 2, nx // 2)`` and normalised to
        unit sum.

    Examples
    --------
    >>> from astrodeconv.psf import make_moffat_psf
    >>> psf = make_moffat_psf(4.0, beta=2.5, shape=(32, 32))
    >>> [int(i) for i in divmod(psf.argmax(), 32)]
    [16, 16]
    >>> make_moffat_psf(4.0, ellipticity=0.1, angle=30).shape
    (27, 27)
    """
    fwhm_pix = _fwhm_in_pixels(fwhm, pixel_scale)
    beta = check_real(beta, 'beta', minimum=1, strict=True)
    oversampling = check_positive_int(oversampling, 'oversampling')
    ellipticity = _check_ellipticity(ellipticity)
    angle = _angle_degrees(angle)
    fwhm_pix *= oversampling
    shape = _stamp_shape(shape, _elliptical_extent(
        PSF_STAMP_SIZE_IN_FWHM['moffat'] * fwhm_pix, ellipticity))
    return _normalized(_moffat_pixels(shape, psf_center(shape), fwhm_pix,
                                      beta, ellipticity, angle))


@_renamed_oversample
def make_airy_psf(wavelength, diameter, shape=None, *, pixel_scale,
                  oversampling=1, obscuration=0.0):
    r"""
    Make the Airy diffraction pattern of a circular (annular) aperture.

    For a central obscuration :math:`\epsilon` (ratio of the secondary to
    the primary mirror diameter) the intensity is

    .. math::

        I(x) \propto \left[\frac{2 J_1(x)}{x}
        - \epsilon^2 \frac{2 J_1(\epsilon x)}{\epsilon x}\right]^2,
        \qquad x = \pi D \theta / \lambda ,

    integrated over each pixel by quadrature. Without obscuration the
    FWHM is :math:`1.029 \lambda / D`.

    Parameters
    ----------
    wavelength : `~astropy.units.Quantity`
        Observing wavelength (length units).
    diameter : `~astropy.units.Quantity`
        Telescope aperture diameter (length units).
    shape : int or tuple of 2 int, optional
        Output shape in output (oversampled) pixels. The default is the
        smallest odd size covering about 8 times the FWHM (the core and
        the first three rings).
    pixel_scale : `~astropy.units.Quantity`
        Detector pixel scale, an angle (per pixel). Required.
    oversampling : int, optional
        Sampling factor of the output grid relative to the detector pixels.
    obscuration : float, optional
        Linear central obscuration ratio, in ``[0, 1)``.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, centred on pixel ``(ny // 2, nx // 2)`` and normalised to
        unit sum.

    Examples
    --------
    HST at 800 nm sampled with 0.02 arcsec pixels:

    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_airy_psf
    >>> psf = make_airy_psf(800 * u.nm, 2.4 * u.m, pixel_scale=0.02 * u.arcsec,
    ...                     obscuration=0.33)
    >>> psf.shape
    (29, 29)
    """
    lam = _check_length(wavelength, 'wavelength')
    diam = _check_length(diameter, 'diameter')
    scale = _pixel_scale_arcsec(pixel_scale)
    oversampling = check_positive_int(oversampling, 'oversampling')
    eps = check_real(obscuration, 'obscuration', minimum=0)
    if eps >= 1:
        msg = f'obscuration must be in the range [0, 1), got {eps}'
        raise ValueError(msg)
    # lambda / D in output pixels
    lam_d = (lam / diam) * u.rad.to(u.arcsec) / scale * oversampling
    shape = _stamp_shape(shape, PSF_STAMP_SIZE_IN_FWHM['airy'] * lam_d)

    def airy(r2):
        x = np.pi * np.sqrt(r2) / lam_d
        x = np.where(x == 0, 1e-12, x)
        amp = 2.0 * j1(x) / x
        if eps > 0:
            amp = amp - eps**2 * 2.0 * j1(eps * x) / (eps * x)
        return amp**2

    image = _integrate_radial(airy, shape, psf_center(shape),
                              _n_subsample(lam_d))
    return _normalized(image)


@_renamed_oversample
def make_kolmogorov_psf(fwhm, shape=None, *, pixel_scale=None,
                        oversampling=1, ellipticity=0.0, angle=0.0):
    r"""
    Make a Kolmogorov (long-exposure atmospheric seeing) PSF.

    The PSF of a large telescope through Kolmogorov turbulence, the
    Fourier transform of :math:`\exp[-3.44 (k \lambda / (2 \pi r_0))^{5/3}]`
    (`galsim.Kolmogorov`), drawn by GalSim integrated over the pixels
    (``method='auto'``), then normalised to unit sum on the stamp. Its
    wings are heavier than those of a Moffat profile of index 4.765:
    0.75% of the flux lies beyond a stamp of 8 FWHM (the default), 2.6%
    beyond one of 4 FWHM. Requires GalSim.

    Parameters
    ----------
    fwhm : float or `~astropy.units.Quantity`
        Full width at half maximum, in (detector) pixels if a number or a
        Quantity in ``u.pix``, or an angle (then ``pixel_scale`` is
        required).
    shape : int or tuple of 2 int, optional
        Output shape in output (oversampled) pixels. The default is the
        smallest odd size covering about 8 times the FWHM.
    pixel_scale : `~astropy.units.Quantity`, optional
        Detector pixel scale, an angle (per pixel), used to convert an
        angular ``fwhm`` to pixels.
    oversampling : int, optional
        Sampling factor of the output grid relative to the detector pixels.
    ellipticity : float, optional
        Ellipticity ``e = (1 - q) / (1 + q)`` of the isophotes, ``q`` being
        the ratio of the minor to the major axis, in ``[0, 1)``: the
        circular profile sheared by ``g = e`` (GalSim's ``shear``), which
        keeps the isophote areas, so that ``fwhm`` is the geometric mean of
        the major and minor FWHM (``fwhm / sqrt(q)`` and ``fwhm *
        sqrt(q)``). The default stamp grows by ``1 / sqrt(q)``.
    angle : float or `~astropy.units.Quantity`, optional
        Position angle of the major axis, counter-clockwise from the x axis
        (the columns) towards the y axis (the rows): degrees if a number,
        or an angular Quantity. Ignored when ``ellipticity`` is 0.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, centred on pixel ``(ny // 2, nx // 2)`` and normalised to
        unit sum.

    Raises
    ------
    ImportError
        If GalSim is not installed.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_kolmogorov_psf
    >>> psf = make_kolmogorov_psf(0.8 * u.arcsec, pixel_scale=0.2 * u.arcsec)
    >>> psf.shape, round(float(psf.sum()), 12)
    ((33, 33), 1.0)
    >>> [int(i) for i in divmod(psf.argmax(), 33)]
    [16, 16]
    """
    fwhm_pix = _fwhm_in_pixels(fwhm, pixel_scale)
    oversampling = check_positive_int(oversampling, 'oversampling')
    ellipticity = _check_ellipticity(ellipticity)
    angle = _angle_degrees(angle)
    galsim = import_optional('galsim', purpose='to make Kolmogorov PSFs')
    fwhm_pix *= oversampling
    shape = _stamp_shape(shape, _elliptical_extent(
        PSF_STAMP_SIZE_IN_FWHM['kolmogorov'] * fwhm_pix, ellipticity))
    profile = galsim.Kolmogorov(fwhm=fwhm_pix)
    if ellipticity > 0:
        profile = profile.shear(g=ellipticity, beta=angle * galsim.degrees)
    ny, nx = shape
    cy, cx = psf_center(shape)
    image = galsim.ImageD(nx, ny, scale=1.0)
    # GalSim centres the profile on the true centre of the image: shift it
    # onto pixel (ny // 2, nx // 2) for even sizes
    profile.drawImage(image=image, method='auto',
                      offset=(cx - (nx - 1) / 2.0, cy - (ny - 1) / 2.0))
    return _normalized(image.array)
