# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one helper that builds ``__repr__`` strings.

Classes list the attributes to show (a ``_repr_params`` tuple, as in
photutils) and call `make_repr`; torch modules call `format_params` from
``extra_repr``.
"""

__all__ = []


def format_params(instance, params, *, overrides=None):
    """
    ``'name=value, ...'`` for the attributes ``params`` of ``instance``.

    Parameters
    ----------
    instance : object
    params : iterable of str
        Attribute names, in display order.
    overrides : dict, optional
        Values to show instead of the attributes (e.g. a shape in place of
        an array). A str value is shown as it is, anything else with
        `repr`.

    Returns
    -------
    text : str
    """
    overrides = overrides or {}
    parts = []
    for name in params:
        if name in overrides:
            value = overrides[name]
            text = value if isinstance(value, str) else repr(value)
        else:
            text = repr(getattr(instance, name))
        parts.append(f'{name}={text}')
    return ', '.join(parts)


def make_repr(instance, params, *, overrides=None, brackets=False):
    """
    ``'ClassName(name=value, ...)'``, in angle brackets if ``brackets``.

    Use ``brackets=True`` for objects that cannot be rebuilt from their
    repr (results, containers of arrays), as Python does for such objects.

    Parameters
    ----------
    instance : object
    params : iterable of str
        Attribute names, in display order.
    overrides : dict, optional
        See `format_params`.
    brackets : bool, optional
        Enclose the text in ``<>``.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from astrodeconv.utils._repr import make_repr
    >>> class Box:
    ...     def __init__(self):
    ...         self.size = 3
    ...         self.name = 'box'
    >>> make_repr(Box(), ('size', 'name'))
    "Box(size=3, name='box')"
    >>> make_repr(Box(), ('size',), overrides={'size': '3 px'},
    ...           brackets=True)
    '<Box(size=3 px)>'
    """
    text = (f'{type(instance).__name__}'
            f'({format_params(instance, params, overrides=overrides)})')
    return f'<{text}>' if brackets else text
