# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the device resolution (conf.device is what 'auto' means)."""

import pytest
import torch

from astrodeconv import conf
from astrodeconv.utils._torch import resolve_device


def test_auto_reads_conf_device():
    with conf.set_temp('device', 'cpu'):
        assert resolve_device('auto') == torch.device('cpu')
    with conf.set_temp('device', 'auto'):
        expected = 'cuda' if torch.cuda.is_available() else 'cpu'
        assert resolve_device('auto').type == expected
    # an explicit device is not overridden by the configuration
    with conf.set_temp('device', 'cuda'):
        assert resolve_device('cpu') == torch.device('cpu')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs no CUDA')
def test_conf_device_cuda_without_cuda():
    with conf.set_temp('device', 'cuda'):
        with pytest.raises(ValueError, match='CUDA is not available'):
            resolve_device('auto')


def test_bad_conf_device():
    with conf.set_temp('device', 'tpu'):
        with pytest.raises(ValueError, match="astrodeconv.conf.device must "
                           "be one of 'auto', 'cpu', 'cuda'"):
            resolve_device('auto')


def test_learned_deconvolver_uses_conf():
    from astrodeconv.deconvolution import LearnedDeconvolver
    from astrodeconv.denoisers import UNet64

    with conf.set_temp('device', 'cpu'):
        net = UNet64(base_width=2, n_levels=2)
        assert LearnedDeconvolver(net).device == torch.device('cpu')
