# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The training-set file format (HDF5): reading and writing.

The recipe that simulates, degrades and deconvolves galaxies to fill such a
file is `astrodeconv.training.make_training_set`.

A training-set file holds one group per observing regime, named
``upsample_<k>`` by default (``/upsample_1``, ``/upsample_4``), each with

=============  ==================  ========================================
dataset        shape / type        content
=============  ==================  ========================================
``truth``      (N, S, S) float32   space-based truth, nJy per fine pixel
``tikhonov``   (N, S, S) float32   Tikhonov deconvolution of ``observed``
                                   onto the truth grid (the network input)
``observed``   (N, s, s) float32   ground-based observation, ``s = S / k``
``psf``        (N, P, P) float32   seeing PSF on the truth grid (odd ``P``,
                                   centred, unit sum)
``sigma``      (N,) float64        1-sigma noise per observed pixel
``psf_fwhm``   (N,) float64        seeing FWHM in arcsec
``split``      (N,) uint8          0 train, 1 validation, 2 test
``index``      (N,) int64          galaxy index in the simulated set
``catalogue``  (N,) compound       simulation parameters, one field per
                                   column (units in the ``units`` and
                                   descriptions in the ``descriptions``
                                   attributes, as JSON)
=============  ==================  ========================================

Group attributes record the pixel scales, ``upsample``, ``lam``, the seeds,
the PSF model, the noise rule, the astrodeconv version and the command that
created the group; the root attributes the format name and version. Image
datasets are stored in chunks of one image (gzip level 1 with byte
shuffling) so single images can be read efficiently.

Files are written atomically (into a temporary file in the same folder,
then renamed with ``os.replace``, see ``astrodeconv.utils._files``), so an
interrupted run never leaves a half-written file behind.
"""

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..utils._files import atomic_path
from ..utils._optional_deps import import_optional
from .normalize import split_indices

__all__ = ['TrainingSet', 'TrainingSetFile', 'write_training_set',
           'read_training_set']

__doctest_requires__ = {('write_training_set', 'read_training_set',
                         'TrainingSetFile'): ['h5py']}

FORMAT_NAME = 'astrodeconv-training-set'
FORMAT_VERSION = 1
#: Datasets every group must have.
_REQUIRED = ('truth', 'tikhonov', 'observed', 'psf', 'sigma', 'psf_fwhm',
             'split', 'index')
_IMAGES = ('truth', 'tikhonov', 'observed', 'psf')
#: Split codes.
SPLITS = {'train': 0, 'val': 1, 'test': 2}


def _import_h5py():
    return import_optional('h5py', purpose='to read and write training sets')


def _version():
    from .. import __version__

    return __version__


@dataclass(eq=False)
class TrainingSet:
    """
    One group of a training-set file, in memory (see `read_training_set`).

    Attributes
    ----------
    truth, tikhonov : `~numpy.ndarray`
        ``(N, S, S)`` truth images and Tikhonov inputs.
    observed : `~numpy.ndarray`
        ``(N, s, s)`` ground-based observations.
    psf : `~numpy.ndarray`
        ``(N, P, P)`` PSFs on the truth grid.
    sigma, psf_fwhm : `~numpy.ndarray`
        ``(N,)`` noise standard deviations and PSF FWHMs (arcsec).
    split : `~numpy.ndarray`
        ``(N,)`` split codes (0 train, 1 validation, 2 test).
    index : `~numpy.ndarray`
        ``(N,)`` galaxy indices in the simulated set.
    catalogue : `~astropy.table.Table` or None
        The simulation catalogue.
    attrs : dict
        The group attributes.
    group : str
        The group name.
    """

    truth: np.ndarray
    tikhonov: np.ndarray
    observed: np.ndarray
    psf: np.ndarray
    sigma: np.ndarray
    psf_fwhm: np.ndarray
    split: np.ndarray
    index: np.ndarray
    catalogue: Table
    attrs: dict
    group: str

    def __len__(self):
        return len(self.truth)

    def __repr__(self):
        return (f'TrainingSet(group={self.group!r}, n={len(self)}, '
                f'truth={self.truth.shape[1:]}, '
                f'observed={self.observed.shape[1:]})')


# ---------------------------------------------------------------------------
# Opening and validating
# ---------------------------------------------------------------------------

def _check_readable(path):
    """The path as str; FileNotFoundError / ValueError when unusable."""
    h5py = _import_h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f'path {path!r} does not exist'
        raise FileNotFoundError(msg)
    if os.path.isdir(path):
        msg = f'path {path!r} is a directory, not a training-set file'
        raise ValueError(msg)
    if not h5py.is_hdf5(path):
        msg = (f'path {path!r} is not an HDF5 file (or it is corrupt); '
               'training sets are written by write_training_set or '
               'astrodeconv.training.make_training_set')
        raise ValueError(msg)
    return path


def _open(path):
    h5py = _import_h5py()
    path = _check_readable(path)
    try:
        return h5py.File(path, 'r')
    except OSError as exc:
        msg = f'path {path!r} could not be read as HDF5 (corrupt?): {exc}'
        raise ValueError(msg) from exc


def _group_names(handle):
    h5py = _import_h5py()
    return tuple(name for name, obj in handle.items()
                 if isinstance(obj, h5py.Group))


def _validate_group(handle, name, path):
    """Check one group; return its number of images."""
    group = handle[name]
    missing = [key for key in _REQUIRED if key not in group]
    if missing:
        msg = (f'group {name!r} of {path!r} is missing the required '
               f'dataset(s) {", ".join(repr(m) for m in missing)} (a '
               f'training set needs {", ".join(_REQUIRED)})')
        raise ValueError(msg)
    n = group['truth'].shape[0] if group['truth'].ndim else 0
    if n == 0:
        msg = f'group {name!r} of {path!r} is empty (N = 0 images)'
        raise ValueError(msg)
    bad = [key for key in _REQUIRED if group[key].ndim == 0
           or group[key].shape[0] != n]
    if bad:
        msg = (f'group {name!r} of {path!r} has datasets whose length '
               f'differs from truth ({n}): {", ".join(bad)}')
        raise ValueError(msg)
    for key in ('truth', 'tikhonov', 'observed', 'psf'):
        if group[key].ndim != 3:
            msg = (f'group {name!r} of {path!r}: dataset {key!r} must be '
                   f'3D (N, ny, nx), got shape {group[key].shape}')
            raise ValueError(msg)
    if group['tikhonov'].shape != group['truth'].shape:
        msg = (f'group {name!r} of {path!r}: tikhonov must have the shape '
               f'of truth {group["truth"].shape}, got '
               f'{group["tikhonov"].shape}')
        raise ValueError(msg)
    for key in _REQUIRED:
        numeric = key in _IMAGES + ('sigma', 'psf_fwhm')
        if group[key].dtype.kind not in ('fiu' if numeric else 'iu'):
            what = 'real numbers' if numeric else 'integers'
            msg = (f'group {name!r} of {path!r}: dataset {key!r} must hold '
                   f'{what}, got dtype {group[key].dtype}')
            raise ValueError(msg)
    _check_split_codes(group['split'][()], name, path)
    fine, coarse = group['truth'].shape[1:], group['observed'].shape[1:]
    if 0 in coarse or coarse[0] > fine[0] or coarse[1] > fine[1]:
        msg = (f'group {name!r} of {path!r}: dataset \'observed\' must be on '
               f'a grid no finer than truth, but the observed grid {coarse} '
               f'is larger than the truth grid {fine}')
        raise ValueError(msg)
    if fine[0] % coarse[0] or fine[1] % coarse[1] or (
            fine[0] // coarse[0] != fine[1] // coarse[1]):
        msg = (f'group {name!r} of {path!r}: dataset \'observed\' must be '
               f'the truth grid {fine} divided by an integer upsample '
               f'factor, got {coarse}')
        raise ValueError(msg)
    return n


def _validated_groups(handle, path):
    names = _group_names(handle)
    if not names:
        msg = (f'path {path!r} holds no training-set group (expected groups '
               'such as /upsample_1 written by write_training_set)')
        raise ValueError(msg)
    return {name: _validate_group(handle, name, path) for name in names}


def _read_attrs(obj):
    out = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _json_attr(dset, key, path):
    """Decode the JSON attribute ``key`` of ``dset`` (a dict)."""
    text = dset.attrs.get(key, '{}')
    if isinstance(text, bytes):
        text = text.decode('utf-8', errors='replace')
    where = f'attribute {key!r} of {dset.name} in {path!r}'
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError) as exc:
        msg = (f'{where} must be a JSON object, got {str(text)[:60]!r} '
               f'({exc}); the file is damaged or was not written by '
               'write_training_set')
        raise ValueError(msg) from None
    if not isinstance(value, dict):
        msg = (f'{where} must be a JSON object, got '
               f'{type(value).__name__}')
        raise ValueError(msg)
    return value


def _read_catalogue(group, path='the training-set file'):
    if 'catalogue' not in group:
        return None
    dset = group['catalogue']
    table = Table(dset[()])
    units = _json_attr(dset, 'units', path)
    descriptions = _json_attr(dset, 'descriptions', path)
    for name in table.colnames:
        if table[name].dtype.kind == 'S':
            table[name] = np.char.decode(table[name], 'utf-8')
        if units.get(name):
            try:
                table[name].unit = units[name]
            except (TypeError, ValueError) as exc:
                msg = (f"attribute 'units' of {dset.name} in {path!r} must "
                       f'give astropy units, got {units[name]!r} for column '
                       f'{name!r} ({exc})')
                raise ValueError(msg) from None
        if descriptions.get(name):
            table[name].description = descriptions[name]
    if dset.attrs.get('meta'):
        table.meta.update(_json_attr(dset, 'meta', path))
    return table


def _check_split_codes(codes, name, path):
    bad = ~np.isin(codes, tuple(SPLITS.values()))
    if bad.any():
        values = ', '.join(str(v) for v in np.unique(codes[bad])[:5])
        msg = (f'group {name!r} of {path!r}: dataset \'split\' must hold '
               f'the codes 0 (train), 1 (val) or 2 (test), got {values} '
               f'for {int(bad.sum())} image(s)')
        raise ValueError(msg)


def _read_group(handle, name, indices=None):
    group = handle[name]
    sel = slice(None) if indices is None else np.asarray(indices)
    arrays = {key: group[key][sel] for key in _REQUIRED}
    catalogue = _read_catalogue(group, handle.filename)
    if catalogue is not None and indices is not None:
        catalogue = catalogue[sel]
    return TrainingSet(catalogue=catalogue, attrs=_read_attrs(group),
                       group=name, **arrays)


def read_training_set(path, group=None):
    """
    Read one group of a training-set file into memory.

    Parameters
    ----------
    path : str or path-like
        The HDF5 file.
    group : str, optional
        Group name, e.g. ``'upsample_4'``. May be omitted when the file
        has a single group.

    Returns
    -------
    data : `TrainingSet`
        Arrays, catalogue and attributes of the group.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not HDF5 or is corrupt, has no such group, or a group
        is empty or lacks a required dataset (the message lists them).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astrodeconv.datasets import (degrade_to_ground,
    ...     read_training_set, write_training_set)
    >>> truth = np.zeros((4, 32, 32), np.float32)
    >>> truth[:, 14:18, 14:18] = 1.0
    >>> obs = degrade_to_ground(truth, psf_fwhm=0.3, upsample=2)
    >>> path = os.path.join(tempfile.mkdtemp(), 'set.h5')
    >>> write_training_set(path, truth, obs, truth)
    'upsample_2'
    >>> data = read_training_set(path)
    >>> data.group, data.truth.shape, data.observed.shape
    ('upsample_2', (4, 32, 32), (4, 16, 16))
    """
    with _open(path) as handle:
        counts = _validated_groups(handle, os.fspath(path))
        if group is None:
            if len(counts) > 1:
                names = ', '.join(repr(g) for g in counts)
                msg = (f'group must be given for {os.fspath(path)!r}, which '
                       f'has several groups: {names}')
                raise ValueError(msg)
            group = next(iter(counts))
        elif group not in counts:
            names = ', '.join(repr(g) for g in counts)
            msg = (f'group {group!r} is not in the file; its groups are: '
                   f'{names}')
            raise ValueError(msg)
        return _read_group(handle, group)


class TrainingSetFile:
    """
    Lazy, process-safe reader of a training-set file.

    The file is validated when the object is made and then closed; the
    HDF5 handle is (re)opened on first use *in each process*, so the object
    can be handed to forked or spawned workers (an h5py handle must never
    be shared across a fork).

    Parameters
    ----------
    path : str or path-like
        The HDF5 file.

    Attributes
    ----------
    path : str
        The file.
    groups : tuple of str
        The group names.
    lengths : dict
        Number of images of each group.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astrodeconv.datasets import (TrainingSetFile,
    ...     degrade_to_ground, write_training_set)
    >>> truth = np.ones((3, 16, 16), np.float32)
    >>> path = os.path.join(tempfile.mkdtemp(), 'set.h5')
    >>> _ = write_training_set(path, truth, degrade_to_ground(
    ...     truth, psf_fwhm=0.2), truth)
    >>> with TrainingSetFile(path) as f:
    ...     print(f.groups, f.lengths, f.read('upsample_1', 'truth', 0).shape)
    ('upsample_1',) {'upsample_1': 3} (16, 16)
    """

    def __init__(self, path):
        self.path = _check_readable(path)
        with _open(self.path) as handle:
            self.lengths = _validated_groups(handle, self.path)
            self._attrs = {name: _read_attrs(handle[name])
                           for name in self.lengths}
            self._shapes = {name: {key: handle[name][key].shape
                                   for key in _REQUIRED}
                            for name in self.lengths}
        self.groups = tuple(self.lengths)
        self._handle = None
        self._pid = None

    def __repr__(self):
        return (f'TrainingSetFile({self.path!r}, groups={self.groups}, '
                f'lengths={self.lengths})')

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_handle'] = None
        state['_pid'] = None
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def handle(self):
        """The open h5py file of the current process (opened lazily)."""
        if self._handle is None or self._pid != os.getpid():
            # a handle inherited through fork is abandoned, never closed
            self._handle = _open(self.path)
            self._pid = os.getpid()
        return self._handle

    def close(self):
        """Close the handle of this process (it reopens on next use)."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None
        self._pid = None

    def _check_group(self, group):
        if group not in self.lengths:
            names = ', '.join(repr(g) for g in self.groups)
            msg = (f'group {group!r} is not in the file; its groups are: '
                   f'{names}')
            raise ValueError(msg)

    def attrs(self, group):
        """The attributes of ``group`` (a dict)."""
        self._check_group(group)
        return dict(self._attrs[group])

    def shape(self, group, name):
        """The shape of dataset ``name`` of ``group``."""
        self._check_group(group)
        return self._shapes[group][name]

    def read(self, group, name, indices=None):
        """
        Read dataset ``name`` of ``group`` (all rows or ``indices``).

        ``indices`` may be an int, a slice or an increasing index array.
        """
        self._check_group(group)
        dset = self.handle[group][name]
        if indices is None:
            return dset[()]
        return dset[indices]

    def load(self, group):
        """Read a whole group into a `TrainingSet`."""
        self._check_group(group)
        return _read_group(self.handle, group)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _attr_value(value):
    """An HDF5-friendly version of an attribute value."""
    if value is None:
        return 'None'
    if isinstance(value, (str, bytes, int, float, bool, np.generic)):
        return value
    if isinstance(value, (tuple, list, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind in 'biuf':
            return arr
        return json.dumps(np.asarray(value).tolist())
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _catalogue_array(catalogue):
    table = Table(catalogue, copy=False)
    columns, units, descriptions = [], {}, {}
    for name in table.colnames:
        col = table[name]
        values = np.asarray(col)
        if values.dtype.kind == 'U':
            values = np.char.encode(values, 'utf-8')
        elif values.dtype.kind == 'O':
            values = np.char.encode(values.astype(str), 'utf-8')
        if values.ndim != 1:
            msg = (f'catalogue column {name!r} must be one value per row, '
                   f'got shape {values.shape}')
            raise ValueError(msg)
        columns.append((name, values))
        units[name] = '' if col.unit is None else col.unit.to_string()
        descriptions[name] = col.description or ''
    array = np.empty(len(table), dtype=[(name, v.dtype)
                                        for name, v in columns])
    for name, values in columns:
        array[name] = values
    meta = {key: value for key, value in table.meta.items()
            if isinstance(value, (str, int, float, bool))}
    return array, units, descriptions, meta


def _write_group(handle, name, arrays, attrs, catalogue):
    if name in handle:
        del handle[name]
    group = handle.create_group(name)
    for key, value in arrays.items():
        if key in _IMAGES:
            group.create_dataset(key, data=value,
                                 chunks=(1,) + value.shape[1:],
                                 compression='gzip', compression_opts=1,
                                 shuffle=True)
        else:
            group.create_dataset(key, data=value)
    if catalogue is not None:
        array, units, descriptions, meta = _catalogue_array(catalogue)
        dset = group.create_dataset('catalogue', data=array)
        dset.attrs['units'] = json.dumps(units)
        dset.attrs['descriptions'] = json.dumps(descriptions)
        dset.attrs['meta'] = json.dumps(meta)
    for key, value in attrs.items():
        group.attrs[key] = _attr_value(value)


def _set_root_attrs(handle):
    handle.attrs['format'] = FORMAT_NAME
    handle.attrs['format_version'] = FORMAT_VERSION
    handle.attrs['astrodeconv_version'] = _version()
    handle.attrs['modified'] = time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                             time.gmtime())


def _atomic_write(path, writer, *, start_from=None, overwrite=True):
    """
    Run ``writer(h5file)`` on a temporary copy, then move it to ``path``.

    ``start_from`` is an existing file copied first (to add a group); the
    file it replaces keeps its permissions.
    """
    h5py = _import_h5py()
    with atomic_path(path, overwrite=overwrite,
                     keep_permissions=True) as tmp:
        if start_from is not None:
            shutil.copyfile(start_from, tmp)
        with h5py.File(tmp, 'a' if start_from is not None else 'w') as f:
            writer(f)
            _set_root_attrs(f)


def _split_codes(split, n):
    if split is None:
        codes = np.zeros(n, dtype=np.uint8)
        for code, part in enumerate(split_indices(n, seed=0)):
            codes[part] = code
        return codes
    codes = np.asarray(split)
    if codes.shape != (n,) or not np.isin(codes, (0, 1, 2)).all():
        msg = (f'split must be an array of shape ({n},) with values 0 '
               f'(train), 1 (val) or 2 (test), got shape {codes.shape}')
        raise ValueError(msg)
    return codes.astype(np.uint8)


def _group_arrays(truth, ground, tikhonov, split, index):
    truth = np.asarray(truth, dtype=np.float32)
    tikhonov = np.asarray(tikhonov, dtype=np.float32)
    if truth.ndim != 3:
        msg = f'truth must be a stack (N, S, S), got shape {truth.shape}'
        raise ValueError(msg)
    n = truth.shape[0]
    if n == 0:
        msg = f'truth must hold at least one image, got shape {truth.shape}'
        raise ValueError(msg)
    if tikhonov.shape != truth.shape:
        msg = (f'tikhonov must have the shape of truth {truth.shape}, got '
               f'{tikhonov.shape}')
        raise ValueError(msg)
    for attr in ('observed', 'psf', 'sigma', 'psf_fwhm', 'upsample'):
        if not hasattr(ground, attr):
            msg = (f'ground must be the GroundObservations returned by '
                   f'degrade_to_ground, got {type(ground).__name__}')
            raise TypeError(msg)
    observed = np.asarray(ground.observed, dtype=np.float32)
    k = int(ground.upsample)
    expected = (n, truth.shape[1] // k, truth.shape[2] // k)
    if observed.shape != expected:
        msg = (f'ground.observed must have shape {expected} for truth '
               f'{truth.shape} and upsample {k}, got {observed.shape}')
        raise ValueError(msg)
    psf = np.asarray(ground.psf, dtype=np.float32)
    if psf.ndim != 3 or psf.shape[0] != n:
        msg = f'ground.psf must have shape ({n}, P, P), got {psf.shape}'
        raise ValueError(msg)
    index = np.arange(n) if index is None else np.asarray(index)
    if index.shape != (n,):
        msg = f'index must have shape ({n},), got {index.shape}'
        raise ValueError(msg)
    return {'truth': truth, 'tikhonov': tikhonov, 'observed': observed,
            'psf': psf,
            'sigma': np.asarray(ground.sigma, dtype=float).reshape(n),
            'psf_fwhm': np.asarray(ground.psf_fwhm, dtype=float).reshape(n),
            'split': _split_codes(split, n),
            'index': index.astype(np.int64)}


def _ground_attrs(ground, lam):
    k = int(ground.upsample)
    return {'upsample': k, 'lam': lam,
            'pixel_scale': float(ground.pixel_scale),
            'pixel_scale_observed': float(ground.pixel_scale) * k,
            'psf_model': getattr(ground, 'psf_model', 'unknown'),
            'moffat_beta': getattr(ground, 'moffat_beta', None),
            'noise_rule': getattr(ground, 'noise', 'unknown'),
            'sigma_seed': getattr(ground, 'sigma_seed', None),
            'degrade_seed': getattr(ground, 'seed', None),
            'astrodeconv_version': _version()}


def write_training_set(path, truth, ground, tikhonov, *, catalogue=None,
                       attrs=None, overwrite=False, group=None, split=None,
                       index=None):
    """
    Write one regime of a training set to an HDF5 file (atomically).

    Parameters
    ----------
    path : str or path-like
        The file. When it exists, the group is added to it (the rest of
        the file is kept); the file is always replaced atomically.
    truth : array_like
        ``(N, S, S)`` truth images.
    ground : `GroundObservations`
        The observations of ``truth`` (from `degrade_to_ground`).
    tikhonov : array_like
        ``(N, S, S)`` Tikhonov deconvolutions of ``ground.observed``.
    catalogue : `~astropy.table.Table`, optional
        One row per image (e.g. from `simulate_galaxies`).
    attrs : dict, optional
        Extra group attributes (they override the automatic ones, e.g.
        ``lam``, ``seed`` or ``command``).
    overwrite : bool, optional
        Replace the group if it already exists in the file (otherwise a
        ``FileExistsError`` is raised), and replace a file that is not an
        HDF5 file.
    group : str, optional
        Group name; default ``'upsample_<k>'``.
    split : array_like of int, optional
        ``(N,)`` split codes (0 train, 1 val, 2 test); default a random
        0.8 / 0.1 / 0.1 split (`split_indices` with seed 0).
    index : array_like of int, optional
        ``(N,)`` galaxy indices; default ``0 .. N-1``.

    Returns
    -------
    group : str
        The name of the group written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astrodeconv.datasets import degrade_to_ground, write_training_set
    >>> truth = np.ones((2, 16, 16), np.float32)
    >>> path = os.path.join(tempfile.mkdtemp(), 'set.h5')
    >>> obs = degrade_to_ground(truth, psf_fwhm=0.2)
    >>> write_training_set(path, truth, obs, truth, group='demo')
    'demo'
    >>> write_training_set(path, truth, obs, truth, group='demo')
    Traceback (most recent call last):
    ...
    FileExistsError: group 'demo' already exists in ...
    """
    h5py = _import_h5py()
    path = os.fspath(path)
    arrays = _group_arrays(truth, ground, tikhonov, split, index)
    if catalogue is not None and len(catalogue) != len(arrays['truth']):
        msg = (f'catalogue must have one row per image '
               f'({len(arrays["truth"])}), got {len(catalogue)}')
        raise ValueError(msg)
    k = int(ground.upsample)
    name = f'upsample_{k}' if group is None else str(group)
    if not name or '/' in name:
        msg = f'group must be a non-empty name without "/", got {name!r}'
        raise ValueError(msg)
    group_attrs = _ground_attrs(ground, attrs.get('lam') if attrs else None)
    group_attrs['command'] = ' '.join(sys.argv)
    group_attrs.update(attrs or {})

    start_from = None
    if os.path.exists(path):
        if os.path.isdir(path):
            msg = f'path {path!r} is a directory'
            raise ValueError(msg)
        if h5py.is_hdf5(path):
            with _open(path) as handle:
                exists = name in handle
            if exists and not overwrite:
                msg = (f'group {name!r} already exists in {path!r}; pass '
                       'overwrite=True to replace it')
                raise FileExistsError(msg)
            start_from = path
        elif not overwrite:
            msg = (f'path {path!r} exists and is not an HDF5 file; pass '
                   'overwrite=True to replace it')
            raise ValueError(msg)

    def writer(handle):
        _write_group(handle, name, arrays, group_attrs, catalogue)

    _atomic_write(path, writer, start_from=start_from)
    return name
