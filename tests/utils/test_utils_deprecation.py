# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the renamed-keyword decorator."""

import warnings

import pytest
from astropy.utils.exceptions import AstropyDeprecationWarning

from astrodeconv.utils._deprecation import renamed_keyword


def test_renamed_keyword():
    @renamed_keyword('old', 'new', since='0.1')
    def func(*, new=1):
        return new

    assert func() == 1 and func(new=3) == 3
    with pytest.warns(AstropyDeprecationWarning,
                      match="'old' keyword of func is deprecated since "
                            "astrodeconv 0.1; use 'new'"):
        assert func(old=2) == 2
    with pytest.raises(TypeError, match="got both 'old' and 'new'"):
        func(old=2, new=3)


def test_renamed_keyword_silent():
    @renamed_keyword('old', 'new', since='0.1', warn=False)
    def func(*, new=1):
        return new

    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert func(old=5) == 5
