# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
A resumable, seeded and optionally distributed trainer for the denoisers.

The recipe is the one of the reference SUNet code (Akhaury et al. 2024,
"Ground-based image deconvolution with Swin Transformer UNet", A&A), which
the Learnlet and UNet-64 recipes only vary in the schedule: Adam (betas
0.9/0.999, eps 1e-8), an L1 loss, a linear learning-rate warm-up followed
by a cosine decay, and the checkpoint with the best validation score kept
apart.

Checkpoints
-----------
After every epoch the trainer writes ``latest.pt`` in ``checkpoint_dir``:
the model, optimizer and gradient-scaler states, the epoch and step
counters, the random-number generator states of every process, the
history and the configuration. ``Trainer(..., resume=True)`` continues
from it with no epoch lost, and the weights of an interrupted and resumed
run equal those of an uninterrupted one. ``best.pt`` is written when the
validation loss improves, in the `~astrodeconv.denoisers.save_denoiser`
format, so `~astrodeconv.denoisers.load_denoiser` loads it directly. Both
files are written to a temporary file in the same directory and renamed,
so an interruption never leaves a partial checkpoint.
"""

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ..denoisers.base import count_parameters
from ..denoisers.checkpoints import load_state_strict
from ..denoisers.weights import denoiser_payload
from ..utils._repr import make_repr
from ..utils._torch import resolve_device
from ..utils._deprecation import renamed_keyword
from ..utils._validation import (check_bool, check_nonnegative_real,
                                 check_positive_int)
from ._checkpointing import (BEST_NAME, CHECKPOINT_FORMAT,  # noqa: F401
                             CHECKPOINT_VERSION, LATEST_NAME, cpu_state,
                             full_kwargs, read_training_checkpoint,
                             save_checkpoint)
from ._distributed import (epoch_seed, launch_world_size, local_rank,
                           rng_state, seed_everything, seed_worker,
                           set_rng_state)

__all__ = ['Trainer', 'TrainingHistory', 'warmup_cosine_lr']

_LOSSES = {'l1': F.l1_loss, 'mse': F.mse_loss}
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


def warmup_cosine_lr(epoch, *, lr, epochs, warmup_epochs=3, min_lr=1e-5):
    """
    Learning rate of one epoch: linear warm-up, then cosine decay.

    During the first ``warmup_epochs`` epochs the rate grows linearly from
    ``lr / warmup_epochs`` (epoch 0) to ``lr`` (epoch
    ``warmup_epochs - 1``). Over the remaining epochs it follows a
    half-cosine from ``lr`` (first epoch after the warm-up) down to
    ``min_lr`` (last epoch). If only one epoch is left after the warm-up
    it runs at ``lr``; if ``warmup_epochs >= epochs`` training never
    leaves the warm-up.

    Parameters
    ----------
    epoch : int
        Zero-based epoch index.
    lr : float
        Peak learning rate.
    epochs : int
        Total number of epochs.
    warmup_epochs : int, optional
        Length of the warm-up (0 disables it).
    min_lr : float, optional
        Learning rate of the last epoch.

    Returns
    -------
    lr : float

    Examples
    --------
    >>> from astrodeconv.training import warmup_cosine_lr
    >>> [round(warmup_cosine_lr(e, lr=1e-3, epochs=6, warmup_epochs=2,
    ...                         min_lr=1e-5), 6) for e in range(6)]
    [0.0005, 0.001, 0.001, 0.000753, 0.000258, 1e-05]
    """
    epoch = check_positive_int(epoch, 'epoch', minimum=0)
    epochs = check_positive_int(epochs, 'epochs')
    warmup_epochs = check_positive_int(warmup_epochs, 'warmup_epochs',
                                       minimum=0)
    lr = check_nonnegative_real(lr, 'lr', positive=True)
    min_lr = check_nonnegative_real(min_lr, 'min_lr')
    if epoch < warmup_epochs:
        return lr * (epoch + 1) / warmup_epochs
    n_decay = epochs - warmup_epochs
    if n_decay <= 1:
        return lr
    t = min((epoch - warmup_epochs) / (n_decay - 1), 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * t))


class TrainingHistory(list):
    """
    The per-epoch records of a training run (a list of dicts).

    Each record holds ``epoch`` (1-based), ``lr``, ``train_loss``,
    ``val_loss``, ``val_nmse``, ``val_psnr``, ``val_ssim`` (medians over
    the validation set; None on epochs without validation), ``time_s``
    (wall time of the epoch, validation included), ``samples_per_s``
    (training throughput over all processes), ``world_size``,
    ``global_step`` and ``best`` (True when ``best.pt`` was written).
    """

    def column(self, key):
        """
        One field over all epochs.

        Parameters
        ----------
        key : str
            Record key, e.g. ``'train_loss'``.

        Returns
        -------
        values : ndarray
            Float array, NaN where the value is None.
        """
        return np.array([np.nan if rec.get(key) is None else rec[key]
                         for rec in self], dtype=float)

    def to_list(self):
        """The records as a plain list of dicts (for checkpoints, JSON)."""
        return [dict(rec) for rec in self]


def _image_metrics(estimate, reference):
    """Per-image NMSE, PSNR and SSIM (NaN where a metric is undefined)."""
    from ..metrics import nmse, psnr, ssim

    values = np.full((len(reference), 3), np.nan)
    finite = np.all(np.isfinite(estimate), axis=(1, 2))
    has_norm = finite & np.any(reference != 0, axis=(1, 2))
    has_range = finite & (reference.max(axis=(1, 2))
                          > reference.min(axis=(1, 2)))
    if has_norm.any():
        values[has_norm, 0] = nmse(estimate[has_norm], reference[has_norm])
    if has_range.any():
        est, ref = estimate[has_range], reference[has_range]
        values[has_range, 1] = psnr(est, ref, data_range='reference')
        values[has_range, 2] = ssim(est, ref, data_range='reference')
    return values


def _median(values):
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float('nan')


class Trainer:
    """
    Train a denoiser with the reference recipe; resumable and seeded.

    The optimiser is Adam (betas 0.9/0.999, eps 1e-8; ``weight_decay`` is
    Adam's L2 penalty). The learning rate is set once per epoch by
    `warmup_cosine_lr`: a linear warm-up from ``lr / warmup_epochs`` to
    ``lr`` over ``warmup_epochs`` epochs, then a cosine decay to
    ``min_lr`` on the last epoch. Training batches are shuffled with a
    `torch.Generator` seeded from ``(seed, epoch)`` (a seeded
    `~torch.utils.data.distributed.DistributedSampler` under
    ``torchrun``), incomplete last batches are dropped, and the dataset's
    ``set_epoch(epoch)`` is called before each epoch if it has one. The
    global torch, numpy and Python generators are seeded with ``seed``
    (plus the process rank) when training starts from scratch, and
    restored from the checkpoint when resuming.

    ``best.pt`` tracks the validation loss (the training loss when there
    is no validation set): the loss is what is optimised, is averaged
    exactly across processes, and does not depend on a choice of data
    range, unlike PSNR/SSIM, which are recorded alongside.

    When launched by ``torchrun`` (``WORLD_SIZE > 1``) the trainer
    initialises `torch.distributed` (``gloo`` on CPU, ``nccl`` on CUDA)
    unless it is already initialised, wraps the model in
    `~torch.nn.parallel.DistributedDataParallel`, shards the training and
    validation sets, reduces the losses and gathers the per-image metrics
    over all processes (the medians are those of the whole validation
    set); only rank 0 logs and writes checkpoints. ``batch_size`` is per
    process. Call `close` (or use the trainer as a context manager) to
    destroy a process group the trainer created.

    Parameters
    ----------
    model : `torch.nn.Module`
        The network, e.g. a `~astrodeconv.denoisers.UNet64`. It is called
        as ``model(x, sigma)`` if it has ``requires_sigma = True``, else as
        ``model(x)``. It is moved to ``device`` and trained in place.
    train_dataset : `torch.utils.data.Dataset`
        Map-style dataset of ``(input, target, sigma)`` tuples: tensors
        of shape ``(1, H, W)`` and a scalar noise level (``(input,
        target)`` pairs are accepted for models that do not need sigma).
    val_dataset : `torch.utils.data.Dataset`, optional
        Validation set of the same form.
    epochs : int
        Total number of epochs (a resumed run trains the remaining ones).
    checkpoint_dir : str or Path
        Directory of ``latest.pt`` and ``best.pt`` (created if needed).
    batch_size : int, optional
        Batch size per process; the training set must hold at least one
        batch per process.
    loss : {'l1', 'mse'} or callable, optional
        Loss; a callable is called as ``loss(output, target)`` and must
        return a scalar tensor.
    lr : float, optional
        Peak learning rate.
    min_lr : float, optional
        Learning rate of the last epoch (``0 <= min_lr <= lr``).
    warmup_epochs : int, optional
        Number of warm-up epochs.
    weight_decay : float, optional
        L2 penalty of Adam.
    grad_clip : float, optional
        Clip the global gradient norm to this value.
    device : str or `torch.device`, optional
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'`` or
        ``'cuda:N'``. Under ``torchrun`` with CUDA each process uses the
        GPU of its ``LOCAL_RANK``.
    amp : bool, optional
        Mixed-precision training (CUDA only).
    seed : int, optional
        Seed of the data order and of the global generators.
    num_workers : int, optional
        DataLoader worker processes (each seeded deterministically).
    progress : bool, optional
        Show a tqdm bar over the batches of each epoch.
    val_every : int, optional
        Validate every ``val_every`` epochs and on the last epoch.
    log : callable or None, optional
        Called with a one-line summary per epoch (and notes on resuming);
        None silences the trainer.
    resume : bool, str or Path, optional
        True continues from ``checkpoint_dir/latest.pt`` when it exists
        (starting from scratch otherwise); a path (file or directory)
        continues from that checkpoint, which must exist.
    overwrite : bool, optional
        Start a new run in a ``checkpoint_dir`` that already holds a
        ``latest.pt`` or ``best.pt``, replacing them. Without it (and
        without ``resume``) such a directory is refused, so that the
        weights of an earlier run are never lost.

    Raises
    ------
    FileExistsError
        If ``checkpoint_dir`` holds ``latest.pt`` or ``best.pt`` and
        neither ``resume`` nor ``overwrite`` is given.

    Attributes
    ----------
    model : `torch.nn.Module`
        The (unwrapped) network being trained.
    optimizer : `torch.optim.Adam`
    history : `TrainingHistory`
    epoch : int
        Number of completed epochs.
    global_step : int
        Number of optimiser steps taken.
    best_value, best_epoch
        Best validation (or training) loss and its 1-based epoch.
    rank, world_size : int
        Process rank and number of processes.

    Examples
    --------
    >>> import tempfile, torch
    >>> from astrodeconv.denoisers import UNet64
    >>> from astrodeconv.training import Trainer
    >>> class Pairs(torch.utils.data.Dataset):
    ...     def __len__(self):
    ...         return 8
    ...     def __getitem__(self, i):
    ...         x = torch.full((1, 8, 8), float(i))
    ...         return x, x, torch.tensor(0.1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     trainer = Trainer(UNet64(base_width=2, n_levels=2), Pairs(),
    ...                       Pairs(), epochs=2, batch_size=4,
    ...                       checkpoint_dir=folder, progress=False,
    ...                       log=None)
    ...     history = trainer.fit()
    >>> len(history), sorted(history[0])[:3]
    (2, ['best', 'epoch', 'global_step'])
    """

    @renamed_keyword('progress_bar', 'progress', since='0.1')
    def __init__(self, model, train_dataset, val_dataset=None, *, epochs,
                 checkpoint_dir, batch_size=32, loss='l1', lr=1e-3,
                 min_lr=1e-5, warmup_epochs=3, weight_decay=0.0,
                 grad_clip=None, device='auto', amp=False, seed=0,
                 num_workers=0, progress=True, val_every=1, log=print,
                 resume=False, overwrite=False):
        if not isinstance(model, nn.Module):
            msg = (f'model must be a torch.nn.Module, got '
                   f'{type(model).__name__}')
            raise TypeError(msg)
        self.epochs = check_positive_int(epochs, 'epochs')
        self.batch_size = check_positive_int(batch_size, 'batch_size')
        self.lr = check_nonnegative_real(lr, 'lr', positive=True)
        self.min_lr = check_nonnegative_real(min_lr, 'min_lr')
        if self.min_lr > self.lr:
            msg = f'min_lr must be <= lr ({self.lr}), got {self.min_lr}'
            raise ValueError(msg)
        self.warmup_epochs = check_positive_int(warmup_epochs,
                                                'warmup_epochs', minimum=0)
        self.weight_decay = check_nonnegative_real(weight_decay,
                                                   'weight_decay')
        self.grad_clip = (None if grad_clip is None
                          else check_nonnegative_real(grad_clip, 'grad_clip',
                                                      positive=True))
        self.seed = check_positive_int(seed, 'seed', minimum=0)
        self.num_workers = check_positive_int(num_workers, 'num_workers',
                                              minimum=0)
        self.val_every = check_positive_int(val_every, 'val_every')
        self.progress = bool(progress)
        if log is not None and not callable(log):
            msg = f'log must be a callable or None, got {type(log).__name__}'
            raise TypeError(msg)
        self._log_fn = log
        self._loss_fn, self.loss_name = self._parse_loss(loss)
        self.train_dataset = self._check_dataset(train_dataset,
                                                 'train_dataset')
        self.val_dataset = (None if val_dataset is None else
                            self._check_dataset(val_dataset, 'val_dataset'))

        self.device = resolve_device(device)
        self.world_size = launch_world_size()
        if (self.world_size > 1 and self.device.type == 'cuda'
                and self.device.index is None):
            self.device = torch.device('cuda', local_rank())
        if self.device.type == 'cuda' and self.device.index is not None:
            torch.cuda.set_device(self.device)
        self.rank, self.world_size, self._owns_group = self._setup_group()
        self.amp = bool(amp)
        if self.amp and self.device.type != 'cuda':
            msg = (f'amp=True needs a CUDA device, got device '
                   f'{str(self.device)!r}')
            raise ValueError(msg)

        n_train = len(self.train_dataset)
        per_rank = n_train // self.world_size
        if per_rank < self.batch_size:
            where = (f' split over {self.world_size} processes '
                     f'({per_rank} each)' if self.world_size > 1 else '')
            msg = (f'batch_size must not exceed the number of training '
                   f'samples per process, got batch_size={self.batch_size} '
                   f'for a train_dataset of length {n_train}{where}. Use a '
                   'smaller batch_size or a larger dataset')
            raise ValueError(msg)

        self.checkpoint_dir = Path(checkpoint_dir)
        if self.checkpoint_dir.exists() and not self.checkpoint_dir.is_dir():
            msg = (f'checkpoint_dir must be a directory, got the file '
                   f'{str(self.checkpoint_dir)!r}')
            raise ValueError(msg)
        self.overwrite = check_bool(overwrite, 'overwrite')
        if resume is False or resume is None:
            self._check_fresh_directory()
        if self.rank == 0:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)

        self.model = model.to(self.device)
        self._requires_sigma = bool(getattr(model, 'requires_sigma', False))
        self._architecture = type(model).__name__
        self._arch_kwargs = (dict(model.arch_kwargs())
                             if callable(getattr(model, 'arch_kwargs', None))
                             else {})
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = ([self.device.index] if self.device.type == 'cuda'
                          else None)
            self._net = DistributedDataParallel(self.model,
                                                device_ids=device_ids)
        else:
            self._net = self.model
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.lr_at(0), betas=_ADAM_BETAS,
            eps=_ADAM_EPS, weight_decay=self.weight_decay)
        self._scaler = (torch.amp.GradScaler('cuda') if self.amp else None)

        self.epoch = 0
        self.global_step = 0
        self.best_value = math.inf
        self.best_epoch = None
        self.history = TrainingHistory()
        seed_everything(self.seed + self.rank)

        latest = self.latest_path
        if resume is True:
            if latest.is_file():
                self.load_checkpoint(latest)
            else:
                self._log(f'no {LATEST_NAME} in {self.checkpoint_dir}; '
                          'training from scratch')
        elif resume is not False and resume is not None:
            self.load_checkpoint(resume)
        elif latest.is_file() or self.best_path.is_file():
            self._log(f'overwrite=True: the checkpoints in '
                      f'{self.checkpoint_dir} will be replaced')

    def _check_fresh_directory(self):
        """Refuse to start a new run over the checkpoints of another."""
        found = [path.name for path in (self.latest_path, self.best_path)
                 if path.is_file()]
        if found and not self.overwrite:
            msg = (f'checkpoint_dir {str(self.checkpoint_dir)!r} already '
                   f'holds {" and ".join(found)} of an earlier run. Pass '
                   'resume=True to continue it, overwrite=True to replace '
                   'it, or choose another checkpoint_dir')
            raise FileExistsError(msg)

    # -- configuration ----------------------------------------------------
    @staticmethod
    def _parse_loss(loss):
        if isinstance(loss, str):
            if loss not in _LOSSES:
                valid = ', '.join(repr(name) for name in _LOSSES)
                msg = (f'Invalid loss {loss!r}. Valid losses are: {valid} '
                       '(or a callable loss(output, target))')
                raise ValueError(msg)
            return _LOSSES[loss], loss
        if callable(loss):
            return loss, getattr(loss, '__name__', type(loss).__name__)
        msg = (f"loss must be 'l1', 'mse' or a callable, got "
               f'{type(loss).__name__}')
        raise TypeError(msg)

    @staticmethod
    def _check_dataset(dataset, name):
        if not hasattr(dataset, '__len__') or not hasattr(
                dataset, '__getitem__'):
            msg = (f'{name} must be a map-style dataset (with __len__ and '
                   f'__getitem__), got {type(dataset).__name__}')
            raise TypeError(msg)
        if len(dataset) == 0:
            msg = f'{name} must not be empty'
            raise ValueError(msg)
        return dataset

    def _setup_group(self):
        """Rank, world size, and whether this trainer created the group."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(), False
        if self.world_size <= 1:
            return 0, 1, False
        if not dist.is_available():
            msg = ('WORLD_SIZE > 1 but this PyTorch build has no '
                   'torch.distributed support')
            raise RuntimeError(msg)
        backend = 'nccl' if self.device.type == 'cuda' else 'gloo'
        dist.init_process_group(backend=backend)
        return dist.get_rank(), dist.get_world_size(), True

    @property
    def config(self):
        """The training configuration, as plain Python values."""
        return {'epochs': self.epochs, 'batch_size': self.batch_size,
                'loss': self.loss_name, 'lr': self.lr, 'min_lr': self.min_lr,
                'warmup_epochs': self.warmup_epochs,
                'lr_schedule': 'per-epoch linear warm-up then cosine',
                'optimizer': (f'Adam(betas={_ADAM_BETAS}, eps={_ADAM_EPS})'),
                'weight_decay': self.weight_decay,
                'grad_clip': self.grad_clip, 'seed': self.seed,
                'num_workers': self.num_workers,
                'val_every': self.val_every, 'amp': self.amp,
                'device': str(self.device), 'world_size': self.world_size,
                'n_train': len(self.train_dataset),
                'n_val': (0 if self.val_dataset is None
                          else len(self.val_dataset)),
                'best_metric': self.best_metric,
                'architecture': self._architecture,
                'arch_kwargs': dict(self._arch_kwargs)}

    @property
    def best_metric(self):
        """``'val_loss'``, or ``'train_loss'`` without a validation set."""
        return 'train_loss' if self.val_dataset is None else 'val_loss'

    @property
    def latest_path(self):
        """Path of ``latest.pt``."""
        return self.checkpoint_dir / LATEST_NAME

    @property
    def best_path(self):
        """Path of ``best.pt``."""
        return self.checkpoint_dir / BEST_NAME

    def lr_at(self, epoch):
        """Learning rate of the zero-based ``epoch`` (`warmup_cosine_lr`)."""
        return warmup_cosine_lr(epoch, lr=self.lr, epochs=self.epochs,
                                warmup_epochs=self.warmup_epochs,
                                min_lr=self.min_lr)

    def _log(self, message):
        if self._log_fn is not None and self.rank == 0:
            self._log_fn(message)

    # -- training ---------------------------------------------------------
    def fit(self):
        """
        Train for the remaining epochs.

        Returns
        -------
        history : `TrainingHistory`
            The records of every epoch (those of a resumed run included).
            The model is left in eval mode with the weights of the last
            epoch; ``best.pt`` holds the best ones.
        """
        for epoch in range(self.epoch, self.epochs):
            self._run_epoch(epoch)
        self.model.eval()
        return self.history

    def _run_epoch(self, epoch):
        lr = self.lr_at(epoch)
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        start = time.perf_counter()
        train_loss, n_samples, train_time = self._train_one_epoch(epoch)
        if not math.isfinite(train_loss):
            msg = (f'the training loss is not finite ({train_loss}) at '
                   f'epoch {epoch + 1}; lower lr or set grad_clip. '
                   + self._saved_state_note())
            raise FloatingPointError(msg)
        last = epoch == self.epochs - 1
        validate = self.val_dataset is not None and (
            (epoch + 1) % self.val_every == 0 or last)
        val = self._validate() if validate else {}
        record = {'epoch': epoch + 1, 'lr': lr, 'train_loss': train_loss,
                  'val_loss': val.get('loss'), 'val_nmse': val.get('nmse'),
                  'val_psnr': val.get('psnr'), 'val_ssim': val.get('ssim'),
                  'time_s': time.perf_counter() - start,
                  'samples_per_s': n_samples / max(train_time, 1e-12),
                  'world_size': self.world_size,
                  'global_step': self.global_step, 'best': False}
        score = train_loss if self.val_dataset is None else val.get('loss')
        if score is not None and score < self.best_value:
            self.best_value, self.best_epoch = score, epoch + 1
            record['best'] = True
        self.epoch = epoch + 1
        self.history.append(record)
        rng_states = self._gather(rng_state())
        if self.rank == 0:
            if record['best']:
                self._save_best()
            self._save_latest(rng_states)
        self._barrier()
        self._log(self._summary(record))
        return record

    def _saved_state_note(self):
        """Which checkpoint files hold the last good state (for errors)."""
        if self.epoch == 0 or not self.latest_path.is_file():
            return ('No checkpoint was written: the loss diverged before '
                    'the first epoch ended')
        note = (f'{self.latest_path} holds the state after epoch '
                f'{self.epoch}')
        if self.best_epoch is not None and self.best_path.is_file():
            note += (f' and {self.best_path} the weights of epoch '
                     f'{self.best_epoch}')
        return note

    def _train_loader(self, epoch):
        dataset = self.train_dataset
        generator = torch.Generator()
        generator.manual_seed(epoch_seed(self.seed, epoch, self.rank))
        if self.world_size > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(
                dataset, num_replicas=self.world_size, rank=self.rank,
                shuffle=True, seed=self.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            sampler = torch.randperm(len(dataset),
                                     generator=generator).tolist()
        return DataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler,
            drop_last=True, num_workers=self.num_workers,
            pin_memory=self.device.type == 'cuda', generator=generator,
            worker_init_fn=seed_worker if self.num_workers else None)

    def _unpack(self, batch):
        if not isinstance(batch, (list, tuple)) or len(batch) not in (2, 3):
            msg = ('datasets must yield (input, target, sigma) or (input, '
                   f'target) tuples, got {type(batch).__name__}')
            raise TypeError(msg)
        dtype = next((p.dtype for p in self.model.parameters()
                      if p.is_floating_point()), torch.float32)
        kw = {'device': self.device, 'dtype': dtype, 'non_blocking': True}
        x, y = batch[0].to(**kw), batch[1].to(**kw)
        sigma = None
        if len(batch) == 3:
            sigma = torch.as_tensor(batch[2]).to(**kw).reshape(-1)
        return x, y, sigma

    def _forward(self, net, x, sigma):
        if not self._requires_sigma:
            return net(x)
        if sigma is None:
            msg = (f'{self._architecture} requires sigma, so the datasets '
                   'must yield (input, target, sigma) tuples')
            raise ValueError(msg)
        return net(x, sigma)

    def _compute_loss(self, output, target):
        loss = self._loss_fn(output, target)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            what = (f'shape {tuple(loss.shape)}'
                    if isinstance(loss, torch.Tensor)
                    else type(loss).__name__)
            msg = f'loss must return a scalar tensor, got {what}'
            raise TypeError(msg)
        return loss

    def _train_one_epoch(self, epoch):
        from tqdm.auto import tqdm

        if hasattr(self.train_dataset, 'set_epoch'):
            self.train_dataset.set_epoch(epoch)
        loader = self._train_loader(epoch)
        self._net.train()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        n_batches = 0
        bar = tqdm(total=len(loader), desc=f'epoch {epoch + 1}/{self.epochs}',
                   unit='batch', leave=False,
                   disable=not self.progress or self.rank != 0)
        start = time.perf_counter()
        try:
            for batch in loader:
                x, y, sigma = self._unpack(batch)
                self.optimizer.zero_grad(set_to_none=True)
                with torch.autocast(device_type=self.device.type,
                                    enabled=self.amp):
                    output = self._forward(self._net, x, sigma)
                    loss = self._compute_loss(output.float(), y)
                self._step(loss)
                total += loss.detach().double()
                n_batches += 1
                self.global_step += 1
                bar.update(1)
                if n_batches % 10 == 1:
                    bar.set_postfix(loss=f'{loss.item():.4g}')
        finally:
            bar.close()
        stats = torch.stack([total, torch.tensor(
            float(n_batches), dtype=torch.float64, device=self.device)])
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(stats)
        loss_sum, count = stats.tolist()
        elapsed = time.perf_counter() - start
        return loss_sum / count, int(count) * self.batch_size, elapsed

    def _step(self, loss):
        params = self.model.parameters()
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            if self.grad_clip is not None:
                self._scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(params, self.grad_clip)
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, self.grad_clip)
            self.optimizer.step()
        # derived constants of the weights (the Learnlet's normalisation
        # of its filters) follow every step
        update = getattr(self.model, 'update_normalisation', None)
        if callable(update):
            update()

    # -- validation -------------------------------------------------------
    def _validate(self):
        """Loss and median NMSE/PSNR/SSIM over the whole validation set."""
        indices = list(range(self.rank, len(self.val_dataset),
                             self.world_size))
        loader = DataLoader(self.val_dataset, batch_size=self.batch_size,
                            sampler=indices, num_workers=self.num_workers,
                            pin_memory=self.device.type == 'cuda')
        net = self.model
        net.eval()
        loss_sum, count = 0.0, 0
        metrics = [np.empty((0, 3))]
        with torch.no_grad():
            for batch in loader:
                x, y, sigma = self._unpack(batch)
                with torch.autocast(device_type=self.device.type,
                                    enabled=self.amp):
                    output = self._forward(net, x, sigma).float()
                loss_sum += self._compute_loss(output, y).item() * len(x)
                count += len(x)
                shape = (-1,) + tuple(y.shape[-2:])
                metrics.append(_image_metrics(
                    output.cpu().numpy().reshape(shape).astype(np.float64),
                    y.float().cpu().numpy().reshape(shape).astype(
                        np.float64)))
        values = np.concatenate(metrics)
        if self.world_size > 1:
            import torch.distributed as dist

            stats = torch.tensor([loss_sum, float(count)],
                                 dtype=torch.float64, device=self.device)
            dist.all_reduce(stats)
            loss_sum, count = stats.tolist()
            values = np.concatenate(self._gather(values))
        return {'loss': loss_sum / count, 'nmse': _median(values[:, 0]),
                'psnr': _median(values[:, 1]), 'ssim': _median(values[:, 2])}

    # -- distributed helpers ----------------------------------------------
    def _gather(self, obj):
        """List of ``obj`` from every process (``[obj]`` when alone)."""
        if self.world_size == 1:
            return [obj]
        import torch.distributed as dist

        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def _barrier(self):
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self):
        """Destroy the process group if this trainer created it."""
        if self._owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self._owns_group = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- checkpoints ------------------------------------------------------
    def _save_latest(self, rng_states):
        payload = {
            'format': CHECKPOINT_FORMAT,
            'format_version': CHECKPOINT_VERSION,
            'architecture': self._architecture,
            'arch_kwargs': dict(self._arch_kwargs),
            'num_params': count_parameters(self.model),
            'state_dict': cpu_state(self.model.state_dict()),
            'optimizer_state': self.optimizer.state_dict(),
            'scaler_state': (None if self._scaler is None
                             else self._scaler.state_dict()),
            'epoch': self.epoch,
            'global_step': self.global_step,
            'best_value': self.best_value,
            'best_epoch': self.best_epoch,
            'rng_states': rng_states,
            'world_size': self.world_size,
            'history': self.history.to_list(),
            'config': self.config}
        save_checkpoint(payload, self.latest_path)

    def _save_best(self):
        from astrodeconv import __version__

        last = self.history[-1]
        metadata = {
            'trained_with': 'astrodeconv.training.Trainer',
            'astrodeconv_version': __version__,
            'epoch': self.epoch,
            'best_metric': self.best_metric,
            'best_value': self.best_value,
            'val_metrics': {key: last[key] for key in (
                'val_loss', 'val_nmse', 'val_psnr', 'val_ssim')},
            'history': self.history.to_list(),
            'config': self.config,
            # how the inputs were normalised: the deconvolver must do the
            # same at inference
            'normalization': getattr(self.train_dataset, 'normalization',
                                     'inference'),
            # a Tikhonov-output denoiser, or a plain Gaussian denoiser
            'task': getattr(self.train_dataset, 'task', 'tikhonov')}
        # the payload of save_denoiser and package_weights
        save_checkpoint(denoiser_payload(self.model, metadata=metadata),
                        self.best_path)

    def load_checkpoint(self, path):
        """
        Restore the full training state from a ``latest.pt`` checkpoint.

        Parameters
        ----------
        path : str or Path
            The checkpoint file, or a directory holding ``latest.pt``.

        Returns
        -------
        self : `Trainer`

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If the file is unreadable or not a training checkpoint, or if
            it was written for another architecture or other
            ``arch_kwargs``.
        """
        path, checkpoint = read_training_checkpoint(path)
        self._check_architecture(checkpoint, path)
        load_state_strict(self.model, checkpoint['state_dict'],
                          source=str(path))
        self.optimizer.load_state_dict(checkpoint['optimizer_state'])
        if self._scaler is not None and checkpoint.get('scaler_state'):
            self._scaler.load_state_dict(checkpoint['scaler_state'])
        self.epoch = int(checkpoint['epoch'])
        self.global_step = int(checkpoint['global_step'])
        best = checkpoint.get('best_value')
        self.best_value = math.inf if best is None else float(best)
        self.best_epoch = checkpoint.get('best_epoch')
        self.history = TrainingHistory(checkpoint['history'])
        states = checkpoint['rng_states']
        saved_world = int(checkpoint.get('world_size', len(states)))
        if saved_world != self.world_size:
            self._log(f'{path} was written by {saved_world} process(es), '
                      f'this run has {self.world_size}: the data order and '
                      'random streams will differ from an uninterrupted run')
        set_rng_state(states[self.rank % len(states)])
        old_epochs = checkpoint.get('config', {}).get('epochs')
        if old_epochs is not None and old_epochs != self.epochs:
            self._log(f'{path} was written for epochs={old_epochs}; the '
                      f'learning-rate schedule now uses epochs={self.epochs}')
        self._log(f'resumed from {path} after epoch {self.epoch}')
        return self

    def _check_architecture(self, checkpoint, path):
        saved_arch = checkpoint['architecture']
        saved_kwargs = dict(checkpoint['arch_kwargs'])
        cls = type(self.model)
        same = saved_arch == self._architecture and (
            full_kwargs(cls, saved_kwargs)
            == full_kwargs(cls, self._arch_kwargs))
        if not same:
            msg = (f'{path} holds a checkpoint of {saved_arch} with '
                   f'arch_kwargs {saved_kwargs}, but the model is '
                   f'{self._architecture} with arch_kwargs '
                   f'{self._arch_kwargs}. Build the model with the same '
                   'architecture and arch_kwargs to resume')
            raise ValueError(msg)

    # -- reporting --------------------------------------------------------
    def _summary(self, record):
        parts = [f"epoch {record['epoch']}/{self.epochs}",
                 f"lr {record['lr']:.3g}",
                 f"train {self.loss_name} {record['train_loss']:.4g}"]
        if record['val_loss'] is not None:
            parts += [f"val {record['val_loss']:.4g}",
                      f"NMSE {record['val_nmse']:.4g}",
                      f"PSNR {record['val_psnr']:.2f} dB",
                      f"SSIM {record['val_ssim']:.4f}"]
        parts += [f"{record['time_s']:.1f} s",
                  f"{record['samples_per_s']:.0f} samples/s"]
        line = ' | '.join(parts)
        return line + (' | best' if record['best'] else '')

    def __repr__(self):
        return make_repr(self, ('architecture', 'epoch', 'epochs', 'device',
                                'world_size'),
                         overrides={'architecture': self._architecture,
                                    'device': str(self.device)},
                         brackets=True)
