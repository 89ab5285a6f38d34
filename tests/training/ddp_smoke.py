"""
Test fixture: smoke test of distributed training (a tiny UNet64 trained
for 2 epochs), and the synthetic pairs the trainer tests train on.

Not a test module (pytest does not collect it) and not part of the
package. Run it with ``torchrun`` (CPU and the ``gloo`` backend work)::

    python -m torch.distributed.run --nproc_per_node=2 --standalone \\
        tests/training/ddp_smoke.py CHECKPOINT_DIR

Every process writes the sum of its final parameters to
``param_sum_rank<r>.txt`` in ``CHECKPOINT_DIR``, and rank 0 writes
``ranks_identical.txt`` (``True`` when all the processes ended with
bit-identical weights), next to ``latest.pt`` and ``best.pt``.
"""

import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset

__all__ = []


class SyntheticPairs(Dataset):
    """
    In-memory pairs of noisy and clean smooth images.

    Each item is ``(noisy (1, H, W), clean (1, H, W), sigma)`` with
    float32 tensors; the images are blurred random fields and the noise is
    white with standard deviation ``sigma``.

    Parameters
    ----------
    n : int
        Number of pairs.
    size : int
        Image side in pixels.
    sigma : float
        Noise standard deviation.
    seed : int
        Seed of the images and the noise.
    """

    def __init__(self, n=32, size=16, sigma=0.1, seed=0):
        generator = torch.Generator().manual_seed(seed)
        fields = torch.randn(n, 1, size, size, generator=generator)
        kernel = torch.ones(1, 1, 5, 5) / 25.0
        smooth = torch.nn.functional.conv2d(
            torch.nn.functional.pad(fields, (2, 2, 2, 2), mode='circular'),
            kernel)
        smooth = smooth / smooth.abs().amax(dim=(1, 2, 3), keepdim=True)
        self.clean = smooth
        self.noisy = smooth + sigma * torch.randn(smooth.shape,
                                                  generator=generator)
        self.sigma = torch.full((n,), float(sigma))

    def __len__(self):
        return len(self.clean)

    def __getitem__(self, index):
        return self.noisy[index], self.clean[index], self.sigma[index]


def main(argv=None):
    """Train for 2 epochs under torchrun and record the final weights."""
    import torch.distributed as dist

    from astrodeconv.denoisers import UNet64
    from astrodeconv.training import Trainer

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        msg = 'usage: ddp_smoke.py CHECKPOINT_DIR'
        raise SystemExit(msg)
    folder = Path(argv[0])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = UNet64(base_width=2, n_levels=2)
    with Trainer(model, SyntheticPairs(32, seed=1),
                 SyntheticPairs(8, seed=2), epochs=2, batch_size=4,
                 checkpoint_dir=folder, device='cpu', warmup_epochs=1,
                 lr=1e-2, progress=False, seed=0) as trainer:
        trainer.fit()
        total = sum(float(p.detach().double().sum())
                    for p in model.parameters())
        flat = torch.cat([p.detach().reshape(-1)
                          for p in model.parameters()])
        (folder / f'param_sum_rank{trainer.rank}.txt').write_text(
            repr(total))
        gathered = [None] * trainer.world_size
        if trainer.world_size > 1:
            dist.all_gather_object(gathered, flat)
        else:
            gathered = [flat]
        if trainer.rank == 0:
            same = all(torch.equal(gathered[0], other)
                       for other in gathered[1:])
            (folder / 'ranks_identical.txt').write_text(repr(same))
    return 0


if __name__ == '__main__':
    sys.exit(main())
