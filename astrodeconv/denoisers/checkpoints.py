# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one checkpoint reader: files of the weights registry, the released SUNet
checkpoint and the trainer's checkpoints.

`read_checkpoint` reads a file, `extract_state_dict` finds the state dict
in what it holds (whatever the layout) and `load_state_strict` loads it
into a module with a readable report of any mismatch. The weights registry
(`~astrodeconv.denoisers.load_denoiser`), the SUNet loader
(`~astrodeconv.denoisers.load_sunet_checkpoint`) and the trainer
(`~astrodeconv.training.Trainer`) read every file through them.

Every file is read with ``torch.load(..., weights_only=True)``, which
unpickles only tensors and plain containers, so loading a file never runs
code from it. An unreadable file raises a `ValueError` that names the file
and says what went wrong, in place of torch's long advice.
"""

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ['read_checkpoint', 'extract_state_dict', 'load_state_strict']


def _short_list(names, limit=3):
    shown = ', '.join(names[:limit])
    return shown + (', ...' if len(names) > limit else '')


def _first_sentence(text, limit=150):
    """The first sentence of an error message, for our own messages."""
    text = ' '.join(str(text).split())
    for stop in ('. ', '; '):
        text = text.split(stop)[0]
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _torch_detail(err):
    """The useful part of torch's error: what failed, not its advice."""
    text = str(err)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:')[-1]
    paragraphs = [p for p in text.split('\n\n') if p.strip()]
    return _first_sentence(paragraphs[0] if paragraphs else text)


def _missing_global(err):
    """
    The name of a refused global that does not exist, or None.

    ``torch.load(weights_only=True)`` refuses any global outside its allow
    list. A global that cannot even be imported (``torch._utils.
    _rebuild_tensor_v9``) is not a Python object of a trusted file: it is a
    damaged byte of the pickle, so the file is corrupt.
    """
    import importlib
    import re

    match = re.search(r'GLOBAL ([\w.]+)', str(err))
    if match is None:
        return None
    module, _, attr = match.group(1).rpartition('.')
    try:
        getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return match.group(1)
    except Exception:  # noqa: BLE001 - importing failed in another way
        return match.group(1)
    return None


def read_checkpoint(path, *, what='checkpoint', kind='PyTorch checkpoint',
                    map_location='cpu', unsafe_advice=None, advice=None):
    """
    Read a file written by `torch.save`, with ``weights_only=True``.

    Parameters
    ----------
    path : str or path-like
        The file.
    what : str, optional
        How error messages name the file (``'weights file'``...).
    kind : str, optional
        What the file should be, in "is not a readable <kind>".
    map_location : str or `torch.device`, optional
        Passed to `torch.load`.
    unsafe_advice : str, optional
        Sentence added when the file holds Python objects that
        ``weights_only=True`` refuses.
    advice : str, optional
        Sentence added when the file is unreadable.

    Returns
    -------
    content : object
        What the file holds (usually a dict).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is not a file.
    ValueError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from astrodeconv.denoisers import read_checkpoint
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / 'w.pt'
    ...     torch.save({'state_dict': {'w': torch.ones(2)}}, path)
    ...     content = read_checkpoint(path)
    >>> content['state_dict']['w'].tolist()
    [1.0, 1.0]
    """
    text = os.fspath(path)
    path = Path(text)
    if not path.exists():
        msg = f'{what} {text!r} does not exist'
        raise FileNotFoundError(msg)
    if not path.is_file():
        msg = f'{what} {text!r} is not a file'
        raise IsADirectoryError(msg)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = _torch_detail(err)
        missing = _missing_global(err)
        if missing is not None:
            msg = (f'{what} {text!r} is not a readable {kind}: it names '
                   f'{missing}, which does not exist, so the file is corrupt '
                   '(or was written by an incompatible program). Obtain '
                   'the file again')
            raise ValueError(msg) from None
        if 'Unsupported global' in str(err):
            msg = (f'{what} {text!r} holds pickled Python objects that '
                   f'torch.load(weights_only=True) refuses to load '
                   f'({detail}). '
                   + (unsafe_advice or 'Re-save only its tensors (the state '
                      'dict) with torch.save'))
            raise ValueError(msg) from None
        error = f'UnpicklingError: {detail}'
    except Exception as err:  # noqa: BLE001 - any reading failure
        error = f'{type(err).__name__}: {_torch_detail(err)}'
    if 'weights_only' in error:         # never repeat torch's advice
        error = error.split('weights_only')[0].rstrip(' (,;:`') or 'failed'
    msg = (f'{what} {text!r} is not a readable {kind} ({error}); the file '
           'may be truncated or not made by torch.save'
           + (f'. {advice}' if advice else ''))
    raise ValueError(msg)


def extract_state_dict(checkpoint, *, source='checkpoint', prefix=''):
    """
    Return the state dict of a loaded checkpoint.

    Accepts ``{'state_dict': ...}``, ``{'model_state_dict': ...}`` or a
    bare state dict, strips the ``module.`` prefix of
    `torch.nn.DataParallel` and adds ``prefix`` to names lacking it.

    Parameters
    ----------
    checkpoint : dict
        What `read_checkpoint` returned.
    source : str, optional
        How error messages name the checkpoint.
    prefix : str, optional
        Prefix every name must carry (added where it lacks it).

    Returns
    -------
    state : dict
        Names to tensors.

    Raises
    ------
    ValueError
        If ``checkpoint`` holds no state dict, or names a weight twice.

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import extract_state_dict
    >>> checkpoint = {'epoch': 3,
    ...               'state_dict': {'module.conv.weight': torch.ones(1)}}
    >>> list(extract_state_dict(checkpoint))
    ['conv.weight']
    """
    if not isinstance(checkpoint, Mapping):
        msg = (f'{source} must hold a dict of tensors, got '
               f'{type(checkpoint).__name__}')
        raise ValueError(msg)
    for key in ('state_dict', 'model_state_dict'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            checkpoint = checkpoint[key]
            break
    not_tensors = [repr(k) for k, v in checkpoint.items()
                   if not isinstance(v, torch.Tensor)]
    if not_tensors:
        msg = (f"{source} must be a state dict, or hold one under "
               f"'state_dict' or 'model_state_dict'; got a dict whose "
               f"entries {_short_list(not_tensors)} are not tensors")
        raise ValueError(msg)
    state = {}
    for key, value in checkpoint.items():
        name = str(key)
        if name.startswith('module.'):
            name = name[len('module.'):]
        if not name.startswith(prefix):
            name = prefix + name
        if name in state:
            msg = (f'{source} must not hold the same weight twice, got '
                   f'{key!r} and another key both naming {name!r}')
            raise ValueError(msg)
        state[name] = value
    return state


def check_state_keys(module, state, *, source='checkpoint', optional=(),
                     hint=None):
    """
    Raise a readable ValueError if ``state`` does not fit ``module``.

    Names ending with one of ``optional`` may be absent from ``state``.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state
               and not k.endswith(tuple(optional))]
    unexpected = [k for k in state if k not in expected]
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model '
              f'{tuple(v.shape)}' for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f'{len(items)} {label} ({_short_list(items)})'
                 for label, items in (('missing keys', missing),
                                      ('unexpected keys', unexpected),
                                      ('shape mismatches', shapes))
                 if items]
        msg = (f'{source} does not match {type(module).__name__}: '
               + ', '.join(parts) + (f'. {hint}' if hint else ''))
        raise ValueError(msg)


def load_state_strict(module, state, *, source='checkpoint'):
    """
    Load a state dict into a module, with a readable mismatch report.

    Parameters
    ----------
    module : `torch.nn.Module`
        The module, changed in place.
    state : dict
        A checkpoint in any layout `extract_state_dict` accepts.
    source : str, optional
        How error messages name the checkpoint.

    Returns
    -------
    module : `torch.nn.Module`

    Raises
    ------
    ValueError
        If a weight is missing or unexpected, or has another shape; the
        message counts and names them.

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import load_state_strict
    >>> net = torch.nn.Linear(2, 1)
    >>> state = {'state_dict': {'weight': torch.ones(1, 2),
    ...                         'bias': torch.zeros(1)}}
    >>> load_state_strict(net, state).weight.tolist()
    [[1.0, 1.0]]
    """
    state = extract_state_dict(state, source=source)
    check_state_keys(module, state, source=source)
    module.load_state_dict(state, strict=True)
    return module
