# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The single-network architectures by name.

`~astrodeconv.denoisers.build_denoiser` and the weights registry build
every architecture from this table plus the unrolled model
(`~astrodeconv.denoisers.UnrolledHQS`), whose prior is one of these; kept
apart from both so that neither imports the other.
"""

__all__ = []


def network_classes():
    """
    The denoiser classes that are one network, by architecture name.

    Returns
    -------
    classes : dict
        ``{'Learnlet': Learnlet, 'UNet64': UNet64, 'SUNet': SUNet}``.
    """
    from .learnlet import Learnlet
    from .sunet import SUNet
    from .unet import UNet64

    return {'Learnlet': Learnlet, 'UNet64': UNet64, 'SUNet': SUNet}
