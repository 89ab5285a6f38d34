# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one checkpoint reader: files of the weights registry, the released SUNet
checkpoint and the trainer's checkpoints.

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

__all__ = ['load_sunet_checkpoint']

#: SUNet buffers recomputed from the configuration: a checkpoint may lack
#: them, but if it has them they must equal ours.
SUNET_BUFFER_SUFFIXES = ('.attn.relative_position_index', '.attn_mask')


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
    """Load ``state`` into ``module``, with a readable mismatch report."""
    check_state_keys(module, state, source=source)
    module.load_state_dict(state, strict=True)
    return module


def checkpoint_attention_mask(checkpoint):
    """
    The SUNet attention-mask mode a loaded checkpoint was made with.

    Parameters
    ----------
    checkpoint : dict
        The content of a checkpoint file.

    Returns
    -------
    mode : {'additive', 'exact'}
        The ``attention_mask`` recorded in its ``arch_kwargs`` (files of
        `~astrodeconv.denoisers.save_denoiser` and of the trainer). A file
        of that kind without it was written before the mode existed, when
        the forward pass always masked exactly: ``'exact'``. Any other
        checkpoint (the released file, a bare state dict) comes from the
        reference code: ``'additive'``.

    Raises
    ------
    ValueError
        If the recorded mode is not one of the two.
    """
    arch_kwargs = (checkpoint.get('arch_kwargs')
                   if isinstance(checkpoint, Mapping) else None)
    if not isinstance(arch_kwargs, Mapping):
        return 'additive'
    mode = arch_kwargs.get('attention_mask', 'exact')
    if mode not in ('additive', 'exact'):
        msg = (f"checkpoint records attention_mask={mode!r} in its "
               f"arch_kwargs; it must be 'additive' or 'exact'")
        raise ValueError(msg)
    return mode


def load_sunet_checkpoint(path_or_dict, *, map_location='cpu', model=None):
    """
    Build a `~astrodeconv.denoisers.SUNet` and load trained weights into it.

    Parameters
    ----------
    path_or_dict : str, path-like or dict
        A checkpoint file, read with ``torch.load(...,
        weights_only=True)``, or its already-loaded content. Accepted
        layouts: the released one ``{'epoch', 'state_dict',
        'optimizer'}``, ``{'model_state_dict': ...}``, or a bare state
        dict. Keys may carry the ``module.`` prefix of
        `torch.nn.DataParallel` and may lack the ``swin_unet.`` prefix.
        The buffers ``relative_position_index`` and ``attn_mask`` may be
        absent (they are recomputed); if present they must match.
    map_location : str or `torch.device`, optional
        Where `torch.load` puts the tensors of a file (unused for a dict).
    model : `~astrodeconv.denoisers.SUNet`, optional
        The model to load into (e.g. a non-default configuration). By
        default, ``SUNet()`` with the published configuration.

    Returns
    -------
    model : `~astrodeconv.denoisers.SUNet`
        With the weights loaded strictly, in evaluation mode, and the
        attention mask the weights were trained with (see the
        ``attention_mask`` parameter of `~astrodeconv.denoisers.SUNet`):
        the reference's ``'additive'`` one for a reference checkpoint (the
        released file, a bare state dict, anything without astrodeconv's
        ``arch_kwargs``), without which published weights do not give the
        published outputs once some logits are large; the recorded one for
        a file of `~astrodeconv.denoisers.save_denoiser` or of the trainer
        (``'exact'`` if it records none). A ``model`` built with an
        explicit ``attention_mask`` (or given one with
        ``set_attention_mask``) keeps it: pass
        ``model=SUNet(attention_mask='exact')`` to run published weights
        with a true mask.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable checkpoint or the checkpoint does not
        match the architecture (missing or unexpected keys, shape
        mismatches, different buffers).

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers.sunet import SUNet, load_sunet_checkpoint
    >>> small = dict(img_size=16, embed_dim=8, depths=(2, 2),
    ...              num_heads=(2, 2), window_size=4)
    >>> trained = SUNet(**small)
    >>> ckpt = {'epoch': 1, 'state_dict': trained.state_dict()}
    >>> net = load_sunet_checkpoint(ckpt, model=SUNet(**small))
    >>> net.training
    False
    >>> net.attention_mask
    'additive'
    """
    from .sunet import SUNet

    if model is None:
        model = SUNet()
    elif not isinstance(model, SUNet):
        msg = f'model must be a SUNet or None, got {type(model).__name__}'
        raise TypeError(msg)
    if isinstance(path_or_dict, (str, os.PathLike)):
        checkpoint = read_checkpoint(
            path_or_dict, map_location=map_location,
            unsafe_advice=('If you trust the file, load it with '
                           'torch.load(path, weights_only=False) and pass '
                           'the resulting dict to load_sunet_checkpoint.'))
        if not isinstance(checkpoint, Mapping):
            msg = (f'{os.fspath(path_or_dict)!r} must hold a dict (a state '
                   f'dict or a training checkpoint), got '
                   f'{type(checkpoint).__name__}')
            raise ValueError(msg)
    elif isinstance(path_or_dict, Mapping):
        checkpoint = path_or_dict
    else:
        msg = (f'path_or_dict must be a path or a dict, got '
               f'{type(path_or_dict).__name__}')
        raise TypeError(msg)
    state = extract_state_dict(checkpoint, prefix='swin_unet.')
    mode = checkpoint_attention_mask(checkpoint)
    check_state_keys(model, state, optional=SUNET_BUFFER_SUFFIXES,
                     hint='Build the SUNet configuration the checkpoint was '
                          'trained with and pass it as model=.')
    for name, value in model.state_dict().items():
        if not name.endswith(SUNET_BUFFER_SUFFIXES):
            continue
        if name not in state:
            state[name] = value
        elif not torch.equal(state[name].to(value.device, value.dtype),
                             value):
            msg = (f'checkpoint buffer {name} must equal the one recomputed '
                   f'for this SUNet configuration (window_size='
                   f'{model.config["window_size"]}, img_size='
                   f'{model.config["img_size"]}); the checkpoint was made '
                   f'with another configuration')
            raise ValueError(msg)
    model.load_state_dict(state, strict=True)
    if not model._attention_mask_chosen:
        model.set_attention_mask(mode)
    return model.eval()
