# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The galaxy population of the simulated truth images.

The random parameters of one bulge + disk galaxy with star-forming clumps
(`_draw_parameters`), their GalSim components (`galaxy_components`) and
profile (`_galaxy_profile`), and the numbers of the population (number
counts, size-magnitude relation, bulge fractions, clumps), as described in
``astrodeconv.datasets.simulate``. The stamps of
`~astrodeconv.datasets.simulate_galaxies` (``astrodeconv.datasets.
simulate``), the other morphologies (``astrodeconv.datasets.scenes``) and
the multi-band simulations (``astrodeconv.datasets.multiband``) all draw
their galaxies from here. GalSim is passed in by the caller, never
imported.
"""

import numpy as np

__all__ = []

#: AB zero point of fluxes in nJy.
_ZERO_POINT = 31.4
#: Population parameters (see the module docstring).
_COUNT_SLOPE = 0.3
_SIZE_MEDIAN = 0.5             # arcsec at the pivot magnitude
_SIZE_PIVOT = 22.5
_SIZE_SLOPE = -0.08            # dex per magnitude
_SIZE_SCATTER = 0.4            # in ln r
_SIZE_RANGE = (0.15, 1.3)      # arcsec
_BT_BETA = (1.2, 3.5)
_SERSIC_N = (2.5, 3.0, 3.5, 4.0)
_MAX_CLUMPS = 8
_CLUMP_FRACTION = (0.01, 0.08)
_CLUMP_FWHM = (0.05, 0.15)     # arcsec
_CLUMP_MAX_RADIUS = 3.0        # disk scale lengths
_MAX_OFFSET = 1.4              # pixels, along each axis
_HLR_TO_SCALE = 1.6783469900166605   # exponential r_half / r_scale


def _disk_radius(u):
    """
    Radii (in scale lengths) of an exponential disk, truncated at 3.

    Inverse of the cumulative distribution ``1 - (1 + x) exp(-x)`` of the
    surface density ``exp(-x)`` (a Gamma(2, 1) law in radius), restricted
    to ``x < _CLUMP_MAX_RADIUS`` so that no clump lies outside the visible
    disk.
    """
    x = np.linspace(0.0, _CLUMP_MAX_RADIUS, 301)
    cdf = 1 - (1 + x) * np.exp(-x)
    return np.interp(u * cdf[-1], cdf, x)


def _draw_parameters(rng, mag_range):
    """All the random parameters of one attempt, in a fixed order."""
    lo, hi = mag_range
    a = _COUNT_SLOPE
    t = rng.uniform()
    mag = np.log10(10 ** (a * lo) + t * (10 ** (a * hi) - 10 ** (a * lo))) / a
    median = _SIZE_MEDIAN * 10 ** (_SIZE_SLOPE * (mag - _SIZE_PIVOT))
    r_disk = float(np.clip(median * np.exp(rng.normal(0, _SIZE_SCATTER)),
                           *_SIZE_RANGE))
    p = {'mag': float(mag), 'r_half_disk': r_disk,
         'bt': float(rng.beta(*_BT_BETA)),
         'sersic_n': float(_SERSIC_N[rng.integers(len(_SERSIC_N))])}
    p['r_half_bulge'] = max(r_disk * rng.uniform(0.2, 0.6), 0.05)
    p['q_bulge'] = rng.uniform(0.6, 1.0)
    pa_bulge_offset = rng.normal(0.0, 10.0)
    p['q_disk'] = rng.uniform(0.2, 1.0)
    p['inclination'] = float(np.degrees(np.arccos(p['q_disk'])))
    p['h_over_r'] = rng.uniform(0.08, 0.15)
    p['pa'] = rng.uniform(0.0, 180.0)
    p['pa_bulge'] = (p['pa'] + pa_bulge_offset) % 180.0
    p['x_offset'], p['y_offset'] = rng.uniform(-_MAX_OFFSET, _MAX_OFFSET, 2)
    p['n_clumps'] = int(rng.integers(0, _MAX_CLUMPS + 1))
    p['clump_fractions'] = rng.uniform(*_CLUMP_FRACTION, _MAX_CLUMPS)
    scale = r_disk / _HLR_TO_SCALE
    p['clump_radii'] = scale * _disk_radius(rng.uniform(size=_MAX_CLUMPS))
    p['clump_phi'] = rng.uniform(0.0, 2 * np.pi, _MAX_CLUMPS)
    p['clump_fwhm'] = rng.uniform(*_CLUMP_FWHM, _MAX_CLUMPS)
    p['noise_seed'] = int(rng.integers(1, 2 ** 31 - 1))
    return p


def galaxy_components(galsim, p, gsparams):
    """
    The parts of a parameter set's galaxy (before the PSF).

    Returns the Sersic bulge (sheared, in place), the smooth disk and the
    clumps (both still to be rotated by ``rotation`` together), the
    rotation and the fluxes. `_galaxy_profile` assembles them; the
    multi-band simulations give each part its own spectrum.
    """
    flux = 10 ** ((_ZERO_POINT - p['mag']) / 2.5)
    n_clumps = p['n_clumps']
    flux_bulge = p['bt'] * flux
    flux_disk = flux - flux_bulge
    fractions = p['clump_fractions'][:n_clumps]
    clump_flux = float(fractions.sum() * flux_disk)
    # GalSim angles run counter-clockwise from +x; with north up and east
    # left a position angle (east of north) is 90 deg further.
    rotation = (90.0 + p['pa']) * galsim.degrees
    bulge = galsim.Sersic(n=p['sersic_n'], half_light_radius=p[
        'r_half_bulge'], flux=flux_bulge, gsparams=gsparams)
    bulge = bulge.shear(q=p['q_bulge'], beta=(90.0 + p['pa_bulge'])
                        * galsim.degrees)
    disk = galsim.InclinedExponential(
        inclination=p['inclination'] * galsim.degrees,
        half_light_radius=p['r_half_disk'], scale_h_over_r=p['h_over_r'],
        flux=flux_disk - clump_flux, gsparams=gsparams)
    # the disk plane is projected along y (the InclinedExponential is
    # elongated along x) before the rotation shared by disk and clumps
    knots = []
    radii = p['clump_radii'][:n_clumps]
    phi = p['clump_phi'][:n_clumps]
    for r, angle, frac, fwhm in zip(radii, phi, fractions,
                                    p['clump_fwhm'][:n_clumps]):
        knot = galsim.Gaussian(fwhm=fwhm, flux=frac * flux_disk,
                               gsparams=gsparams)
        knots.append(knot.shift(r * np.cos(angle),
                                r * np.sin(angle) * p['q_disk']))
    fluxes = {'flux': flux, 'flux_bulge': flux_bulge,
              'flux_disk': flux_disk, 'clump_flux': clump_flux}
    return bulge, disk, knots, rotation, fluxes


def _galaxy_profile(galsim, p, gsparams, pixel_scale):
    """The GalSim profile (before the PSF) of a parameter set."""
    bulge, disk, knots, rotation, fluxes = galaxy_components(galsim, p,
                                                             gsparams)
    disk_part = galsim.Add([disk] + knots).rotate(rotation)
    galaxy = galsim.Add([bulge, disk_part])
    galaxy = galaxy.shift(p['x_offset'] * pixel_scale,
                          p['y_offset'] * pixel_scale)
    return galaxy, fluxes
