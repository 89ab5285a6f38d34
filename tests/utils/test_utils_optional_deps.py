# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the optional-dependency flags."""

import subprocess
import sys

import pytest

from astrodeconv.utils import _optional_deps
from astrodeconv.utils._optional_deps import (OPTIONAL_DEPENDENCIES,
                                              import_optional)


def test_flags_are_booleans():
    for name in OPTIONAL_DEPENDENCIES:
        flag = getattr(_optional_deps, f'HAS_{name.upper()}')
        assert isinstance(flag, bool)
    assert _optional_deps.HAS_TORCH  # a hard dependency
    assert 'HAS_GALSIM' in dir(_optional_deps)
    with pytest.raises(AttributeError, match='HAS_NOTHING'):
        _optional_deps.HAS_NOTHING


def test_flags_do_not_import_the_packages():
    code = ('import sys\n'
            'import astrodeconv\n'
            'from astrodeconv.utils import _optional_deps as d\n'
            'flags = [d.HAS_TORCH, d.HAS_MATPLOTLIB, d.HAS_GALSIM, '
            'd.HAS_H5PY]\n'
            'print(sorted({"torch", "matplotlib", "galsim", "h5py"} '
            '& set(sys.modules)))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == '[]'


def test_import_optional(monkeypatch):
    assert import_optional('json', purpose='for tests').dumps(1) == '1'
    monkeypatch.setitem(sys.modules, 'galsim', None)  # as if not installed
    with pytest.raises(ImportError, match=r'galsim is required to simulate; '
                       r'install it with "pip install galsim" \(or "pip '
                       r'install astrodeconv\[sim\]"\)'):
        import_optional('galsim', purpose='to simulate')
    assert not _optional_deps._available('astrodeconv_no_such_package')
