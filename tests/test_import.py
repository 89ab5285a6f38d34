"""
The package surface: cheap imports, the version, the configuration and the
public names of every subpackage.
"""

import importlib
import importlib.metadata
import inspect
import json
import pkgutil
import subprocess
import sys
import types

import pytest
from packaging.version import InvalidVersion, Version

import astrodeconv

#: Every public subpackage (``astrodeconv/data`` holds files, no code);
#: none of them may import PyTorch, and each has an ``__all__``.
SUBPACKAGES = tuple(sorted(
    info.name for info in pkgutil.iter_modules(astrodeconv.__path__)
    if info.ispkg and not info.name.startswith('_') and info.name != 'data'))
CHEAP = SUBPACKAGES
#: Heavy optional dependencies, none imported by ``import astrodeconv.*``.
#: (matplotlib is not listed: ``photutils.psf``, needed by
#: ``astrodeconv.psf``, imports it through ``astropy.visualization``.)
HEAVY = ('torch', 'galsim', 'h5py')


def modules_after(code):
    """The sorted names of ``sys.modules`` after running ``code``."""
    script = (f'{code}\nimport json, sys\n'
              'print(json.dumps(sorted(sys.modules)))')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_subpackages_are_discovered():
    assert {'deconvolution', 'denoisers', 'operators', 'psf', 'wavelets',
            'metrics', 'datasets', 'io', 'utils', 'training',
            'visualization'} <= set(SUBPACKAGES)


def test_import_astrodeconv_imports_no_subpackage():
    loaded = modules_after('import astrodeconv')
    assert 'astrodeconv' in loaded      # the probe works
    imported = sorted(name for name in loaded
                      if name.startswith('astrodeconv.')
                      and name != 'astrodeconv.version')
    assert imported == []
    assert not loaded & set(HEAVY + ('matplotlib',))


def test_visualization_does_not_import_matplotlib():
    loaded = modules_after('import astrodeconv.visualization')
    assert 'astrodeconv.visualization' in loaded
    assert 'matplotlib' not in loaded


def test_subpackages_do_not_import_heavy_dependencies():
    code = '\n'.join(f'import astrodeconv.{name}' for name in CHEAP)
    loaded = modules_after(code)
    assert {f'astrodeconv.{name}' for name in CHEAP} <= loaded
    assert sorted(set(HEAVY) & loaded) == []


def test_the_probe_sees_torch():
    # the same probe notices torch when a torch-backed name is used
    loaded = modules_after('from astrodeconv.denoisers import UNet64')
    assert 'torch' in loaded


def test_version_is_a_valid_version():
    version = astrodeconv.__version__
    assert isinstance(version, str)
    try:
        parsed = Version(version)
    except InvalidVersion:  # pragma: no cover - the failure we test for
        pytest.fail(f'__version__ {version!r} is not a PEP 440 version')
    assert str(parsed) == version          # already normalised
    assert version == importlib.metadata.version('astrodeconv')


#: Configuration items and the defaults documented in
#: docs/getting_started/install.rst and in ``Conf``.
CONF_DEFAULTS = {'provenance': True, 'weights_dir': '', 'fft_workers': 0}


@pytest.mark.parametrize('name', sorted(CONF_DEFAULTS))
def test_conf_items_and_defaults(name):
    from astropy.config import ConfigItem

    item = getattr(type(astrodeconv.conf), name)
    assert isinstance(item, ConfigItem)
    default = CONF_DEFAULTS[name]
    assert item.defaultvalue == default
    assert type(item.defaultvalue) is type(default)
    assert len(item.description) > 20      # documented
    with astrodeconv.conf.set_temp(name, default):
        assert getattr(astrodeconv.conf, name) == default


def test_conf_set_temp_restores():
    conf = astrodeconv.conf
    before = conf.provenance
    with conf.set_temp('provenance', not before):
        assert conf.provenance is (not before)
    assert conf.provenance is before


def _public_objects():
    for name in SUBPACKAGES:
        module = importlib.import_module(f'astrodeconv.{name}')
        for attr in module.__all__:
            yield name, module, attr


@pytest.mark.parametrize('name', SUBPACKAGES)
def test_all_is_a_list_of_unique_public_names(name):
    module = importlib.import_module(f'astrodeconv.{name}')
    names = list(module.__all__)
    assert names, f'astrodeconv.{name}.__all__ is empty'
    assert all(isinstance(n, str) and not n.startswith('_') for n in names)
    assert len(set(names)) == len(names), 'duplicates in __all__'
    # nothing defined in a public module of the subpackage is left out of
    # __all__ (helpers imported from private modules may be)
    for attr in dir(module):
        value = getattr(module, attr)
        if attr.startswith('_') or isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, '__module__', None) or ''
        if origin.startswith(module.__name__) and not any(
                part.startswith('_') for part in origin.split('.')):
            assert attr in names, (f'{name}.{attr} is public but not in '
                                   '__all__')


@pytest.mark.parametrize('name, module, attr', [
    pytest.param(*item, id=f'{item[0]}.{item[2]}')
    for item in _public_objects()])
def test_every_public_name_is_defined_and_documented(name, module, attr):
    value = getattr(module, attr)
    prefix = f'astrodeconv.{name}'
    if isinstance(value, types.ModuleType):
        assert value.__name__.startswith(prefix + '.')
    elif inspect.isclass(value) or inspect.isfunction(value):
        # defined in this subpackage, not re-exported from elsewhere
        assert value.__module__.startswith(prefix), value.__module__
    else:
        # a constant: exported by the submodule of this subpackage that
        # defines it, where it is commented for the docs (``#:``)
        owners = [sub for sub in vars(module).values()
                  if isinstance(sub, types.ModuleType)
                  and sub.__name__.startswith(prefix + '.')
                  and attr in getattr(sub, '__all__', ())
                  and getattr(sub, attr) is value]
        assert owners, f'{prefix}.{attr} is defined nowhere in {prefix}'
        lines = inspect.getsource(owners[0]).splitlines()
        start = [i for i, line in enumerate(lines)
                 if line.startswith(f'{attr} =')]
        assert start, f'{prefix}.{attr} is not assigned at module level'
        comments = []
        for line in reversed(lines[:start[0]]):
            if not line.startswith('#'):
                break
            comments.append(line)
        assert any(c.startswith('#: ') for c in comments), (
            f'{prefix}.{attr} has no #: documentation comment')
        return
    doc = inspect.getdoc(value) or ''
    assert len(doc.strip()) > 20, f'{prefix}.{attr} has no docstring'
