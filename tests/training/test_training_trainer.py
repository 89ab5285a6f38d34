"""Tests of astrodeconv.training.Trainer: recipe, checkpoints, resume, DDP."""

import importlib.util
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from astrodeconv.denoisers import UNet64, load_denoiser
from astrodeconv.training import Trainer, TrainingHistory, warmup_cosine_lr

#: The distributed smoke test, run by torchrun as a script; its synthetic
#: pairs are the training data of these tests.
DDP_SMOKE = Path(__file__).with_name('ddp_smoke.py')


def _load_ddp_smoke():
    spec = importlib.util.spec_from_file_location('ddp_smoke', DDP_SMOKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SyntheticPairs = _load_ddp_smoke().SyntheticPairs


def tiny_unet(seed=0, base_width=2):
    torch.manual_seed(seed)
    return UNet64(base_width=base_width, n_levels=2)


def make_trainer(model, folder, *, train=None, val=None, epochs=3, **kw):
    options = {'batch_size': 4, 'lr': 1e-2, 'warmup_epochs': 1,
               'progress': False, 'log': None, 'device': 'cpu'}
    options.update(kw)
    train = SyntheticPairs(16, size=8, seed=1) if train is None else train
    val = SyntheticPairs(4, size=8, seed=2) if val is None else val
    return Trainer(model, train, val, epochs=epochs,
                   checkpoint_dir=folder, **options)


def params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


class KillAt(SyntheticPairs):
    """A dataset that interrupts training when epoch ``kill`` starts."""

    def __init__(self, *args, kill=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill = kill
        self.epochs_seen = []

    def set_epoch(self, epoch):
        self.epochs_seen.append(epoch)
        if epoch == self.kill:
            raise KeyboardInterrupt


class SigmaSpy(nn.Module):
    """A denoiser that needs sigma and records what it receives."""

    requires_sigma = True

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.sigmas = []

    def forward(self, x, sigma=None):
        self.sigmas.append(sigma)
        return self.scale * x


class NoSigmaSpy(nn.Module):
    """A plain module whose forward takes the image only."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.scale * x


@pytest.fixture(autouse=True)
def one_thread():
    # tiny networks run fastest on one thread, and the tests share the CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- import and schedule ---------------------------------------------------
def test_import_is_lazy():
    code = ('import sys, astrodeconv.training as t; '
            "print('torch' in sys.modules, 'Trainer' in dir(t))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ['False', 'True']


def test_unknown_attribute():
    import astrodeconv.training as training

    with pytest.raises(AttributeError, match='no attribute'):
        training.Nope


def test_schedule_warmup_and_end():
    kw = {'lr': 1e-3, 'epochs': 10, 'warmup_epochs': 3, 'min_lr': 1e-5}
    lrs = [warmup_cosine_lr(e, **kw) for e in range(10)]
    assert lrs[:3] == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3])
    assert lrs[3] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-5)
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:]))
    # half-way through the decay the cosine is at the mean of the bounds
    mid = warmup_cosine_lr(3, lr=1.0, epochs=6, warmup_epochs=1,
                           min_lr=0.0)
    assert mid == pytest.approx(0.5)
    assert warmup_cosine_lr(0, lr=1e-3, epochs=1, warmup_epochs=0) == 1e-3


def test_schedule_recorded_in_history(tmp_path):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=4,
                           warmup_epochs=2, lr=1e-2, min_lr=1e-4)
    history = trainer.fit()
    expected = [trainer.lr_at(e) for e in range(4)]
    assert history.column('lr') == pytest.approx(expected)
    assert expected[0] == pytest.approx(5e-3)
    assert expected[-1] == pytest.approx(1e-4)


# -- learning --------------------------------------------------------------
def test_loss_decreases(tmp_path):
    train = SyntheticPairs(64, size=16, sigma=0.5, seed=3)
    val = SyntheticPairs(8, size=16, sigma=0.5, seed=4)
    model = tiny_unet(base_width=4)
    with torch.no_grad():
        untrained = (model(val.noisy) - val.clean).abs().mean().item()
    identity = (val.noisy - val.clean).abs().mean().item()
    lines = []
    trainer = Trainer(model, train, val, epochs=6, batch_size=8, lr=1e-2,
                      warmup_epochs=1, checkpoint_dir=tmp_path,
                      device='cpu', progress=False, log=lines.append)
    history = trainer.fit()
    assert isinstance(history, TrainingHistory)
    loss = history.column('train_loss')
    val_loss = history.column('val_loss')
    assert loss[-1] < 0.8 * loss[0]
    # better than both the untrained network and no denoising at all
    assert val_loss[-1] < 0.7 * untrained
    assert val_loss[-1] < 0.7 * identity
    assert history[-1]['val_ssim'] > 0.2
    assert len(lines) == 6 and lines[0].startswith('epoch 1/6')
    assert 'samples/s' in lines[-1] and 'SSIM' in lines[-1]
    for record in history:
        assert record['world_size'] == 1
        assert record['samples_per_s'] > 0 and record['time_s'] > 0
    assert history[-1]['global_step'] == 6 * 8
    assert not trainer.model.training


def test_progress_bar_runs(tmp_path, capsys):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=1,
                           progress=True)
    trainer.fit()
    assert 'epoch 1/1' in capsys.readouterr().err


def test_mse_and_callable_loss(tmp_path):
    val = SyntheticPairs(4, size=8, seed=2)
    x, y, _ = torch.utils.data.default_collate([val[i] for i in range(4)])
    fourth = lambda out, ref: ((out - ref) ** 4).mean()  # noqa: E731
    for loss, function in (('mse', nn.functional.mse_loss),
                           (fourth, fourth)):
        trainer = make_trainer(tiny_unet(), tmp_path / str(id(loss)),
                               epochs=1, val=val, loss=loss)
        record = trainer.fit()[0]
        assert math.isfinite(record['train_loss'])
        # the validation loss is this loss of the trained network
        with torch.no_grad():
            output = trainer.model(x)
        assert record['val_loss'] == pytest.approx(
            function(output, y).item(), rel=1e-6)
        assert record['val_loss'] != pytest.approx(
            nn.functional.l1_loss(output, y).item(), rel=0.1)


# -- checkpoints -----------------------------------------------------------
def test_checkpoints_and_best_loadable(tmp_path):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=3)
    history = trainer.fit()
    assert sorted(os.listdir(tmp_path)) == ['best.pt', 'latest.pt']
    best_epoch = int(np.nanargmin(history.column('val_loss'))) + 1
    assert trainer.best_epoch == best_epoch
    assert [r['best'] for r in history].count(True) >= 1

    net = load_denoiser(tmp_path / 'best.pt')
    assert isinstance(net, UNet64) and net.arch_kwargs() == {
        'base_width': 2, 'n_levels': 2}
    raw = torch.load(tmp_path / 'best.pt', weights_only=True)
    assert set(raw) == {'architecture', 'arch_kwargs', 'num_params',
                        'state_dict', 'metadata'}
    meta = raw['metadata']
    assert meta['epoch'] == best_epoch
    assert meta['best_metric'] == 'val_loss'
    assert len(meta['history']) == best_epoch
    assert meta['config']['loss'] == 'l1' and meta['config']['epochs'] == 3

    latest = torch.load(tmp_path / 'latest.pt', weights_only=True)
    assert latest['epoch'] == 3 and len(latest['history']) == 3
    assert latest['architecture'] == 'UNet64'
    assert torch.equal(params(load_denoiser(tmp_path / 'latest.pt')),
                       params(trainer.model))
    if best_epoch == 3:
        assert torch.equal(params(net), params(trainer.model))


def test_best_is_the_payload_of_package_weights(tmp_path):
    from astrodeconv.denoisers import (denoiser_payload, package_weights,
                                       read_checkpoint)

    trainer = make_trainer(tiny_unet(), tmp_path / 'run', epochs=1)
    trainer.fit()
    best = read_checkpoint(tmp_path / 'run' / 'best.pt')
    expected = denoiser_payload(trainer.model, metadata={})
    assert set(best) == set(expected)
    assert best['architecture'] == 'UNet64'
    assert best['arch_kwargs'] == expected['arch_kwargs']
    assert best['num_params'] == expected['num_params']
    assert list(best['state_dict']) == list(expected['state_dict'])
    for key, value in expected['state_dict'].items():
        assert torch.equal(best['state_dict'][key], value)
    # packaging it rewrites the same payload, with the card as metadata
    (tmp_path / 'pkg').mkdir()
    record = package_weights(tmp_path / 'run' / 'best.pt', tmp_path / 'pkg',
                             name='tiny', metadata=best['metadata'])
    packaged = read_checkpoint(tmp_path / 'pkg' / record.filename)
    assert set(packaged) == set(best)
    assert packaged['metadata'] == best['metadata']
    for key, value in best['state_dict'].items():
        assert torch.equal(packaged['state_dict'][key], value)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=2)
    trainer._run_epoch(0)
    before = (tmp_path / 'latest.pt').read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        trainer._run_epoch(1)
    assert (tmp_path / 'latest.pt').read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['best.pt', 'latest.pt']


def test_best_tracks_train_loss_without_validation(tmp_path):
    trainer = Trainer(tiny_unet(), SyntheticPairs(16, size=8, seed=1),
                      epochs=2, batch_size=4, checkpoint_dir=tmp_path,
                      device='cpu', progress=False, log=None)
    history = trainer.fit()
    assert trainer.best_metric == 'train_loss'
    assert np.all(np.isnan(history.column('val_loss')))
    assert (tmp_path / 'best.pt').is_file()
    assert trainer.best_value == pytest.approx(
        np.min(history.column('train_loss')))


def test_val_every(tmp_path):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=3, val_every=2)
    history = trainer.fit()
    assert [r['val_loss'] is None for r in history] == [True, False, False]
    assert not history[0]['best']


# -- resume and determinism -------------------------------------------------
def test_resume_equals_uninterrupted(tmp_path):
    straight = make_trainer(tiny_unet(), tmp_path / 'a',
                            train=KillAt(16, size=8, seed=1), epochs=3)
    reference = straight.fit()

    killed_data = KillAt(16, size=8, seed=1, kill=2)
    killed = make_trainer(tiny_unet(), tmp_path / 'b', train=killed_data,
                          epochs=3)
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    assert killed.epoch == 2

    # a new process: another initialisation and disturbed global RNGs
    torch.manual_seed(1234)
    np.random.seed(99)
    lines = []
    resumed_data = KillAt(16, size=8, seed=1)
    resumed = make_trainer(tiny_unet(seed=7), tmp_path / 'b',
                           train=resumed_data, epochs=3, resume=True,
                           log=lines.append)
    assert resumed.epoch == 2 and any('resumed' in s for s in lines)
    history = resumed.fit()
    assert resumed_data.epochs_seen == [2]
    torch.testing.assert_close(params(resumed.model),
                               params(straight.model), rtol=0, atol=1e-6)
    for key in ('train_loss', 'val_loss', 'lr', 'global_step'):
        np.testing.assert_allclose(history.column(key),
                                   reference.column(key), rtol=1e-6)
    for key in ('state_dict',):
        a = torch.load(tmp_path / 'a' / 'latest.pt', weights_only=True)
        b = torch.load(tmp_path / 'b' / 'latest.pt', weights_only=True)
        for name in a[key]:
            torch.testing.assert_close(a[key][name], b[key][name],
                                       rtol=0, atol=1e-6)
    assert a['optimizer_state']['state'][0]['step'] == b[
        'optimizer_state']['state'][0]['step']


def test_resume_from_explicit_path_and_finished_run(tmp_path):
    make_trainer(tiny_unet(), tmp_path, epochs=2).fit()
    again = make_trainer(tiny_unet(seed=5), tmp_path / 'other', epochs=2,
                         resume=tmp_path)
    assert again.epoch == 2
    before = params(again.model).clone()
    assert len(again.fit()) == 2
    assert torch.equal(params(again.model), before)


def test_resume_true_without_checkpoint_starts_afresh(tmp_path):
    lines = []
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=1, resume=True,
                           log=lines.append)
    assert trainer.epoch == 0 and 'from scratch' in lines[0]


def test_same_seed_same_results(tmp_path):
    runs = []
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        trainer = make_trainer(tiny_unet(), tmp_path / name, epochs=2,
                               seed=seed)
        runs.append((trainer.fit().column('train_loss'),
                     params(trainer.model)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])


@pytest.mark.filterwarnings('ignore:.*fork.*:DeprecationWarning')
def test_worker_processes_give_the_same_results(tmp_path):
    losses = []
    for workers in (0, 1):
        trainer = make_trainer(tiny_unet(), tmp_path / str(workers),
                               epochs=2, num_workers=workers)
        losses.append(trainer.fit().column('train_loss'))
    np.testing.assert_array_equal(losses[0], losses[1])


def test_set_epoch_is_called(tmp_path):
    data = KillAt(16, size=8, seed=1)
    make_trainer(tiny_unet(), tmp_path, train=data, epochs=3).fit()
    assert data.epochs_seen == [0, 1, 2]


# -- sigma -----------------------------------------------------------------
def test_sigma_passed_when_required(tmp_path):
    spy = SigmaSpy()
    train = SyntheticPairs(8, size=8, sigma=0.25, seed=1)
    trainer = make_trainer(spy, tmp_path, train=train, epochs=1)
    trainer.fit()
    assert spy.sigmas and all(s is not None for s in spy.sigmas)
    first = spy.sigmas[0]
    assert first.shape == (4,) and torch.allclose(first, torch.tensor(0.25))
    raw = torch.load(tmp_path / 'best.pt', weights_only=True)
    assert raw['architecture'] == 'SigmaSpy'


def test_sigma_not_passed_when_not_required(tmp_path):
    spy = NoSigmaSpy()
    make_trainer(spy, tmp_path, epochs=1).fit()
    assert spy.calls > 0


def test_sigma_required_but_missing(tmp_path):
    pairs = torch.utils.data.TensorDataset(torch.zeros(8, 1, 8, 8),
                                           torch.zeros(8, 1, 8, 8))
    trainer = make_trainer(SigmaSpy(), tmp_path, train=pairs, epochs=1)
    with pytest.raises(ValueError, match='requires sigma'):
        trainer.fit()


# -- errors ----------------------------------------------------------------
@pytest.mark.parametrize('kwargs, error, match', [
    ({'epochs': 0}, ValueError, 'epochs must be an integer >= 1, got 0'),
    ({'epochs': 2.5}, TypeError, 'epochs must be an integer'),
    ({'loss': 'huber'}, ValueError,
     "Invalid loss 'huber'. Valid losses are: 'l1', 'mse'"),
    ({'loss': 3}, TypeError, 'loss must be'),
    ({'lr': 0}, ValueError, 'lr must be a finite number > 0, got 0'),
    ({'lr': -1e-3}, ValueError, 'lr must be a finite number > 0'),
    ({'min_lr': 1.0}, ValueError, r'min_lr must be <= lr'),
    ({'batch_size': 0}, ValueError, 'batch_size must be an integer >= 1'),
    ({'grad_clip': 0}, ValueError, 'grad_clip must be a finite number > 0'),
    ({'warmup_epochs': -1}, ValueError, 'warmup_epochs must be'),
    ({'val_every': 0}, ValueError, 'val_every must be'),
    ({'seed': -1}, ValueError, 'seed must be'),
    ({'log': 'yes'}, TypeError, 'log must be a callable'),
    ({'amp': True}, ValueError, 'amp=True needs a CUDA device'),
    ({'device': 'tpu'}, ValueError, 'device must be one of'),
])
def test_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_trainer(tiny_unet(), tmp_path, **kwargs)


def test_dataset_smaller_than_batch(tmp_path):
    with pytest.raises(ValueError, match=r'batch_size must not exceed .* '
                       r'got batch_size=32 for a train_dataset of length 16'):
        make_trainer(tiny_unet(), tmp_path, batch_size=32)


def test_bad_datasets(tmp_path):
    with pytest.raises(TypeError, match='train_dataset must be a map-style'):
        make_trainer(tiny_unet(), tmp_path, train=iter([1, 2]))
    with pytest.raises(ValueError, match='val_dataset must not be empty'):
        make_trainer(tiny_unet(), tmp_path, val=SyntheticPairs(0))
    with pytest.raises(TypeError, match='model must be a torch.nn.Module'):
        Trainer(lambda x: x, SyntheticPairs(8), epochs=1,
                checkpoint_dir=tmp_path)


def test_checkpoint_dir_is_a_file(tmp_path):
    path = tmp_path / 'file.txt'
    path.write_text('x')
    with pytest.raises(ValueError, match='checkpoint_dir must be a '
                       'directory, got the file'):
        make_trainer(tiny_unet(), path)


def test_resume_other_architecture(tmp_path):
    make_trainer(tiny_unet(), tmp_path, epochs=1).fit()
    with pytest.raises(ValueError, match=(
            r"holds a checkpoint of UNet64 with arch_kwargs \{'base_width': "
            r"2, 'n_levels': 2\}, but the model is UNet64 with arch_kwargs "
            r"\{'base_width': 4, 'n_levels': 2\}")):
        make_trainer(tiny_unet(base_width=4), tmp_path, resume=True)
    with pytest.raises(ValueError, match='but the model is SigmaSpy'):
        make_trainer(SigmaSpy(), tmp_path, resume=True)


def test_resume_defaults_spelled_out(tmp_path):
    torch.manual_seed(0)
    make_trainer(UNet64(base_width=2, n_levels=5), tmp_path, epochs=1,
                 train=SyntheticPairs(8, size=16), val=SyntheticPairs(
                     4, size=16)).fit()
    torch.manual_seed(0)
    trainer = make_trainer(UNet64(base_width=2), tmp_path, epochs=1,
                           train=SyntheticPairs(8, size=16), resume=True)
    assert trainer.epoch == 1


def test_resume_corrupt_or_wrong_file(tmp_path):
    make_trainer(tiny_unet(), tmp_path, epochs=1).fit()
    with pytest.raises(ValueError, match='is not an astrodeconv training '
                       'checkpoint'):
        make_trainer(tiny_unet(), tmp_path / 'x',
                     resume=tmp_path / 'best.pt')
    (tmp_path / 'latest.pt').write_bytes(b'not a checkpoint at all')
    with pytest.raises(ValueError, match='is not a readable training '
                       'checkpoint'):
        make_trainer(tiny_unet(), tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        make_trainer(tiny_unet(), tmp_path, resume=tmp_path / 'nope.pt')


def test_non_finite_loss(tmp_path):
    def nan_loss(out, ref):
        return (out - ref).abs().mean() * float('nan')

    trainer = make_trainer(tiny_unet(), tmp_path, epochs=1, loss=nan_loss)
    with pytest.raises(FloatingPointError, match='not finite'):
        trainer.fit()
    assert not (tmp_path / 'latest.pt').exists()


def test_loss_must_return_scalar(tmp_path):
    trainer = make_trainer(tiny_unet(), tmp_path, epochs=1,
                           loss=lambda out, ref: out - ref)
    with pytest.raises(TypeError, match='loss must return a scalar tensor'):
        trainer.fit()


# -- distributed -----------------------------------------------------------
def test_ddp_smoke_two_processes(tmp_path):
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', OMP_NUM_THREADS='1')
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         '--standalone', str(DDP_SMOKE), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert time.perf_counter() - start < 120
    assert (tmp_path / 'best.pt').is_file()
    assert (tmp_path / 'latest.pt').is_file()
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    assert isinstance(load_denoiser(tmp_path / 'best.pt'), UNet64)
    latest = torch.load(tmp_path / 'latest.pt', weights_only=True)
    assert latest['world_size'] == 2 and len(latest['rng_states']) == 2
    assert [r['world_size'] for r in latest['history']] == [2, 2]
    assert latest['config']['world_size'] == 2
    # 32 samples, 2 processes, batch 4 per process: 4 steps per epoch
    assert latest['global_step'] == 8
    sums = [(tmp_path / f'param_sum_rank{r}.txt').read_text()
            for r in (0, 1)]
    assert sums[0] == sums[1]
    assert (tmp_path / 'ranks_identical.txt').read_text() == 'True'
    # the lines are logged by rank 0 only
    assert out.stdout.count('epoch 2/2') == 1


def test_learnlet_normalisation_follows_every_step(tmp_path):
    from astrodeconv.denoisers import Learnlet

    torch.manual_seed(0)
    net = Learnlet(n_scales=2, n_filters=4)
    before = [s.normalisation.clone() for s in net.scales]
    trainer = make_trainer(net, tmp_path, epochs=1,
                           train=SyntheticPairs(8, size=16, seed=1),
                           val=SyntheticPairs(4, size=16, seed=2))
    with trainer:
        trainer.fit()
    after = [s.normalisation.clone() for s in net.scales]
    # the filters moved, and the stored weights are those of the new
    # filters (what update_normalisation computes from them)
    assert any(not torch.allclose(a, b) for a, b in zip(after, before))
    net.update_normalisation()
    for stored, scale in zip(after, net.scales):
        torch.testing.assert_close(stored, scale.normalisation)
