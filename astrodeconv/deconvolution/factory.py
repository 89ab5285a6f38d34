# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Build a deconvolver from a method name and options.

`make_deconvolver` is what the command line, the evaluation harness and
configuration-driven scripts use to turn ``('tikhonov', lam='auto')`` into
a configured deconvolver without a chain of ``if`` statements.
"""

import difflib
import inspect

__all__ = ['make_deconvolver', 'default_method', 'DEFAULT_METHOD']

#: The method names accepted by `make_deconvolver`, with the class each
#: one builds (``'richardson_lucy'`` is also accepted).
DECONVOLUTION_METHODS = {
    'tikhonov': 'TikhonovDeconvolver',
    'wiener': 'WienerDeconvolver',
    'richardson-lucy': 'RichardsonLucyDeconvolver',
    'learned': 'LearnedDeconvolver',
    'pnp': 'PnPDeconvolver',
    'unrolled': 'UnrolledDeconvolver',
}


#: The learned method used when none is named (``make_deconvolver(
#: 'default')``, ``astrodeconv deconvolve --method default``): the method
#: and weights that won the generalisation benchmark
#: (``benchmarks/bench_generalization.py``, see the benchmarks page).
DEFAULT_METHOD = {'method': 'learned', 'weights': 'unet16-sim-v2'}


def default_method():
    """
    The default learned method as ``'method:weights'``.

    Examples
    --------
    >>> from astrodeconv.deconvolution import default_method
    >>> default_method().split(':')[0] in ('learned', 'pnp')
    True
    """
    return f"{DEFAULT_METHOD['method']}:{DEFAULT_METHOD['weights']}"


def _deconvolver_class(method):
    from . import learned, pnp, richardson_lucy, tikhonov, unrolled, wiener

    modules = {'tikhonov': tikhonov, 'wiener': wiener,
               'richardson-lucy': richardson_lucy, 'learned': learned,
               'pnp': pnp, 'unrolled': unrolled}
    return getattr(modules[method], DECONVOLUTION_METHODS[method])


def _invalid_method(method):
    """The error for an unknown method: every valid name, the closest."""
    names = (*DECONVOLUTION_METHODS, 'default')
    valid = ', '.join(repr(name) for name in names)
    msg = f'Invalid method {method!r}. Valid methods are: {valid}'
    if isinstance(method, str):
        close = difflib.get_close_matches(method.lower(), names, n=1)
        if close:
            msg += f'. Did you mean {close[0]!r}?'
    return ValueError(msg)


def _accepted_options(cls):
    """The keyword arguments of ``cls``'s constructor."""
    parameters = inspect.signature(cls.__init__).parameters
    return [name for name, p in parameters.items() if name != 'self'
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def make_deconvolver(method, **options):
    """
    Make a deconvolver from a method name and its options.

    Parameters
    ----------
    method : str
        ``'tikhonov'``, ``'wiener'``, ``'richardson-lucy'`` (or
        ``'richardson_lucy'``), ``'learned'``, ``'pnp'``, ``'unrolled'``
        or ``'default'``: `TikhonovDeconvolver`, `WienerDeconvolver`,
        `RichardsonLucyDeconvolver`, `LearnedDeconvolver`,
        `PnPDeconvolver`, `UnrolledDeconvolver`, or the learned method
        and weights of `DEFAULT_METHOD` (the winner of the generalisation benchmark).
    **options
        Keyword arguments of the class, e.g. ``upsample=4``,
        ``lam='auto'`` (Tikhonov and learned), ``balance`` (Wiener),
        ``n_iter`` (Richardson-Lucy), ``boundary``, ``debias`` and
        ``n_noise_samples`` (learned), ``recenter`` (all, see
        `DeconvolverBase`). An option whose value
        is None is left out, so that the class default applies: this lets
        a caller pass every option it knows about. For ``'learned'``,
        ``weights`` is accepted as another name for ``denoiser`` (a
        registry name or a checkpoint path); the same holds for ``'pnp'``.

    Returns
    -------
    deconvolver : `DeconvolverBase`
        The configured deconvolver.

    Raises
    ------
    ValueError
        If ``method`` is unknown (the message lists every valid name,
        ``'default'`` included, and suggests the closest), or an option
        value is invalid (raised by the class).
    TypeError
        If an option does not apply to the method; the message lists the
        options that do.

    Examples
    --------
    >>> from astrodeconv.deconvolution import make_deconvolver
    >>> deconvolver = make_deconvolver('tikhonov', lam='auto', upsample=2,
    ...                                balance=None)
    >>> type(deconvolver).__name__, deconvolver.lam, deconvolver.upsample
    ('TikhonovDeconvolver', 'auto', 2)
    >>> make_deconvolver('richardson-lucy', n_iter=10).n_iter
    10
    >>> make_deconvolver('wiener', recenter=True).recenter
    True
    >>> make_deconvolver('wiener', lam=0.1)
    Traceback (most recent call last):
    ...
    TypeError: lam does not apply to method 'wiener'. Valid options are: ...
    >>> make_deconvolver('learnd')
    Traceback (most recent call last):
    ...
    ValueError: Invalid method 'learnd'. Valid methods are: 'tikhonov', 'wiener', 'richardson-lucy', 'learned', 'pnp', 'unrolled', 'default'. Did you mean 'learned'?
    """  # noqa: E501
    if isinstance(method, str):
        method = method.replace('_', '-')
    if method == 'default':
        method = DEFAULT_METHOD['method']
        if options.get('weights') is None and options.get(
                'denoiser') is None:
            options = dict(options, weights=DEFAULT_METHOD['weights'])
    if not isinstance(method, str) or method not in DECONVOLUTION_METHODS:
        raise _invalid_method(method)
    cls = _deconvolver_class(method)
    options = {name: value for name, value in options.items()
               if value is not None}
    if method in ('learned', 'pnp', 'unrolled') and 'weights' in options:
        if 'denoiser' in options:
            msg = ('weights and denoiser must not be combined: weights is '
                   'another name for denoiser')
            raise TypeError(msg)
        options['denoiser'] = options.pop('weights')
    accepted = _accepted_options(cls)
    unknown = [name for name in options if name not in accepted]
    if unknown:
        valid = ', '.join(accepted)
        msg = (f'{", ".join(unknown)} does not apply to method {method!r}. '
               f'Valid options are: {valid}')
        raise TypeError(msg)
    return cls(**options)
