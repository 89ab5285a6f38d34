# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The output file of ``astrodeconv multiband``.

An empty primary HDU whose header summarises the run, then one image
extension per narrow band, built with `astrodeconv.io.make_image_hdu`
(the data, WCS, ``BUNIT`` and the meta of the band, as
`astrodeconv.io.write_image` writes them).
"""

import re
from pathlib import Path

import numpy as np

__all__ = []

#: Extension names that a band extension must not take: the primary HDU
#: and the auxiliary extensions of `astrodeconv.io.read_image`.
_RESERVED_EXTNAMES = ('PRIMARY', 'UNCERT', 'MASK', 'PSF', 'PSFIMAGE')


def extension_names(args):
    """One unique EXTNAME per band: its key, or the stem of its file."""
    if args.bands is not None:
        names = [key.strip() for key in args.bands]
    else:
        names = [Path(path).stem for path in args.inputs]
    unique, taken = [], set(_RESERVED_EXTNAMES)
    for name in names:
        name = re.sub(r'[^A-Z0-9_.-]', '_', name.upper()) or 'BAND'
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f'{name}_{n}'
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _fits_text(text):
    """``text`` with every character FITS cannot hold replaced by '?'."""
    return ''.join(c if 32 <= ord(c) <= 126 else '?' for c in str(text))


def summary_header(args, results, names, weights, upsample, broad_band):
    """The primary header: the run, its inputs and the band extensions."""
    from astropy.io import fits

    from ..utils._provenance import add_provenance

    params = {'DCNVITER': int(results.iterations),
              'DCNVSTOP': results.stop_reason, 'DCNVUPS': int(upsample),
              'DCNVNBND': len(names),
              'DCNVSEDS': 'bands' if args.bands is not None else 'given',
              'DCNVVIS': _fits_text(Path(args.vis).name)}
    comments = {'DECONV': 'deconvolution method',
                'DCNVITER': 'iterations run',
                'DCNVSTOP': 'why the iterations stopped',
                'DCNVUPS': 'narrow / broad-band pixel scale ratio',
                'DCNVNBND': 'number of narrow bands (image extensions)',
                'DCNVSEDS': 'SED weights from --bands or --sed-weights',
                'DCNVVIS': 'broad-band input file',
                'DCNVBBND': 'band key of the broad band',
                'DCNVVER': 'astrodeconv version'}
    if broad_band is not None:
        params['DCNVBBND'] = broad_band.key
    for i, (name, path) in enumerate(zip(names, args.inputs), start=1):
        params[f'DCNVEX{i}'] = name
        params[f'DCNVIN{i}'] = _fits_text(Path(path).name)
        params[f'DCNVSW{i}'] = float(weights[i - 1])
        comments[f'DCNVEX{i}'] = f'EXTNAME of HDU {i}'
        comments[f'DCNVIN{i}'] = f'input file of HDU {i}'
        comments[f'DCNVSW{i}'] = f'SED weight of HDU {i}'
    meta = add_provenance({}, 'MultiBandDeconvolver', params)
    header = fits.Header()
    for key, value in meta.items():
        header[key] = (value, comments.get(key, ''))
    return header


def band_hdu(image, name, path):
    """One image extension: the data, WCS, BUNIT and the meta of a band."""
    from ..io import make_image_hdu

    hdu = make_image_hdu(np.asarray(image.data), meta=image.meta,
                         wcs=image.wcs, unit=image.unit, name=name)
    hdu.header['DCNVIN'] = (_fits_text(Path(path).name), 'input file')
    return hdu


def write(path, primary, extensions, overwrite):
    """Write the file under a temporary name, then move it in place."""
    from astropy.io import fits

    from ..utils._files import atomic_path

    hdul = fits.HDUList([fits.PrimaryHDU(header=primary), *extensions])
    with atomic_path(path, overwrite=overwrite) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify='exception')
