# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Process-group and random-number helpers of the trainer.

The world size and local rank come from an initialised
`torch.distributed` process group, else from the variables ``torchrun``
sets. Seeds are derived from ``(seed, epoch, rank)`` so that an interrupted
and resumed run draws the same random numbers as an uninterrupted one, and
the generator states of torch, numpy and Python are saved with each
checkpoint.
"""

import os
import random

import numpy as np
import torch

__all__ = []


def launch_world_size():
    """World size of an initialised process group, else $WORLD_SIZE."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get('WORLD_SIZE', '1'))


def local_rank():
    """GPU index of this process: $LOCAL_RANK, else rank modulo GPUs."""
    import torch.distributed as dist

    if 'LOCAL_RANK' in os.environ:
        return int(os.environ['LOCAL_RANK'])
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() % max(torch.cuda.device_count(), 1)
    return 0


def epoch_seed(seed, epoch, rank):
    """The seed of the data order of one epoch on one process."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(
        1)[0])


def seed_worker(worker_id):
    """Seed numpy and random in a DataLoader worker from torch's seed."""
    worker_seed = torch.initial_seed() % 2 ** 32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def seed_everything(seed):
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state():
    """The global generator states, as tensors and plain types only."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {'torch': torch.get_rng_state(),
             'numpy': {'name': name,
                       'keys': torch.from_numpy(keys.astype(np.int64)),
                       'pos': int(pos), 'has_gauss': int(has_gauss),
                       'cached_gaussian': float(cached)},
             'python': random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore the generator states saved by `rng_state`."""
    torch.set_rng_state(state['torch'])
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'],
                         npy['cached_gaussian']))
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
