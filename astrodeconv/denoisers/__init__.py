# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Learned denoisers (PyTorch): Learnlet, UNet-64 and SUNet, the weights
registry, the denoiser contract, the one normalisation of images for the
networks (training and inference) and the one way to run a denoiser on
images (`denoise_images`: normalise, tiled pass, restore).

PyTorch is imported lazily: ``import astrodeconv.denoisers`` is cheap and
torch loads on the first access to one of the names below.
"""

from ..utils._lazy import lazy_module_attributes

_SUBMODULES = {
    'Denoiser': 'base', 'as_sigma_tensor': 'base',
    'count_parameters': 'base',
    'Learnlet': 'learnlet',
    'UNet64': 'unet',
    'UnrolledHQS': 'unrolled', 'schedule_features': 'unrolled',
    'SUNet': 'sunet', 'load_sunet_checkpoint': 'sunet',
    'WeightsRecord': 'weights', 'list_weights': 'weights',
    'get_weights': 'weights', 'load_denoiser': 'weights',
    'register_weights': 'weights', 'build_denoiser': 'weights',
    'save_denoiser': 'weights', 'file_sha256': 'weights',
    'package_weights': 'weights', 'denoiser_payload': 'weights',
    'read_checkpoint': 'checkpoints', 'extract_state_dict': 'checkpoints',
    'load_state_strict': 'checkpoints',
    'denoise_images': 'inference',
    'resolve_tiling': 'tiling', 'run_tiled': 'tiling', 'tile_starts': 'tiling',
    'AUTO_TILE_LIMIT': 'tiling', 'AUTO_TILE_SIZE': 'tiling',
    'PIXELS_PER_PASS': 'tiling',
    'NORMALIZATIONS': 'normalization', 'NormalizationParams': 'normalization',
    'normalize_pair': 'normalization', 'denormalize': 'normalization',
    'sky_level': 'normalization',
}

__all__ = sorted(_SUBMODULES)


__getattr__, __dir__ = lazy_module_attributes(__name__, _SUBMODULES)
