# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Training data and end-to-end training of unrolled deconvolution.

`make_unrolled_examples` draws what teaches an unrolled method to
generalise: galaxies of every morphology of the broad recipe, every PSF
family, output grids 1, 2 and 4 times finer than the data, PSFs given to
the method that differ from the true one by a few per cent (width and
shape), random output resolutions (a Gaussian target: the method gets the
"narrow" PSF, the true one deconvolved by the target, and must return the
truth convolved with the target), flat skies and hot pixels.
`train_unrolled` trains `~astrodeconv.denoisers.UnrolledHQS` through all
its iterations, the exact data step included
(`~astrodeconv.operators.differentiable.TorchDataStep`), starting from a
Gaussian denoiser.
"""

import json
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from ..datasets import degrade_to_ground, simulate_galaxies
from ..deconvolution import TikhonovDeconvolver
from ..deconvolution.tikhonov import REFERENCE_LAM
from ..operators import ForwardModel
from ..psf import make_gaussian_psf, make_narrow_psf, pad_psf
from ..utils._validation import check_positive_int, check_real
from ..utils.exceptions import AstrodeconvWarning
from .recipe import BROAD_RECIPE

__all__ = ['make_unrolled_examples', 'save_unrolled_examples',
           'load_unrolled_examples', 'train_unrolled']

#: Options of the observations: those of the broad training recipe.
_OBSERVATION_KEYS = ('psf_fwhm', 'psf_model', 'moffat_beta',
                     'psf_ellipticity', 'peak_snr')


def _misspecify(psf, rng, amount):
    """The PSF stretched by 1 +- ``amount`` along two random axes."""
    from scipy import ndimage

    scale = 1.0 + rng.uniform(-amount, amount, 2)
    angle = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    # output coordinate -> input coordinate: rotate, unstretch, rotate back
    matrix = rot @ np.diag(1.0 / scale) @ rot.T
    centre = (np.array(psf.shape) - 1) / 2.0
    offset = centre - matrix @ centre
    out = ndimage.affine_transform(psf, matrix, offset=offset, order=3,
                                   mode='constant')
    out = np.clip(out, 0.0, None)
    return out / out.sum()


def _one_regime(truth, k, rng, seed, *, misspecified_fraction,
                misspecify, target_fraction, flat_fraction,
                hot_pixel_fraction):
    n, size = len(truth), truth.shape[-1]
    observation = {key: BROAD_RECIPE[key] for key in _OBSERVATION_KEYS}
    truth = truth.astype(float).copy()
    flat = rng.random(n) < flat_fraction
    # a flat sky under the galaxy: 0.3-3 times the mean of the stamp
    truth[flat] += (rng.uniform(0.3, 3.0, flat.sum())
                    * truth[flat].mean(axis=(-2, -1)))[:, None, None]
    obs = degrade_to_ground(truth, upsample=k, seed=seed, **observation)
    observed = obs.observed.astype(float)
    hot = np.flatnonzero(rng.random(n) < hot_pixel_fraction)
    for i in hot:
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, size // k, 2)
            observed[i, y, x] += obs.sigma[i] * 10 ** rng.uniform(1, 3)
    given = obs.psf.astype(float)
    # room for the stretched PSFs, within the output grid
    width = min(given.shape[-1] + 2 * (given.shape[-1] // 8), size - 1) | 1
    psfs, targets = [], truth.copy()
    target_fwhm = np.zeros(n)
    for i in range(n):
        psf = pad_psf(given[i], (width, width))
        if rng.random() < misspecified_fraction:
            psf = _misspecify(psf, rng, misspecify)
        true_fwhm = obs.psf_fwhm[i] / obs.pixel_scale
        if rng.random() < target_fraction:
            fwhm = rng.uniform(2.0, 0.6 * true_fwhm)
            target = make_gaussian_psf(fwhm, shape=psf.shape)
            try:
                psf = make_narrow_psf(psf, target)
            except ValueError:
                # wider than a narrow or truncated PSF somewhere: no target
                pass
            else:
                target_fwhm[i] = fwhm
                targets[i] = fftconvolve(truth[i], target, mode='same')
        psfs.append(psf / psf.sum())
    psfs = np.stack(psfs)
    with warnings.catch_warnings():
        # the PSFs are sampled on the output grid by construction; wide
        # ones on small stamps would be reported as possibly mis-sampled
        warnings.simplefilter('ignore', AstrodeconvWarning)
        start = np.asarray(TikhonovDeconvolver(
            lam=REFERENCE_LAM, upsample=k, boundary='periodic',
            recenter=False)(observed, psf=psfs), dtype=float)
    from ..denoisers.unrolled import effective_fwhm

    fwhm = effective_fwhm(psfs)
    return {'truth': targets.astype(np.float32),
            'observed': observed.astype(np.float32),
            'psf': psfs.astype(np.float32),
            'start': start.astype(np.float32),
            'sigma': obs.sigma.astype(float), 'psf_fwhm': fwhm,
            'target_fwhm': target_fwhm, 'flat': flat,
            'hot_pixels': np.isin(np.arange(n), hot)}


def make_unrolled_examples(n_per_regime, *, seed=0, stamp_size=128,
                           upsample=(1, 2, 4), misspecified_fraction=0.3,
                           misspecify=0.06, target_fraction=0.25,
                           flat_fraction=0.1, hot_pixel_fraction=0.1):
    """
    Simulate the training examples of an unrolled deconvolver.

    Parameters
    ----------
    n_per_regime : int
        Examples per super-resolution factor (distinct galaxies).
    seed : int, optional
        Seed of every draw; keep one seed for validation that training
        never uses.
    stamp_size : int, optional
        Side of the truth stamps (output grid).
    upsample : tuple of int, optional
        Super-resolution factors.
    misspecified_fraction, misspecify : float, optional
        Fraction of examples whose given PSF is stretched by up to
        ``+- misspecify`` (relative) along two random axes.
    target_fraction : float, optional
        Fraction of examples asked for at a finer-than-PSF resolution: a
        Gaussian target of FWHM 2 pixels to 0.6 times the PSF FWHM.
    flat_fraction, hot_pixel_fraction : float, optional
        Fractions of examples with a flat sky added to the truth, and with
        1-3 hot pixels of 10-1000 sigma added to the data.

    Returns
    -------
    examples : dict
        ``{k: {'truth', 'observed', 'psf', 'start', 'sigma', 'psf_fwhm',
        ...}}``: the target images, data, PSFs given to the method (on the
        output grid), Tikhonov starting images, noise of an observed pixel
        and measured FWHM of the given PSF in output pixels.
    """
    n = check_positive_int(n_per_regime, 'n_per_regime')
    for value, name in ((misspecified_fraction, 'misspecified_fraction'),
                        (target_fraction, 'target_fraction'),
                        (flat_fraction, 'flat_fraction'),
                        (hot_pixel_fraction, 'hot_pixel_fraction')):
        check_real(value, name, minimum=0, maximum=1)
    rng = np.random.default_rng(seed)
    out = {}
    for j, k in enumerate(upsample):
        truth, _ = simulate_galaxies(
            n, stamp_size=stamp_size, seed=seed * 16 + j,
            morphology=BROAD_RECIPE['morphology'])
        out[int(k)] = _one_regime(
            truth, int(k), rng, seed * 16 + j + 8,
            misspecified_fraction=misspecified_fraction,
            misspecify=misspecify, target_fraction=target_fraction,
            flat_fraction=flat_fraction,
            hot_pixel_fraction=hot_pixel_fraction)
    return out


def save_unrolled_examples(examples, path):
    """Write examples of `make_unrolled_examples` to one ``.npz`` file."""
    flat = {f'{k}/{key}': value for k, group in examples.items()
            for key, value in group.items()}
    np.savez(path, **flat)


def load_unrolled_examples(path):
    """Read examples written by `save_unrolled_examples`."""
    out = {}
    with np.load(path) as data:
        for name in data.files:
            k, key = name.split('/')
            out.setdefault(int(k), {})[key] = data[name]
    return out


def _dihedral(array, rot, flip):
    array = np.rot90(array, rot, axes=(-2, -1))
    return array[..., ::-1] if flip else array


def _batch(group, index, k, rng, augment):
    arrays = {key: group[key][index] for key in ('truth', 'observed', 'psf',
                                                 'start')}
    if augment:
        rot, flip = int(rng.integers(4)), bool(rng.integers(2))
        arrays = {key: np.ascontiguousarray(_dihedral(value, rot, flip))
                  for key, value in arrays.items()}
    sigma = group['sigma'][index]
    model = ForwardModel(arrays['psf'].astype(float),
                         arrays['observed'].shape[-2:], upsample=k)
    scale = np.maximum(arrays['start'].max(axis=(-2, -1)),
                       3 * sigma / k ** 2)[:, None, None]
    return {'model': model, 'truth': arrays['truth'] / scale,
            'start': arrays['start'] / scale,
            'back_projected': model.adjoint(arrays['observed'] / scale),
            'sigma': sigma / scale[:, 0, 0],
            'psf_fwhm': group['psf_fwhm'][index]}


def _run_batch(net, batch, k, torch, checkpoint=False, device='cpu'):
    from ..denoisers.unrolled import schedule_features
    from ..operators.differentiable import TorchDataStep

    def tensor(value):
        return torch.as_tensor(np.asarray(value), dtype=torch.float32,
                               device=device)

    sigma = tensor(batch['sigma'])
    fine = sigma / k ** 2
    start = tensor(batch['start'])
    features = schedule_features(
        fine / start.amax(dim=(-2, -1)).clamp(min=1e-12),
        tensor(batch['psf_fwhm']), torch.full_like(sigma, float(k)))
    step = TorchDataStep(batch['model'], device=device)
    return net.unroll(start, tensor(batch['back_projected']), step,
                      features, fine, sigma, checkpoint=checkpoint)


def _nmse(x, truth, torch):
    truth = torch.as_tensor(truth, dtype=torch.float32, device=x.device)
    return ((x - truth) ** 2).sum(dim=(-2, -1)) / (truth ** 2).sum(
        dim=(-2, -1)).clamp(min=1e-12)


def _validate(net, examples, batch_size, torch, device='cpu'):
    scores = []
    with torch.no_grad():
        for k, group in examples.items():
            for i in range(0, len(group['truth']), batch_size):
                index = np.arange(i, min(i + batch_size,
                                         len(group['truth'])))
                batch = _batch(group, index, k, None, False)
                x = _run_batch(net, batch, k, torch, device=device)
                scores.append(_nmse(x, batch['truth'], torch).cpu().numpy())
    return float(np.median(np.concatenate(scores)))


def train_unrolled(train, validation, output_dir, *,
                   init='unet16-gauss-v1', n_iter=6, batch_size=4,
                   steps=2000, lr=1e-4, hyper_lr=1e-3, validate_every=100,
                   max_seconds=None, threads=1, seed=0, checkpoint=False,
                   device='cpu', prior='UNet64', prior_kwargs=None,
                   overwrite=False):
    """
    Train `~astrodeconv.denoisers.UnrolledHQS` end to end.

    Every step takes a batch of one super-resolution factor, runs all
    ``n_iter`` iterations (exact data step, shared prior, predicted
    schedule) from the Tikhonov images and minimises the mean normalised
    squared error of the last iterate against the target images, through
    every iteration. The best model on the validation examples is written
    to ``output_dir/best.pt`` (`~astrodeconv.denoisers.save_denoiser`),
    with a log ``output_dir/log.json``.

    Parameters
    ----------
    train, validation : dict
        Examples of `make_unrolled_examples` (distinct seeds).
    output_dir : str or Path
        Where the checkpoint and the log go.
    init : str, path or None, optional
        Gaussian denoiser whose weights start the shared prior (a
        ``UNet64`` with ``sigma_input=True``), or None for random ones.
    n_iter : int, optional
        Iterations of the unrolled method.
    batch_size, steps, lr, hyper_lr : optional
        Batch size, optimisation steps, learning rates of the prior and
        of the hyper-parameter network (Adam, cosine decay).
    validate_every : int, optional
        Steps between validations.
    max_seconds : float, optional
        Stop after this much wall time (after a validation).
    threads : int, optional
        PyTorch threads (one per process on a shared CPU).
    seed : int, optional
        Seed of the batches and augmentations.
    checkpoint : bool, optional
        Gradient checkpointing of the prior steps.
    device : str, optional
        Where to train (``'cpu'``, ``'cuda'``).
    prior, prior_kwargs : optional
        Architecture of the shared prior (see
        `~astrodeconv.denoisers.UnrolledHQS`); ``init`` must match it.
    overwrite : bool, optional
        Replace an existing ``best.pt``.

    Returns
    -------
    log : dict
        The validation history and the best score.
    """
    import torch

    from ..denoisers import UnrolledHQS, load_denoiser, save_denoiser

    torch.set_num_threads(check_positive_int(threads, 'threads'))
    torch.manual_seed(seed)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    best_path = output_dir / 'best.pt'
    if best_path.exists() and not overwrite:
        msg = f'{best_path} exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    net = UnrolledHQS(n_iter=n_iter, prior=prior, prior_kwargs=prior_kwargs)
    if init is not None:
        net.prior.load_state_dict(load_denoiser(init).state_dict())
    net.to(device)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam([
        {'params': net.prior.parameters(), 'lr': lr},
        {'params': net.hyper.parameters(), 'lr': hyper_lr}])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=steps, eta_min=lr * 0.05)
    sizes = {k: len(g['truth']) for k, g in train.items()}
    factors = np.array(sorted(sizes))
    weights = np.array([sizes[k] for k in factors], dtype=float)
    net.eval()
    best = _validate(net, validation, batch_size, torch, device)
    log = {'init': str(init), 'n_iter': n_iter, 'batch_size': batch_size,
           'prior': prior, 'prior_kwargs': dict(prior_kwargs or {}),
           'device': str(device),
           'steps': steps, 'lr': lr, 'hyper_lr': hyper_lr,
           'history': [{'step': 0, 'val_nmse': best, 'seconds': 0.0}],
           'untrained_val_nmse': best}
    save_denoiser(net, best_path, overwrite=True,
                  metadata={'val_nmse': best, 'step': 0})
    clock = time.perf_counter()
    running = []
    for step in range(1, steps + 1):
        net.train()
        k = int(rng.choice(factors, p=weights / weights.sum()))
        index = rng.choice(sizes[k], batch_size, replace=False)
        batch = _batch(train[k], index, k, rng, True)
        x = _run_batch(net, batch, k, torch, checkpoint=checkpoint,
                       device=device)
        loss = _nmse(x, batch['truth'], torch).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running.append(loss.detach().item())
        seconds = time.perf_counter() - clock
        done = max_seconds is not None and seconds > max_seconds
        if step % validate_every == 0 or step == steps or done:
            net.eval()
            score = _validate(net, validation, batch_size, torch, device)
            log['history'].append({'step': step, 'val_nmse': score,
                                   'train_nmse': float(np.mean(running)),
                                   'seconds': seconds})
            running = []
            if score < best:
                best = score
                save_denoiser(net, best_path, overwrite=True,
                              metadata={'val_nmse': best, 'step': step})
            log['best_val_nmse'] = best
            (output_dir / 'log.json').write_text(json.dumps(log, indent=1))
            print(f'step {step}: validation NMSE {score:.5f} (best '
                  f'{best:.5f}), {seconds:.0f} s', flush=True)
        if done:
            break
    return log


def main(argv=None):
    """
    Simulate the examples and train, as one command.

    The shipped model's recipe (2 CPU cores)::

        python -m astrodeconv.training.unrolled -o unrolled_run \\
            --n-per-regime 600 --steps 1500 --max-seconds 4800

    The full-size UNet-64 prior inside the loop, on a GPU::

        python -m astrodeconv.training.unrolled -o unrolled_unet64 \\
            --n-per-regime 4000 --steps 40000 --batch-size 16 \\
            --prior UNet64 --prior-kwargs '{"base_width": 64, "n_levels": 5,
            "sigma_input": true}' --init none --lr 2e-4 --device cuda
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog='python -m astrodeconv.training.unrolled',
        description='Train an unrolled (physics-in-the-loop) deconvolver '
        'end to end.')
    parser.add_argument('-o', '--output', required=True,
                        help='directory of best.pt, log.json, examples')
    parser.add_argument('--n-per-regime', type=int, default=600)
    parser.add_argument('--val-per-regime', type=int, default=40)
    parser.add_argument('--seed', type=int, default=101)
    parser.add_argument('--val-seed', type=int, default=202)
    parser.add_argument('--n-iter', type=int, default=6)
    parser.add_argument('--prior', default='UNet64')
    parser.add_argument('--prior-kwargs', default=None,
                        help='JSON constructor arguments of the prior')
    parser.add_argument('--init', default='unet16-gauss-v1',
                        help="weights of the prior, or 'none'")
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--lr', type=float, default=1e-4)
    parser.add_argument('--hyper-lr', type=float, default=1e-3)
    parser.add_argument('--max-seconds', type=float, default=None)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--checkpoint', action='store_true',
                        help='gradient checkpointing (less memory)')
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    sets = {}
    for name, n, seed in (('val', args.val_per_regime, args.val_seed),
                          ('train', args.n_per_regime, args.seed)):
        path = out / f'{name}_examples.npz'
        if not path.exists():
            save_unrolled_examples(make_unrolled_examples(n, seed=seed), path)
        sets[name] = load_unrolled_examples(path)
    train_unrolled(
        sets['train'], sets['val'], out, n_iter=args.n_iter,
        init=None if args.init.lower() == 'none' else args.init,
        prior=args.prior,
        prior_kwargs=None if args.prior_kwargs is None else json.loads(
            args.prior_kwargs),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        hyper_lr=args.hyper_lr, max_seconds=args.max_seconds,
        threads=args.threads, device=args.device,
        checkpoint=args.checkpoint, overwrite=args.overwrite)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
