"""
The import architecture of the package, read from its source with `ast`.

Nothing here imports astrodeconv: the modules are parsed, and every import
statement (at module level or inside a function, where the lazy imports
are) becomes an arrow from the importing module to the module it names.
The tests fail when

- the arrows between modules form a circle;
- a module imports a private module or name (one starting with ``_``) of
  another subpackage (``utils``, the shared private toolbox, excepted);
- an arrow runs up the layers of `LAYERS` (the table of the architecture
  page, docs/development/architecture.rst, which
  `test_architecture_page_lists_the_layers` keeps in step).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'astrodeconv'

#: The layers, lowest first. A subpackage may import the subpackages of
#: lower layers only (and the top-level package: ``conf``, the version).
LAYERS = (
    ('utils', 'data'),
    ('psf', 'wavelets', 'io'),
    ('operators', 'denoisers', 'visualization'),
    ('deconvolution', 'metrics'),
    ('multiband', 'parallel'),
    ('datasets',),
    ('training', 'evaluation'),
    ('cli',),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS)
            for name in names}

#: Work under way elsewhere in issue 18; each entry is a check expected to
#: fail until that work lands (strict: the test fails once it passes, so
#: that the entry is removed).
PENDING = {}


def _modules():
    """``{dotted name: path}`` of every module of the package."""
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob('*.py')):
        parts = path.relative_to(ROOT).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(name):
    return MODULES[name].name == '__init__.py'


def _imports(name):
    """The dotted names a module imports: ``[(target, line), ...]``.

    ``from x import y`` gives ``x`` and, when ``y`` is a module or a
    private name, ``x.y`` too.
    """
    tree = ast.parse(MODULES[name].read_text(encoding='utf-8'))
    package = name if _is_package(name) else name.rsplit('.', 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = parts[:len(parts) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module
                                          else []))
            else:
                target = node.module or ''
            found.append((target, node.lineno))
            for alias in node.names:
                full = f'{target}.{alias.name}'
                if full in MODULES or _private(alias.name):
                    found.append((full, node.lineno))
    return [(target, line) for target, line in found
            if target == PACKAGE or target.startswith(PACKAGE + '.')]


def _private(part):
    return part.startswith('_') and not part.startswith('__')


def _subpackage(name):
    """The subpackage of a dotted name ('' for the top-level package)."""
    parts = name.split('.')
    if len(parts) < 2 or f'{PACKAGE}.{parts[1]}' not in MODULES:
        return ''
    return parts[1] if _is_package(f'{PACKAGE}.{parts[1]}') else ''


def _module_of(target):
    """The module a dotted import target lives in."""
    while target not in MODULES:
        target = target.rsplit('.', 1)[0]
    return target


IMPORTS = {name: _imports(name) for name in MODULES}
SUBPACKAGES = sorted({_subpackage(name) for name in MODULES} - {''})


def _graph():
    """Arrows between modules (not to packages: their ``__init__`` only
    re-exports, and ``from . import x`` in it would make every package a
    circle)."""
    graph = {name: set() for name in MODULES}
    for name, imports in IMPORTS.items():
        for target, _ in imports:
            module = _module_of(target)
            if module != name and not _is_package(module):
                graph[name].add(module)
    return graph


def _circles(graph):
    """The strongly connected components of more than one module."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(start):
        # iterative Tarjan: (node, iterator over its arrows)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, arrows = work[-1]
            for target in arrows:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


CIRCLES = _circles(_graph())


def _params(check):
    """One case per subpackage, the pending ones marked as such."""
    return [pytest.param(sub, marks=pytest.mark.xfail(
        strict=True, reason=PENDING[(check, sub)]))
            if (check, sub) in PENDING else sub for sub in SUBPACKAGES]


# -- the checker itself -------------------------------------------------------

def test_circle_finder():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': {'e'},
             'f': {'g'}, 'g': {'f'}}
    assert sorted(_circles(graph)) == [['a', 'b', 'c'], ['f', 'g']]
    assert _circles({'a': {'b'}, 'b': set()}) == []


def test_imports_are_found():
    # relative, absolute, lazy (inside a function) and private imports
    imports = dict(IMPORTS[f'{PACKAGE}.parallel.mosaic'])
    assert f'{PACKAGE}.io' in imports
    assert f'{PACKAGE}.utils._blending' in imports
    assert f'{PACKAGE}.psf' in imports  # inside _resolve_psf
    assert _subpackage(f'{PACKAGE}.psf.core') == 'psf'
    assert _subpackage(f'{PACKAGE}.conf') == ''
    assert _module_of(f'{PACKAGE}.io.hdu.make_image_hdu') == (
        f'{PACKAGE}.io.hdu')


def test_every_subpackage_has_a_layer():
    assert sorted(LAYER_OF) == SUBPACKAGES


# -- the rules ----------------------------------------------------------------

@pytest.mark.parametrize('subpackage', _params('circles'))
def test_no_import_circles(subpackage):
    prefix = f'{PACKAGE}.{subpackage}.'
    circles = [circle for circle in CIRCLES
               if any(name.startswith(prefix) for name in circle)]
    assert circles == [], f'import circles: {circles}'


@pytest.mark.parametrize('subpackage', _params('private'))
def test_no_private_names_of_other_subpackages(subpackage):
    found = []
    for name, imports in IMPORTS.items():
        if _subpackage(name) != subpackage:
            continue
        for target, line in imports:
            other = _subpackage(target)
            if other in ('', subpackage, 'utils'):
                continue
            if any(_private(part) for part in target.split('.')[2:]):
                found.append(f'{name}:{line} imports {target}')
    assert found == []


@pytest.mark.parametrize('subpackage', _params('layers'))
def test_imports_run_down_the_layers(subpackage):
    level = LAYER_OF[subpackage]
    found = []
    for name, imports in IMPORTS.items():
        if _subpackage(name) != subpackage:
            continue
        for target, line in imports:
            other = _subpackage(target)
            if other not in ('', subpackage) and LAYER_OF[other] >= level:
                found.append(f'{name}:{line} imports {target} (layer '
                             f'{LAYER_OF[other]}, {subpackage} is {level})')
    assert found == []


def test_architecture_page_lists_the_layers():
    page = (ROOT / 'docs' / 'development' / 'architecture.rst').read_text(
        encoding='utf-8')
    rows = re.findall(r'^\s+\* - \*\*(.+?)\*\*', page, flags=re.MULTILINE)
    layers = tuple(tuple(name.strip() for name in row.split(','))
                   for row in rows)
    assert layers == LAYERS
