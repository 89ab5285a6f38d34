# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
astrodeconv: deconvolution of ground-based galaxy images.

The package turns blurred, noisy ground-based images (Rubin/LSST, VLT, CFHT,
HSC) into sharp, space-like ones: a flux-preserving Tikhonov deconvolution in
Fourier space, a learned denoiser that removes the correlated noise it
leaves, and a debiasing step on the starlet multi-resolution support.

Importing ``astrodeconv`` is cheap: no subpackage and no PyTorch is
imported until it is used.
"""

from astropy import config as _config

try:
    from .version import version as __version__
except ImportError:  # pragma: no cover - only in an uninstalled checkout
    __version__ = '0.0.0'

__all__ = ['__version__', 'conf']


class Conf(_config.ConfigNamespace):
    """
    Configuration parameters for `astrodeconv`.
    """

    device = _config.ConfigItem(
        'auto',
        "Device used by the learned methods and the trainer when they are "
        "given device='auto': 'auto' (CUDA if available, else the CPU), "
        "'cpu', 'cuda' or 'cuda:N'.")
    weights_dir = _config.ConfigItem(
        '',
        'Directory holding large pretrained weights files (never '
        'downloaded at run time). The environment variable '
        'ASTRODECONV_WEIGHTS_DIR takes precedence.')
    fft_workers = _config.ConfigItem(
        0,
        'Threads used by the FFTs of the linear methods and the forward '
        'model: 0 uses every core; set it to 1 when several worker '
        'processes share the machine, so that they do not oversubscribe '
        'the cores.')
    provenance = _config.ConfigItem(
        True,
        'If True, outputs carry FITS-safe provenance keywords in meta.')
    memory_limit = _config.ConfigItem(
        0.0,
        'Largest memory, in GB, that one deconvolution call may plan to '
        'use; a call estimated to need more fails at once with a '
        'MemoryError. 0 uses the available memory (from psutil if it is '
        'installed, else from os.sysconf, else 4 GB).')


conf = Conf()
