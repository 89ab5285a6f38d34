# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Weights registry: records of trained denoisers, verified loading and
saving.

Every record carries the full SHA-256 of its file, which is checked on
every load. Small default weights ship inside the package
(``astrodeconv/data/weights``); large ones (UNet-64, SUNet) are looked for
in a directory the user configures and are never downloaded.
"""

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from ..utils._files import atomic_write, check_output_path
from ._architectures import network_classes
from .base import count_parameters
from .checkpoints import load_state_strict, read_checkpoint

__all__ = ['WeightsRecord', 'list_weights', 'get_weights', 'load_denoiser',
           'register_weights', 'build_denoiser', 'save_denoiser',
           'file_sha256', 'package_weights', 'denoiser_payload']

#: Environment variable naming a directory of weights files.
WEIGHTS_DIR_ENV = 'ASTRODECONV_WEIGHTS_DIR'


@dataclass(frozen=True)
class WeightsRecord:
    """
    Description of one trained denoiser.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``'sunet-akhaury2024'``.
    architecture : str
        ``'Learnlet'``, ``'UNet64'`` or ``'SUNet'``.
    filename : str
        File name of the weights.
    sha256 : str or None
        Full SHA-256 of the file (64 hex digits). None only for published
        files whose hash could not be recorded; loading such a file then
        prints its hash so the user can pin it with `register_weights`.
    file_size : int or None
        Size in bytes.
    arch_kwargs : dict
        Constructor arguments of the architecture.
    num_params : int
        Parameter count of the built architecture.
    training_data, recipe, normalization, noise_regime, license : str
        Provenance: data set, training recipe (command, epochs, loss),
        pixel normalisation used in training, noise levels trained on,
        and the licence of the weights.
    doi : str or None
        Persistent identifier of the published file.
    packaged : bool
        True if the file ships inside the package.
    metadata : dict
        Anything else worth recording (training command, wall time,
        validation and benchmark metrics): the model card.
    """

    name: str
    architecture: str
    filename: str
    sha256: object
    file_size: object
    arch_kwargs: dict = field(default_factory=dict)
    num_params: int = 0
    training_data: str = ''
    recipe: str = ''
    normalization: str = ''
    noise_regime: str = ''
    license: str = ''
    doi: object = None
    packaged: bool = False
    metadata: dict = field(default_factory=dict)


_REGISTRY = {}

#: Names that stand for a registered record.
_ALIASES = {}


def _architectures():
    from .unrolled import UnrolledHQS

    return dict(network_classes(), UnrolledHQS=UnrolledHQS)


def build_denoiser(architecture, **arch_kwargs):
    """
    Build a randomly initialised denoiser by architecture name.

    Parameters
    ----------
    architecture : {'Learnlet', 'UNet64', 'SUNet'}
    **arch_kwargs
        Constructor arguments.

    Returns
    -------
    module : `~astrodeconv.denoisers.Denoiser`

    Examples
    --------
    >>> from astrodeconv.denoisers import build_denoiser
    >>> net = build_denoiser('UNet64', base_width=4, n_levels=3)
    >>> type(net).__name__
    'UNet64'
    """
    archs = _architectures()
    if architecture not in archs:
        valid = ', '.join(repr(a) for a in archs)
        msg = f'architecture must be one of {valid}, got {architecture!r}'
        raise ValueError(msg)
    return archs[architecture](**arch_kwargs)


def register_weights(record, *, overwrite=False):
    """
    Add a `WeightsRecord` to the registry.

    Parameters
    ----------
    record : `WeightsRecord`
    overwrite : bool, optional
        Replace an existing record of the same name.
    """
    if not isinstance(record, WeightsRecord):
        msg = f'record must be a WeightsRecord, got {type(record).__name__}'
        raise TypeError(msg)
    if record.sha256 is not None and not isinstance(record.sha256, str):
        msg = ('record.sha256 must be None or a string of 64 hexadecimal '
               'digits (the full SHA-256, e.g. from file_sha256), got '
               f'{record.sha256!r} of type {type(record.sha256).__name__}')
        raise TypeError(msg)
    if record.sha256 is not None and (
            len(record.sha256) != 64
            or any(c not in '0123456789abcdef' for c in record.sha256)):
        msg = ('record.sha256 must be the full 64-hex-digit SHA-256 '
               f'(lower case), got {record.sha256!r}')
        raise ValueError(msg)
    if record.name in _REGISTRY and not overwrite:
        msg = (f'weights {record.name!r} are already registered; pass '
               'overwrite=True to replace them')
        raise ValueError(msg)
    _REGISTRY[record.name] = record


def list_weights():
    """
    Table of the registered weights.

    Returns
    -------
    table : `~astropy.table.Table`
        One row per record: name, architecture, parameters, packaged,
        SHA-256 prefix, file name and DOI.
    """
    from astropy.table import Table

    rows = [(r.name, r.architecture, r.num_params, r.packaged,
             (r.sha256 or 'unknown')[:12], r.filename, r.doi or '')
            for r in sorted(_REGISTRY.values(), key=lambda r: r.name)]
    names = ('name', 'architecture', 'num_params', 'packaged', 'sha256',
             'filename', 'doi')
    if not rows:
        return Table(names=names, dtype=(str, str, int, bool, str, str,
                                         str))
    return Table(rows=rows, names=names)


def get_weights(name):
    """
    Return the `WeightsRecord` registered as ``name``.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the registered names.
    """
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY:
        known = ', '.join(repr(n) for n in sorted(
            set(_REGISTRY) | set(_ALIASES))) or 'none'
        msg = (f'unknown weights {name!r}; registered weights are: {known}. '
               'See astrodeconv.denoisers.list_weights()')
        raise ValueError(msg)
    return _REGISTRY[name]


def file_sha256(path):
    """Full SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _package_weights_dir():
    return Path(__file__).resolve().parent.parent / 'data' / 'weights'


def _search_dirs():
    from astrodeconv import conf

    dirs = []
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        dirs.append(Path(env))
    if conf.weights_dir:
        dirs.append(Path(conf.weights_dir))
    return dirs


def _locate(record):
    candidates = []
    if record.packaged:
        candidates.append(_package_weights_dir())
    candidates.extend(_search_dirs())
    for folder in candidates:
        path = folder / record.filename
        if path.is_file():
            return path
    where = ', '.join(str(c) for c in candidates) or (
        f'nowhere (neither ${WEIGHTS_DIR_ENV} nor '
        'astrodeconv.conf.weights_dir is set)')
    hint = (f' (DOI {record.doi})' if record.doi else '')
    msg = (f'weights file {record.filename!r} for {record.name!r} was not '
           f'found; looked in: {where}. Download it{hint} on a machine with '
           f'network access and put it in a directory named by '
           f'${WEIGHTS_DIR_ENV} or astrodeconv.conf.weights_dir, or pass '
           'its path to load_denoiser')
    raise FileNotFoundError(msg)


def _verify(path, record):
    if record.sha256 is None:
        import warnings

        from ..utils.exceptions import AstrodeconvWarning
        warnings.warn(f'no SHA-256 is registered for {record.name!r}; the '
                      f'file {path} has SHA-256 {file_sha256(path)}; pin it '
                      'with register_weights to verify future loads',
                      AstrodeconvWarning, stacklevel=3)
        return
    actual = file_sha256(path)
    if actual != record.sha256:
        msg = (f'weights file {path} is corrupt or not the registered file '
               f'for {record.name!r}: SHA-256 {actual} does not match '
               f'{record.sha256}. Delete it and obtain the file again')
        raise ValueError(msg)


def load_denoiser(weights, *, architecture=None, arch_kwargs=None,
                  device='cpu'):
    """
    Load a trained denoiser by registry name or from a file.

    Parameters
    ----------
    weights : str, Path or `WeightsRecord`
        A registry name (see `list_weights`), a record, or the path of a
        checkpoint. Files written by `save_denoiser` describe their own
        architecture; other files need ``architecture`` (and
        ``arch_kwargs`` if not the defaults).
    architecture : str, optional
        Architecture of a bare checkpoint file.
    arch_kwargs : dict, optional
        Its constructor arguments.
    device : str, optional
        Where to put the module.

    Returns
    -------
    module : `~astrodeconv.denoisers.Denoiser`
        In eval mode, with an attribute ``weights_info`` (a dict with the
        name, architecture and SHA-256, used for provenance, and the
        ``normalization`` the network was trained with, ``'inference'``
        when the file does not say).
    """
    record = None
    if isinstance(weights, WeightsRecord):
        record = weights
    elif isinstance(weights, str) and (weights in _REGISTRY
                                       or weights in _ALIASES):
        record = get_weights(weights)
    elif not isinstance(weights, (str, os.PathLike)):
        msg = (f'weights must be a registry name, a WeightsRecord or a '
               f'path, got {type(weights).__name__}')
        raise TypeError(msg)
    elif isinstance(weights, str) and not (
            Path(weights).suffix or os.sep in weights
            or Path(weights).is_dir()):
        get_weights(weights)            # raises with the list of names
    if record is not None:
        path = _locate(record)
        _verify(path, record)
        architecture = record.architecture
        arch_kwargs = dict(record.arch_kwargs)
        name, sha = record.name, record.sha256 or file_sha256(path)
    else:
        path = Path(weights)
        name, sha = path.name, None
        if path.is_dir():
            msg = (f'weights {os.fspath(weights)!r} is a directory; it must '
                   'be a registry name (see list_weights) or the path of a '
                   'checkpoint file such as the best.pt a training run '
                   'writes')
            raise IsADirectoryError(msg)
    checkpoint = read_checkpoint(path, what='weights file')
    if isinstance(checkpoint, dict) and 'architecture' in checkpoint:
        if architecture is not None and architecture != checkpoint[
                'architecture']:
            msg = (f"architecture={architecture!r} but {path} holds a "
                   f"{checkpoint['architecture']} checkpoint")
            raise ValueError(msg)
        architecture = checkpoint['architecture']
        if arch_kwargs is None:
            arch_kwargs = dict(checkpoint.get('arch_kwargs', {}))
    if architecture is None:
        msg = (f'architecture must be given for {path}, which does not '
               "record it (one of 'Learnlet', 'UNet64', 'SUNet')")
        raise ValueError(msg)
    if architecture == 'SUNet':
        from .sunet import load_sunet_checkpoint

        module = load_sunet_checkpoint(
            checkpoint, model=build_denoiser('SUNet', **(arch_kwargs or {})))
    else:
        module = build_denoiser(architecture, **(arch_kwargs or {}))
        load_state_strict(module, checkpoint, source=str(path))
    metadata = (record.metadata if record is not None else
                checkpoint.get('metadata', {}) if isinstance(checkpoint, dict)
                else {})
    module.weights_info = {'name': name, 'architecture': architecture,
                           'sha256': sha or file_sha256(path),
                           'normalization': (metadata or {}).get(
                               'normalization', 'inference'),
                           'task': (metadata or {}).get('task', 'tikhonov')}
    return module.eval().to(device)


def save_denoiser(module, path, *, overwrite=False, metadata=None):
    """
    Save a denoiser in the astrodeconv checkpoint format, atomically.

    The file holds ``{'architecture', 'arch_kwargs', 'num_params',
    'state_dict', 'metadata'}``; it is written to a temporary file in the
    same directory and renamed, so a crash never leaves a partial file.

    Parameters
    ----------
    module : `~astrodeconv.denoisers.Denoiser`
        A Learnlet, UNet64, SUNet or UnrolledHQS (``module.arch_kwargs()``
        gives its constructor arguments). The file holds
        `denoiser_payload`.
    path : str or Path
    overwrite : bool, optional
    metadata : dict, optional
        JSON-like provenance (training recipe, metrics...).

    Returns
    -------
    sha256 : str
        The SHA-256 of the written file.

    Raises
    ------
    TypeError
        If ``module`` is not one of those architectures (`load_denoiser`
        could not rebuild it).
    """
    architecture = type(module).__name__
    if architecture not in _architectures():
        msg = (f'module must be a Learnlet, UNet64, SUNet or UnrolledHQS, '
               f'got {architecture}')
        raise TypeError(msg)
    path = check_output_path(path, overwrite=overwrite)
    data = _serialize(denoiser_payload(module, metadata=metadata))
    with atomic_write(path, overwrite=overwrite) as stream:
        stream.write(data)
    return hashlib.sha256(data).hexdigest()


def denoiser_payload(module, *, metadata=None):
    """
    The content of a weights file: what `save_denoiser`, `package_weights`
    and the trainer's ``best.pt`` hold.

    Parameters
    ----------
    module : `torch.nn.Module`
        The network; its ``arch_kwargs()`` (every
        `~astrodeconv.denoisers.Denoiser` has one) give the constructor
        arguments, ``{}`` for a module without that method.
    metadata : dict, optional
        JSON-like provenance (training recipe, metrics, the
        ``normalization`` and ``task`` the network was trained for).

    Returns
    -------
    payload : dict
        ``{'architecture', 'arch_kwargs', 'num_params', 'state_dict',
        'metadata'}``: the class name, the constructor arguments, the
        parameter count, the weights (on the CPU) and a copy of the
        metadata. `load_denoiser` reads it back.

    Examples
    --------
    >>> from astrodeconv.denoisers import build_denoiser, denoiser_payload
    >>> net = build_denoiser('UNet64', base_width=4, n_levels=3)
    >>> payload = denoiser_payload(net, metadata={'task': 'denoise'})
    >>> sorted(payload), payload['arch_kwargs']
    (['arch_kwargs', 'architecture', 'metadata', 'num_params', \
'state_dict'], {'base_width': 4, 'n_levels': 3})
    """
    arch_kwargs = getattr(module, 'arch_kwargs', None)
    # the state dict itself (it carries the modules' versions), on the CPU
    state = module.state_dict()
    for key, value in state.items():
        state[key] = value.to('cpu')
    return {'architecture': type(module).__name__,
            'arch_kwargs': dict(arch_kwargs()) if callable(arch_kwargs)
            else {},
            'num_params': count_parameters(module),
            'state_dict': state,
            'metadata': dict(metadata or {})}


def _serialize(payload):
    """``torch.save`` to bytes (hashed before the file is named)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def record_as_dict(record):
    """The record as a plain dict (for model cards and JSON)."""
    return asdict(record)


def package_weights(checkpoint, directory, *, name, alias=None,
                    overwrite=False, **card):
    """
    Turn a trained checkpoint into a weights file plus its model card.

    Writes ``<name>-<sha256[:8]>.pt`` (the `save_denoiser` format, with
    the card as metadata) and ``<name>.json`` (the `WeightsRecord` fields,
    the alias and the card) into ``directory``. Files in
    ``astrodeconv/data/weights`` are registered when the package is
    imported; elsewhere, register the returned record with
    `register_weights`.

    Parameters
    ----------
    checkpoint : str or Path
        A ``best.pt`` written by `~astrodeconv.training.Trainer` (or any
        file `load_denoiser` reads).
    directory : str or Path
        Output directory.
    name : str
        Registry name, e.g. ``'unet16-sim-v1'``.
    alias : str, optional
        Another name for the record, e.g. ``'default'``.
    overwrite : bool, optional
        Replace an existing card of the same name and an existing weights
        file of the same name and content. No other file is ever touched:
        weights written earlier under the same ``name`` (with another
        hash) stay in ``directory``; delete them by hand if unused.
    **card
        `WeightsRecord` fields (``training_data``, ``recipe``,
        ``normalization``, ``noise_regime``, ``license``, ``doi``) and
        ``metadata``.

    Returns
    -------
    record : `WeightsRecord`

    Raises
    ------
    FileExistsError
        If the card or the weights file exists and ``overwrite`` is False
        (checked before anything is written).
    """
    if not isinstance(name, str) or not name or any(
            c in name for c in '/\\'):
        msg = f'name must be a non-empty file-name stem, got {name!r}'
        raise ValueError(msg)
    directory = Path(directory)
    card_path = check_output_path(directory / f'{name}.json',
                                  overwrite=overwrite)
    module = load_denoiser(checkpoint)
    metadata = dict(card.pop('metadata', {}))
    data = _serialize(denoiser_payload(module, metadata=metadata))
    sha = hashlib.sha256(data).hexdigest()
    filename = f'{name}-{sha[:8]}.pt'
    weights_path = check_output_path(directory / filename,
                                     overwrite=overwrite)
    with atomic_write(weights_path, overwrite=overwrite) as stream:
        stream.write(data)
    record = WeightsRecord(
        name=name, architecture=type(module).__name__, filename=filename,
        sha256=sha, file_size=(directory / filename).stat().st_size,
        arch_kwargs=module.arch_kwargs(),
        num_params=count_parameters(module), packaged=True,
        metadata=metadata, **card)
    content = dict(asdict(record), alias=alias)
    with atomic_write(card_path, overwrite=True, mode='w') as stream:
        stream.write(json.dumps(content, indent=2) + '\n')
    return record


def _register_packaged():
    """Register the weights shipped in ``astrodeconv/data/weights``.

    Each ``<name>.json`` there is a model card: the `WeightsRecord` fields,
    an optional ``alias`` (e.g. ``'default'``) and the metadata.
    """
    folder = _package_weights_dir()
    if not folder.is_dir():
        return
    names = {f.name for f in fields(WeightsRecord)}
    for card in sorted(folder.glob('*.json')):
        content = json.loads(card.read_text())
        alias = content.pop('alias', None)
        record = WeightsRecord(**{k: v for k, v in content.items()
                                  if k in names})
        register_weights(record, overwrite=True)
        if alias:
            _ALIASES[alias] = record.name


# -- records ---------------------------------------------------------------
register_weights(WeightsRecord(
    name='sunet-akhaury2024',
    architecture='SUNet',
    filename='SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth',
    sha256=None,
    file_size=None,
    arch_kwargs={},
    num_params=38_365_111,
    training_data=('about 25,000 CANDELS F606W cutouts (0.06"/px, '
                   '128x128) selected with MAG_AUTO < 26, FLUX_RADIUS(80%) '
                   '> 10 px, FWHM > 10 px'),
    recipe=('L1 loss, Adam lr 1e-3 with 3 warm-up epochs then cosine to '
            '1e-5, batch 16, 400 epochs, best validation SSIM '
            '(Akhaury et al. 2024)'),
    normalization=('(x - mean(x)) / max(x) of the Tikhonov image '
                   '(lam = 9e-3), inverted after the network'),
    noise_regime=('Gaussian ground PSF of about 0.75" FWHM, white noise '
                  'with the faintest object at peak SNR about 1'),
    license='see the Zenodo record',
    doi='10.5281/zenodo.10287213',
    packaged=False))

_register_packaged()
