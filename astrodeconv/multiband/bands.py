# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Photometric bands: a throughput curve together with the pixel scale,
typical PSF size and zero point of the images taken through it.

A `Band` is built from any throughput curve (`Band.from_file` reads one
from a file); `get_band` returns the built-in bands below, which are
built on first request and cached. Throughputs are photon-counting
(detector) curves: the band-averaged flux density of a spectrum is
``F = int f_nu T dlambda / lambda / int T dlambda / lambda``
(`Band.mean_flux_density`).

Built-in bands and the sources of their curves
----------------------------------------------
``rubin_u``, ``rubin_g``, ``rubin_r``, ``rubin_i``, ``rubin_z``, ``rubin_y``
    The LSST total system throughputs at airmass 1.2 (telescope, camera,
    filter, detector and atmosphere) of the ``lsst/throughputs`` baseline,
    as shipped with GalSim in ``share/bandpasses/LSST_<band>.dat``
    (wavelength in nm). Pixel scale 0.2 arcsec. Typical PSF FWHM (the
    effective FWHM for 0.7 arcsec seeing at 500 nm listed by Ivezic et al.
    2019, ApJ 873, 111, table 2): 0.92, 0.87, 0.83, 0.80, 0.78, 0.76
    arcsec.
``hst_acs_f606w``, ``hst_acs_f814w``
    The ACS/WFC total throughputs published by STScI, as shipped with
    GalSim in ``share/bandpasses/ACS_wfc_F606W.dat`` and
    ``ACS_wfc_F814W.dat`` (wavelength in nm). Pixel scale 0.05 arcsec;
    typical FWHM 0.09 and 0.10 arcsec (about two pixels, ACS instrument
    handbook).
``euclid_vis``
    An analytic approximation, not the official curve: a smooth top hat
    with half-maximum points at 550 and 900 nm, logistic edges rising from
    10% to 90% over 10 nm and a plateau of 0.7. Pixel scale 0.1 arcsec,
    FWHM 0.17 arcsec.
``vlt_fors2_v``, ``vlt_fors2_r``, ``vlt_fors2_i``
    Analytic approximations of the FORS2 filters v_HIGH, R_SPECIAL and
    I_BESS: smooth top hats with the central wavelengths (555, 655, 768 nm)
    and full widths at half maximum (123, 165, 138 nm) of ESO's FORS2
    filter table, 20 nm edges and a plateau of 0.9 (the filter alone:
    telescope, detector and atmosphere are left out). Pixel scale 0.2
    arcsec (the EDisCS images), FWHM 0.8 arcsec.

The GalSim curves need the ``galsim`` package, which is only imported
when one of these bands is first requested. To use an official curve in
place of an approximation, download it and load it with `Band.from_file`;
for instance the ASCII file of the SVO Filter Profile Service id
``Euclid/VIS.vis`` (wavelengths in Angstrom) with
``Band.from_file(path, 'VIS', 'Euclid', pixel_scale=0.1 * u.arcsec,
fwhm=0.17 * u.arcsec, wavelength_unit=u.AA)``.

The zero points are AB magnitudes giving one photo-electron per second,
computed from the curve and the effective collecting area (32.4 m2 for
Rubin, an effective diameter of 6.423 m; 45239 cm2 for HST) as
``2.5 log10(area * 3631 Jy / h * int T dlambda / lambda)``. They are
approximate (a few hundredths of a magnitude for HST; for Rubin the
curves are an older baseline at airmass 1.2, so use the project's
published values for real data) and are None for the analytic curves.
"""

import numbers
import os
import pathlib
import re
import threading

import numpy as np
from astropy import units as u
from scipy.integrate import trapezoid
from scipy.special import expit
from specutils import Spectrum

from ..utils._optional_deps import import_optional
from ..utils._repr import make_repr
from ..utils._validation import check_pixel_scale

__all__ = ['Band', 'get_band', 'list_bands']

#: Fraction of the peak throughput that delimits a band's wavelength range.
_RANGE_LEVEL = 0.01
_FITS_SUFFIXES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz')
_VOTABLE_SUFFIXES = ('.xml', '.vot', '.votable')


def _angle_arcsec(value, name):
    """Return a positive scalar angle Quantity as a float in arcsec."""
    if not isinstance(value, u.Quantity):
        msg = (f'{name} must be an angle Quantity such as 0.8 * u.arcsec, '
               f'got {value!r} of type {type(value).__name__}')
        raise TypeError(msg)
    if not value.isscalar:
        msg = f'{name} must be a scalar Quantity, got shape {value.shape}'
        raise ValueError(msg)
    if not value.unit.is_equivalent(u.arcsec):
        msg = f'{name} must have angular units, got unit {value.unit!r}'
        raise u.UnitsError(msg)
    arcsec = float(value.to_value(u.arcsec))
    if not np.isfinite(arcsec) or arcsec <= 0:
        msg = f'{name} must be a finite positive angle, got {value}'
        raise ValueError(msg)
    return arcsec


def _check_text(value, name, *, empty=True):
    if not isinstance(value, str):
        msg = (f'{name} must be a str, got {value!r} of type '
               f'{type(value).__name__}')
        raise TypeError(msg)
    if not empty and not value.strip():
        msg = f'{name} must be a non-empty str, got {value!r}'
        raise ValueError(msg)
    return value


def _zero_point(value):
    """Return ``value`` as a float AB magnitude, or None."""
    if value is None:
        return None
    if isinstance(value, u.Quantity):
        if value.unit not in (u.mag, u.ABmag):
            msg = (f'zero_point must be a number or a Quantity in mag, '
                   f'got unit {value.unit!r}')
            raise u.UnitsError(msg)
        value = value.value
        if np.ndim(value) != 0:
            msg = f'zero_point must be a scalar, got shape {np.shape(value)}'
            raise ValueError(msg)
        value = float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        msg = (f'zero_point must be a number (AB mag), a Quantity in mag '
               f'or None, got {value!r} of type {type(value).__name__}')
        raise TypeError(msg)
    if not np.isfinite(value):
        msg = f'zero_point must be finite, got {value}'
        raise ValueError(msg)
    return float(value)


def _parse_throughput(throughput):
    """Return ``(wavelength in nm, values)`` of a checked throughput."""
    if isinstance(throughput, Spectrum):
        if throughput.mask is not None and np.any(throughput.mask):
            msg = 'throughput must have no masked samples'
            raise ValueError(msg)
        wave, values = throughput.spectral_axis, throughput.flux
    elif isinstance(throughput, (tuple, list)) and len(throughput) == 2:
        wave, values = throughput
        if not isinstance(wave, u.Quantity):
            msg = (f'throughput wavelengths must be a Quantity with a '
                   f'length unit such as nm, got type {type(wave).__name__}')
            raise TypeError(msg)
    else:
        msg = (f'throughput must be a specutils.Spectrum or a (wavelength '
               f'Quantity, values) pair, got {type(throughput).__name__}')
        raise TypeError(msg)
    if not wave.unit.is_equivalent(u.nm):
        msg = (f'throughput wavelengths must have a length unit such as nm, '
               f'got unit {wave.unit!r}')
        raise u.UnitsError(msg)
    wave = np.asarray(u.Quantity(wave).to_value(u.nm), dtype=float)
    if isinstance(values, u.Quantity):
        if not values.unit.is_equivalent(u.dimensionless_unscaled):
            msg = (f'throughput values must be dimensionless fractions, '
                   f'got unit {values.unit!r}')
            raise u.UnitsError(msg)
        values = values.to_value(u.dimensionless_unscaled)
    values = np.asarray(values, dtype=float)
    if wave.ndim != 1 or values.shape != wave.shape:
        msg = (f'throughput must be 1D with one value per wavelength, got '
               f'wavelengths of shape {wave.shape} and values of shape '
               f'{values.shape}')
        raise ValueError(msg)
    if wave.size < 3:
        msg = f'throughput must have at least 3 samples, got {wave.size}'
        raise ValueError(msg)
    if not (np.all(np.isfinite(wave)) and np.all(np.isfinite(values))):
        msg = 'throughput wavelengths and values must be finite'
        raise ValueError(msg)
    if wave[0] <= 0 or np.any(np.diff(wave) <= 0):
        msg = ('throughput wavelengths must be positive and strictly '
               'increasing')
        raise ValueError(msg)
    if np.any(values < 0) or values.max() > 1:
        msg = (f'throughput values must lie in [0, 1], got values from '
               f'{values.min():g} to {values.max():g} (divide percentages '
               f'by 100)')
        raise ValueError(msg)
    if values.max() == 0:
        msg = 'throughput must have a positive peak, got all zeros'
        raise ValueError(msg)
    return wave, values


def _level_range(wave, values, level):
    """First and last wavelengths where ``values`` crosses ``level``."""
    above = np.flatnonzero(values > level)
    first, last = above[0], above[-1]
    low, high = wave[first], wave[last]
    if first > 0:
        low = np.interp(level, [values[first - 1], values[first]],
                        [wave[first - 1], wave[first]])
    if last < wave.size - 1:
        high = np.interp(level, [values[last + 1], values[last]],
                         [wave[last + 1], wave[last]])
    return float(low), float(high)


def _spectrum_fnu(spectrum, name='spectrum'):
    """
    Return ``(wavelength in nm, f_nu, unit)`` of a 1D Spectrum, sorted by
    wavelength. f_nu spectra keep their unit; f_lambda (or photon) flux
    densities are converted to Jy.
    """
    if not isinstance(spectrum, Spectrum):
        msg = (f'{name} must be a specutils.Spectrum, got '
               f'{type(spectrum).__name__}')
        raise TypeError(msg)
    flux = spectrum.flux
    if flux.ndim != 1:
        msg = f'{name} must be 1D, got flux of shape {flux.shape}'
        raise ValueError(msg)
    try:
        wave = u.Quantity(spectrum.spectral_axis).to_value(
            u.nm, equivalencies=u.spectral())
    except u.UnitConversionError:
        msg = (f'{name} must have a spectral axis in wavelength, frequency '
               f'or energy, got unit {spectrum.spectral_axis.unit!r}')
        raise u.UnitsError(msg) from None
    if flux.unit.is_equivalent(u.Jy):
        unit, fnu = flux.unit, flux.value
    elif flux.unit.is_equivalent(u.Jy, u.spectral_density(wave * u.nm)):
        unit = u.Jy
        fnu = flux.to_value(u.Jy, u.spectral_density(wave * u.nm))
    else:
        msg = (f'{name} flux must be a flux density per unit frequency '
               f'(e.g. Jy) or wavelength (e.g. erg / (s cm2 Angstrom)), '
               f'got unit {flux.unit.to_string()!r}')
        raise u.UnitsError(msg)
    wave, fnu = np.asarray(wave, float), np.asarray(fnu, float)
    if spectrum.mask is not None:
        good = ~np.asarray(spectrum.mask, dtype=bool)
        wave, fnu = wave[good], fnu[good]
    if not np.all(np.isfinite(fnu)) or wave.size < 2:
        msg = (f'{name} must have at least 2 unmasked samples, all finite; '
               f'mask the bad ones')
        raise ValueError(msg)
    order = np.argsort(wave)
    return wave[order], fnu[order], unit


def _grid(low, high, *nodes):
    """The sorted union of the ``nodes`` within [low, high], with both."""
    parts = [np.asarray([low, high], float)]
    parts += [n[(n > low) & (n < high)] for n in nodes]
    return np.unique(np.concatenate(parts))


class Band:
    """
    A photometric band: throughput curve, pixel scale, typical PSF FWHM and
    zero point of the images taken through it.

    Bands are immutable by convention; the built-in ones (`get_band`) are
    shared, cached objects.

    Parameters
    ----------
    name : str
        The band's name within its survey, e.g. ``'r'`` or ``'F606W'``.
    survey : str
        The survey or facility, e.g. ``'Rubin'`` or ``'HST/ACS'``.
    throughput : `~specutils.Spectrum` or tuple
        The photon-counting throughput: a Spectrum with a wavelength
        spectral axis and dimensionless flux in [0, 1], or a pair
        ``(wavelengths, values)`` with the wavelengths a length Quantity.
        At least 3 finite samples, strictly increasing wavelengths,
        non-negative values, positive peak.
    pixel_scale : `~astropy.units.Quantity`
        The pixel scale, an angle (or angle per pixel).
    fwhm : `~astropy.units.Quantity`
        The typical FWHM of the PSF, an angle.
    zero_point : float or `~astropy.units.Quantity`, optional
        The AB magnitude that gives one count per second, or None when
        unknown.
    throughput_source : str, optional
        Where the throughput curve comes from.
    instrument : str, optional
        The instrument, e.g. ``'ACS/WFC'``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy import units as u
    >>> from astrodeconv.multiband import Band
    >>> wave = np.linspace(400, 800, 401) * u.nm
    >>> values = np.where((wave > 500 * u.nm) & (wave < 700 * u.nm), 0.8, 0)
    >>> band = Band('box', 'test', throughput=(wave, values),
    ...             pixel_scale=0.2 * u.arcsec, fwhm=0.8 * u.arcsec)
    >>> band.key, band.fwhm_pixels
    ('test_box', 4.0)
    >>> band.pivot_wavelength  # doctest: +FLOAT_CMP
    <Quantity 597.22311323 nm>
    """

    def __init__(self, name, survey, *, throughput, pixel_scale, fwhm,
                 zero_point=None, throughput_source='', instrument=''):
        self._name = _check_text(name, 'name', empty=False)
        self._survey = _check_text(survey, 'survey', empty=False)
        self._wave, self._values = _parse_throughput(throughput)
        self._wave.flags.writeable = False
        self._values.flags.writeable = False
        self._pixel_scale = check_pixel_scale(pixel_scale)
        self._fwhm = _angle_arcsec(fwhm, 'fwhm')
        self._zero_point = _zero_point(zero_point)
        self._throughput_source = _check_text(throughput_source,
                                              'throughput_source')
        self._instrument = _check_text(instrument, 'instrument')
        self._range = _level_range(self._wave, self._values,
                                   _RANGE_LEVEL * self._values.max())

    @classmethod
    def from_file(cls, path, name, survey, *, pixel_scale, fwhm,
                  wavelength_unit=u.nm, zero_point=None,
                  throughput_source=None, instrument=''):
        """
        Make a band from a throughput curve stored in a file.

        ASCII files hold two columns, wavelength and throughput, with
        comment lines starting with ``#``. FITS (``.fits``, ``.fit``,
        ``.fts``, optionally gzipped) and VOTable (``.xml``, ``.vot``,
        ``.votable``) files hold a table whose first two columns are used;
        a length unit on the wavelength column overrides
        ``wavelength_unit``.

        Parameters
        ----------
        path : str or path-like
            The file.
        name, survey : str
            See `Band`.
        pixel_scale, fwhm : `~astropy.units.Quantity`
            See `Band`.
        wavelength_unit : `~astropy.units.Unit`, optional
            The unit of the wavelength column, e.g. ``u.AA`` for files of
            the SVO Filter Profile Service.
        zero_point, instrument : optional
            See `Band`.
        throughput_source : str, optional
            Defaults to the path of the file.

        Returns
        -------
        band : `Band`

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from astropy import units as u
        >>> from astrodeconv.multiband import Band
        >>> path = pathlib.Path(tempfile.mkdtemp()) / 'box.dat'
        >>> _ = path.write_text('# wavelength(A) T\\n5000 0\\n5500 0.9\\n'
        ...                     '6000 0.9\\n6500 0\\n')
        >>> band = Band.from_file(path, 'box', 'test', wavelength_unit=u.AA,
        ...                       pixel_scale=0.2 * u.arcsec,
        ...                       fwhm=0.8 * u.arcsec)
        >>> band.wavelength_range  # doctest: +FLOAT_CMP
        <Quantity [500.5, 649.5] nm>
        """
        try:
            path = pathlib.Path(os.fspath(path))
        except TypeError:
            msg = (f'path must be a str or path-like, got '
                   f'{type(path).__name__}')
            raise TypeError(msg) from None
        try:
            wavelength_unit = u.Unit(wavelength_unit)
        except (TypeError, ValueError):
            msg = f'wavelength_unit must be a unit, got {wavelength_unit!r}'
            raise TypeError(msg) from None
        if not wavelength_unit.is_equivalent(u.nm):
            msg = (f'wavelength_unit must be a length unit such as u.nm, '
                   f'got {wavelength_unit!r}')
            raise u.UnitsError(msg)
        lower = path.name.lower()
        if lower.endswith(_FITS_SUFFIXES + _VOTABLE_SUFFIXES):
            from astropy.table import Table
            kind = 'fits' if lower.endswith(_FITS_SUFFIXES) else 'votable'
            table = Table.read(path, format=kind)
            if len(table.colnames) < 2:
                msg = (f'path must hold a table of at least 2 columns '
                       f'(wavelength, throughput), got {table.colnames}')
                raise ValueError(msg)
            wave_col, value_col = (table[c] for c in table.colnames[:2])
            if wave_col.unit is not None and wave_col.unit.is_equivalent(
                    u.nm):
                wavelength_unit = wave_col.unit
            values = np.asarray(value_col, dtype=float)
            if value_col.unit is not None:
                values = values * value_col.unit
            wave = np.asarray(wave_col, dtype=float) * wavelength_unit
        else:
            try:
                columns = np.loadtxt(path, comments='#', usecols=(0, 1),
                                     ndmin=2)
            except ValueError as exc:
                msg = (f'path must be a text file of two numeric columns '
                       f'(wavelength, throughput), could not read {path}: '
                       f'{exc}')
                raise ValueError(msg) from None
            wave, values = columns[:, 0] * wavelength_unit, columns[:, 1]
        if throughput_source is None:
            throughput_source = str(path)
        return cls(name, survey, throughput=(wave, values),
                   pixel_scale=pixel_scale, fwhm=fwhm, zero_point=zero_point,
                   throughput_source=throughput_source,
                   instrument=instrument)

    @property
    def name(self):
        """The band's name within its survey (str)."""
        return self._name

    @property
    def survey(self):
        """The survey or facility (str)."""
        return self._survey

    @property
    def instrument(self):
        """The instrument (str, may be empty)."""
        return self._instrument

    @property
    def throughput_source(self):
        """Where the throughput curve comes from (str)."""
        return self._throughput_source

    @property
    def key(self):
        """
        The identifier ``'<survey>_<name>'`` in lower case, each run of
        characters other than letters and digits replaced by ``_``.
        """
        text = f'{self._survey}_{self._name}'.lower()
        return re.sub(r'[^a-z0-9]+', '_', text).strip('_')

    @property
    def throughput(self):
        """The throughput curve, a new `~specutils.Spectrum` in nm."""
        return Spectrum(flux=self._values * u.dimensionless_unscaled,
                        spectral_axis=self._wave * u.nm)

    @property
    def pixel_scale(self):
        """The pixel scale (`~astropy.units.Quantity` in arcsec)."""
        return self._pixel_scale * u.arcsec

    @property
    def fwhm(self):
        """The typical PSF FWHM (`~astropy.units.Quantity` in arcsec)."""
        return self._fwhm * u.arcsec

    @property
    def fwhm_pixels(self):
        """The typical PSF FWHM in pixels (float)."""
        return self._fwhm / self._pixel_scale

    @property
    def zero_point(self):
        """The AB magnitude giving one count per second (float), or None."""
        return self._zero_point

    @property
    def pivot_wavelength(self):
        """
        The pivot wavelength ``sqrt(int T lambda dlambda / int T / lambda
        dlambda)`` (`~astropy.units.Quantity` in nm).
        """
        wave, values = self._wave, self._values
        ratio = trapezoid(values * wave, wave) / trapezoid(values / wave, wave)
        return np.sqrt(ratio) * u.nm

    @property
    def wavelength_range(self):
        """
        The wavelengths where the throughput crosses 1% of its peak, a
        `~astropy.units.Quantity` ``[low, high]`` in nm.
        """
        return np.array(self._range) * u.nm

    def _interp(self, wave):
        """The throughput at ``wave`` (nm), zero outside the curve."""
        return np.interp(wave, self._wave, self._values, left=0, right=0)

    def mean_flux_density(self, spectrum):
        """
        The photon-counting band-averaged flux density of a spectrum.

        ``F = int f_nu T dlambda / lambda / int T dlambda / lambda``,
        integrated by the trapezoidal rule on the union of the wavelengths
        of the throughput and the spectrum (both interpolated linearly),
        over the part of the band that the spectrum covers.

        Parameters
        ----------
        spectrum : `~specutils.Spectrum`
            A 1D spectrum in f_nu (e.g. Jy) or f_lambda (e.g.
            erg / (s cm2 Angstrom)) units, which must cover the band's
            `wavelength_range`. Masked samples are left out.

        Returns
        -------
        flux : `~astropy.units.Quantity`
            In the spectrum's unit for f_nu spectra, in Jy otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from astropy import units as u
        >>> from specutils import Spectrum
        >>> from astrodeconv.multiband import get_band
        >>> flat = Spectrum(flux=np.full(2, 3.0) * u.nJy,
        ...                 spectral_axis=[300, 1200] * u.nm)
        >>> get_band('rubin_r').mean_flux_density(flat)  # doctest: +FLOAT_CMP
        <Quantity 3. nJy>
        """
        wave, fnu, unit = _spectrum_fnu(spectrum)
        low, high = self._range
        if wave[0] > low or wave[-1] < high:
            msg = (f'spectrum must cover the band {self.key!r} where its '
                   f'throughput exceeds 1% of its peak, {low:.1f}-'
                   f'{high:.1f} nm, got a spectrum from {wave[0]:.1f} to '
                   f'{wave[-1]:.1f} nm')
            raise ValueError(msg)
        grid = _grid(max(wave[0], self._wave[0]),
                     min(wave[-1], self._wave[-1]), self._wave, wave)
        kernel = self._interp(grid) / grid
        mean = (trapezoid(np.interp(grid, wave, fnu) * kernel, grid)
                / trapezoid(kernel, grid))
        return mean * unit

    def __repr__(self):
        overrides = {'pixel_scale': f'{self._pixel_scale:g} arcsec',
                     'fwhm': f'{self._fwhm:g} arcsec',
                     'pivot_wavelength':
                         f'{self.pivot_wavelength.value:.1f} nm'}
        return make_repr(self, ('name', 'survey', 'pixel_scale', 'fwhm',
                                'zero_point', 'pivot_wavelength'),
                         overrides=overrides, brackets=True)


# -- Built-in bands ----------------------------------------------------------

#: Rubin bands: (typical FWHM in arcsec, AB zero point for 1 e-/s).
_RUBIN = {'u': (0.92, 26.40), 'g': (0.87, 28.26), 'r': (0.83, 28.10),
          'i': (0.80, 27.78), 'z': (0.78, 27.39), 'y': (0.76, 26.56)}
#: HST ACS/WFC bands: (typical FWHM in arcsec, AB zero point for 1 e-/s).
_HST_ACS = {'F606W': (0.09, 26.51), 'F814W': (0.10, 25.96)}
#: FORS2 bands: (ESO filter, centre in nm, FWHM in nm).
_FORS2 = {'V': ('v_HIGH', 555.0, 123.0), 'R': ('R_SPECIAL', 655.0, 165.0),
          'I': ('I_BESS', 768.0, 138.0)}
_GALSIM_PURPOSE = ('to read the throughput curves of the built-in Rubin and '
                   'HST bands (or load a curve yourself with Band.from_file)')


def _galsim_curve(filename):
    """``(wavelengths, values)`` of a curve shipped with GalSim (nm)."""
    galsim = import_optional('galsim', purpose=_GALSIM_PURPOSE)
    path = pathlib.Path(galsim.meta_data.share_dir) / 'bandpasses' / filename
    wave, values = np.loadtxt(path, comments='#', unpack=True)
    return wave * u.nm, values


def _smooth_top_hat(blue, red, *, edge, plateau, step=1.0):
    """
    A top hat with half-maximum points at ``blue`` and ``red`` (nm) whose
    logistic edges rise from 10% to 90% of ``plateau`` over ``edge`` nm.
    """
    scale = edge / (2 * np.log(9.0))
    wave = np.arange(blue - 4 * edge, red + 4 * edge + step / 2, step)
    values = plateau * expit((wave - blue) / scale) * expit(
        (red - wave) / scale)
    return wave * u.nm, values


def _make_rubin(band):
    fwhm, zero_point = _RUBIN[band]
    filename = f'LSST_{band}.dat'
    return Band(band, 'Rubin', instrument='LSSTCam',
                throughput=_galsim_curve(filename),
                pixel_scale=0.2 * u.arcsec, fwhm=fwhm * u.arcsec,
                zero_point=zero_point,
                throughput_source=(f'LSST total throughput at airmass 1.2 '
                                   f'(lsst/throughputs baseline), GalSim '
                                   f'share/bandpasses/{filename}'))


def _make_hst_acs(band):
    fwhm, zero_point = _HST_ACS[band]
    filename = f'ACS_wfc_{band}.dat'
    return Band(band, 'HST/ACS', instrument='ACS/WFC',
                throughput=_galsim_curve(filename),
                pixel_scale=0.05 * u.arcsec, fwhm=fwhm * u.arcsec,
                zero_point=zero_point,
                throughput_source=(f'ACS/WFC total throughput (STScI), '
                                   f'GalSim share/bandpasses/{filename}'))


def _make_euclid_vis():
    return Band('VIS', 'Euclid', instrument='VIS',
                throughput=_smooth_top_hat(550.0, 900.0, edge=10.0,
                                           plateau=0.7),
                pixel_scale=0.1 * u.arcsec, fwhm=0.17 * u.arcsec,
                throughput_source=('analytic approximation: smooth top hat '
                                   '550-900 nm, 10 nm edges, plateau 0.7; '
                                   'official curve: SVO Filter Profile '
                                   'Service id Euclid/VIS.vis'))


def _make_fors2(band):
    filter_name, centre, width = _FORS2[band]
    return Band(band, 'VLT/FORS2', instrument='FORS2',
                throughput=_smooth_top_hat(centre - width / 2,
                                           centre + width / 2, edge=20.0,
                                           plateau=0.9),
                pixel_scale=0.2 * u.arcsec, fwhm=0.8 * u.arcsec,
                throughput_source=(f'analytic approximation of the FORS2 '
                                   f'{filter_name} filter: smooth top hat '
                                   f'centred on {centre:g} nm, FWHM '
                                   f'{width:g} nm, 20 nm edges, plateau '
                                   f'0.9 (filter only)'))


_BUILDERS = {
    **{f'rubin_{b}': (_make_rubin, b) for b in _RUBIN},
    **{f'hst_acs_{b.lower()}': (_make_hst_acs, b) for b in _HST_ACS},
    'euclid_vis': (_make_euclid_vis,),
    **{f'vlt_fors2_{b.lower()}': (_make_fors2, b) for b in _FORS2},
}
_CACHE = {}
_CACHE_LOCK = threading.Lock()


def list_bands():
    """
    The keys of the built-in bands, sorted.

    Returns
    -------
    keys : list of str

    Examples
    --------
    >>> from astrodeconv.multiband import list_bands
    >>> list_bands()[:4]
    ['euclid_vis', 'hst_acs_f606w', 'hst_acs_f814w', 'rubin_g']
    """
    return sorted(_BUILDERS)


def get_band(key):
    """
    A built-in band, built on first request and cached.

    The Rubin and HST bands read their curves from the files shipped with
    GalSim, which must be installed; the module docstring of
    ``astrodeconv.multiband.bands`` gives the source of every curve.

    Parameters
    ----------
    key : str
        One of `list_bands`, case-insensitive, e.g. ``'rubin_r'``,
        ``'euclid_vis'``, ``'hst_acs_f814w'`` or ``'vlt_fors2_v'``.

    Returns
    -------
    band : `Band`
        The same object at every call: do not modify it.

    Raises
    ------
    ImportError
        For a Rubin or HST band when GalSim is not installed.

    Examples
    --------
    >>> from astrodeconv.multiband import get_band
    >>> vis = get_band('Euclid_VIS')
    >>> vis.key, vis.fwhm_pixels  # doctest: +FLOAT_CMP
    ('euclid_vis', 1.7)
    """
    if not isinstance(key, str):
        msg = (f'key must be a str such as \'rubin_r\', got {key!r} of type '
               f'{type(key).__name__}')
        raise TypeError(msg)
    normalized = key.strip().lower()
    if normalized not in _BUILDERS:
        valid = ', '.join(repr(k) for k in list_bands())
        msg = f'Invalid band key {key!r}. Valid keys are: {valid}'
        raise ValueError(msg)
    with _CACHE_LOCK:
        if normalized not in _CACHE:
            builder, *args = _BUILDERS[normalized]
            _CACHE[normalized] = builder(*args)
        return _CACHE[normalized]
