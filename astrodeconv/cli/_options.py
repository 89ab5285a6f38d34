# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The method and output options of ``deconvolve``, ``batch`` and ``mosaic``.

Each method option sets the keyword argument of the same name of the
deconvolvers (`METHOD_OPTIONS`). Which methods it applies to, and its
default for each, are read from the signatures of the classes that
`astrodeconv.deconvolution.make_deconvolver` builds, never written by
hand: a keyword added to a deconvolver makes the option apply to its
method, in the help and in the checks.
"""

import argparse
import inspect
from dataclasses import dataclass, field

from ._common import AliasedOption, UsageError

__all__ = []

_LAM_RULES = ('auto', 'sure', 'gcv')


def _lam_value(text):
    """``--lam``: a number or the name of a rule."""
    if text in _LAM_RULES:
        return text
    try:
        return float(text)
    except ValueError:
        msg = (f"--lam must be a positive number or one of 'auto', 'sure', "
               f"'gcv', got {text!r}")
        raise UsageError(msg) from None


def _balance_value(text):
    """``--balance``: a number or 'auto'."""
    if text == 'auto':
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"--balance must be a positive number or 'auto', got {text!r}"
        raise UsageError(msg) from None


@dataclass(frozen=True)
class MethodOption:
    """One option that sets the deconvolvers' keyword ``parameter``."""

    parameter: str
    flag: str
    help: str
    kwargs: dict = field(default_factory=dict)
    #: Former spellings, accepted with a deprecation note.
    aliases: tuple = ()

    @property
    def label(self):
        """The option as messages name it."""
        if self.kwargs.get('action') is argparse.BooleanOptionalAction:
            return f'{self.flag}/--no-{self.flag[2:]}'
        return self.flag


#: The method options, by the keyword of the deconvolvers they set.
METHOD_OPTIONS = {option.parameter: option for option in (
    MethodOption('lam', '--lam', "regularisation weight, or 'auto'/'sure' "
                 "(Stein's unbiased risk estimate) or 'gcv'",
                 {'metavar': 'LAM', 'type': _lam_value}),
    MethodOption('denoiser', '--denoiser', 'registry name or checkpoint '
                 'path of the network',
                 {'metavar': 'NAME|PATH'}, aliases=('--weights',)),
    MethodOption('debias', '--debias', 'debias the network output (restore '
                 'the flux of its significant structures)',
                 {'action': argparse.BooleanOptionalAction}),
    MethodOption('n_noise_samples', '--n-noise-samples', 'estimate the '
                 'uncertainty from N re-noised deconvolutions, 0 for none',
                 {'metavar': 'N', 'type': int},
                 aliases=('--noise-samples',)),
    MethodOption('balance', '--balance', "noise-to-signal ratio or 'auto'",
                 {'metavar': 'NSR', 'type': _balance_value}),
    MethodOption('n_iter', '--n-iter', 'number of iterations (pnp: of '
                 'network passes)', {'metavar': 'N', 'type': int}),
    MethodOption('upsample', '--upsample', 'super-resolution factor: the '
                 'output pixels are K times smaller',
                 {'metavar': 'K', 'type': int}),
    MethodOption('boundary', '--boundary', "boundary handling: 'periodic', "
                 "'reflect' or 'apodize'", {'metavar': 'MODE'}),
    MethodOption('recenter', '--recenter', "move the PSF's centroid onto "
                 'its centre; without it the PSF is used as given, its '
                 'offset carrying the registration of the data',
                 {'action': argparse.BooleanOptionalAction}),
)}


def method_names():
    """The ``--method`` values: `make_deconvolver`'s methods, 'default'."""
    from ..deconvolution.factory import DECONVOLUTION_METHODS

    return (*DECONVOLUTION_METHODS, 'default')


def deconvolver_class(method):
    """The class `make_deconvolver` builds for ``method``."""
    from .. import deconvolution
    from ..deconvolution import DEFAULT_METHOD
    from ..deconvolution.factory import DECONVOLUTION_METHODS

    name = DEFAULT_METHOD['method'] if method == 'default' else method
    return getattr(deconvolution, DECONVOLUTION_METHODS[name])


def method_defaults(method):
    """The keyword arguments of ``method``'s deconvolver, with defaults."""
    from ..deconvolution import DEFAULT_METHOD

    parameters = inspect.signature(deconvolver_class(method)).parameters
    defaults = {name: p.default for name, p in parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if method == 'default':
        defaults['denoiser'] = DEFAULT_METHOD['weights']
    return defaults


def accepting_methods(parameter):
    """The ``--method`` values whose deconvolver takes ``parameter``."""
    return tuple(method for method in method_names()
                 if parameter in method_defaults(method))


def _default_text(parameter, methods):
    """``default: 30 for richardson-lucy, 8 for pnp`` from the classes."""
    by_value = {}
    for method in methods:
        value = method_defaults(method)[parameter]
        by_value.setdefault(value, []).append(method)
    if len(by_value) == 1:
        return f'default: {next(iter(by_value))}'
    return 'default: ' + ', '.join(f'{value} for {"/".join(names)}'
                                   for value, names in by_value.items())


def add_method_options(parser, parameters, *, title='method',
                       defaults=None):
    """
    Add ``--method`` and the method options of ``parameters`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    parameters : sequence of str
        Keys of `METHOD_OPTIONS`: the options the command offers.
    title : str, optional
        The title of the option group.
    defaults : dict, optional
        For a command that changes a deconvolver default, the text of
        that default by parameter (otherwise read from the classes).

    Returns
    -------
    group : argparse._ArgumentGroup
        The group, for the command to add its own options.
    """
    group = parser.add_argument_group(title)
    group.add_argument('--method', choices=method_names(),
                       default='tikhonov',
                       help='deconvolution method (default: tikhonov; '
                       'learned = Tikhonov followed by a trained network; '
                       'pnp = plug-and-play: exact data steps alternated '
                       'with a learned Gaussian denoiser, for any PSF; '
                       'default = the learned method that generalises '
                       'best, see astrodeconv.deconvolution.DEFAULT_METHOD)')
    for parameter in parameters:
        option = METHOD_OPTIONS[parameter]
        methods = accepting_methods(parameter)
        default = (defaults or {}).get(parameter) or _default_text(
            parameter, methods)
        kwargs = dict(option.kwargs)
        text = f'{option.help} ({default})'
        if option.aliases:
            kwargs['action'] = AliasedOption
            kwargs['deprecated'] = option.aliases
            text += f'; {", ".join(option.aliases)}: deprecated spelling'
        which = ('all methods' if methods == method_names()
                 else ', '.join(methods))
        group.add_argument(option.flag, *option.aliases, dest=parameter,
                           default=None, help=f'{which}: {text}', **kwargs)
    return group


def method_options(args, parameters):
    """
    The keyword arguments of the deconvolver given on the command line.

    An option given for a method whose deconvolver does not take it is a
    `UsageError` naming the methods that do; options not given are left
    out, so that the class defaults apply.
    """
    options = {}
    for parameter in parameters:
        value = getattr(args, parameter)
        if value is None:
            continue
        methods = accepting_methods(parameter)
        if args.method not in methods:
            msg = (f'{METHOD_OPTIONS[parameter].label} applies only to '
                   f'--method {", ".join(methods)}, got --method '
                   f'{args.method}')
            raise UsageError(msg)
        options[parameter] = value
    return options


def make_method_deconvolver(args, parameters, **extra):
    """
    The deconvolver of ``args`` and its method options; an invalid value
    is a `UsageError`. ``extra`` keyword arguments go to the deconvolver
    too, without being counted among the method options.
    """
    from astropy import units as u

    from ..deconvolution import make_deconvolver

    options = method_options(args, parameters)
    try:
        return make_deconvolver(args.method, **options, **extra), options
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise UsageError(str(exc)) from None


def add_output_options(parser, *, metavar, help, overwrite_help,
                       progress_help=None, group=None):
    """``-o/--output``, ``--overwrite`` and, if helped, ``--progress``."""
    target = parser if group is None else group
    target.add_argument('-o', '--output', required=True, metavar=metavar,
                        help=help)
    target.add_argument('--overwrite', action='store_true',
                        help=overwrite_help)
    if progress_help is not None:
        target.add_argument('--progress', default=True,
                            action=argparse.BooleanOptionalAction,
                            help=progress_help)


def add_worker_options(group, *, workers_help, scheduler_help):
    """``--workers N`` or ``--scheduler ADDRESS`` (not both)."""
    where = group.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None, metavar='N',
                       help=workers_help)
    where.add_argument('--scheduler', metavar='ADDRESS',
                       help=scheduler_help)
