# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the repr helper."""

import numpy as np

from astrodeconv.utils._repr import format_params, make_repr


class Thing:
    def __init__(self):
        self.size = 5
        self.mode = 'fast'
        self.data = np.zeros((3, 4))


def test_make_repr():
    thing = Thing()
    assert make_repr(thing, ('size', 'mode')) == "Thing(size=5, mode='fast')"
    assert make_repr(thing, ('size', 'data'),
                     overrides={'data': (3, 4)},
                     brackets=True) == '<Thing(size=5, data=(3, 4))>'
    assert make_repr(thing, ()) == 'Thing()'


def test_format_params_shows_str_overrides_verbatim():
    text = format_params(Thing(), ('mode', 'size'), overrides={'size': '5 px'})
    assert text == "mode='fast', size=5 px"
