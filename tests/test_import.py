"""Importing astrodeconv is cheap and does not import torch."""

import subprocess
import sys


def test_import_does_not_import_torch():
    code = ('import sys, astrodeconv, astrodeconv.deconvolution, '
            'astrodeconv.psf, astrodeconv.metrics, astrodeconv.wavelets; '
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == 'False'


def test_version_and_conf():
    import astrodeconv

    assert isinstance(astrodeconv.__version__, str)
    assert astrodeconv.conf.device == 'auto'


def test_public_api_importable():
    import importlib

    for name in ('deconvolution', 'psf', 'metrics', 'wavelets', 'utils',
                 'io', 'datasets'):
        module = importlib.import_module(f'astrodeconv.{name}')
        for attr in module.__all__:
            assert getattr(module, attr) is not None, (name, attr)
