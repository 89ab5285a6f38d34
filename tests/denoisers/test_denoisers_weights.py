"""Tests of the weights registry: records, verified loading, saving."""

import hashlib

import pytest
import torch

from astrodeconv import conf
from astrodeconv.denoisers import (UNet64, WeightsRecord, get_weights,
                                   list_weights, load_denoiser,
                                   register_weights)
from astrodeconv.denoisers import weights as weights_module
from astrodeconv.utils import AstrodeconvWarning


@pytest.fixture
def registry(monkeypatch):
    """An isolated copy of the registry for the duration of a test."""
    monkeypatch.setattr(weights_module, '_REGISTRY',
                        dict(weights_module._REGISTRY))
    return weights_module._REGISTRY


@pytest.fixture
def small_net():
    torch.manual_seed(1)
    return UNet64(base_width=2, n_levels=2)


@pytest.fixture
def saved(tmp_path, small_net):
    path = tmp_path / 'unet-test.pt'
    sha = weights_module.save_denoiser(small_net, path,
                                       metadata={'epochs': 1})
    return path, sha


def record_for(path, sha, **changes):
    fields = dict(name='unet-test', architecture='UNet64',
                  filename=path.name, sha256=sha,
                  file_size=path.stat().st_size,
                  arch_kwargs={'base_width': 2, 'n_levels': 2},
                  num_params=0, training_data='test', recipe='none',
                  normalization='reference', noise_regime='any',
                  license='BSD-3-Clause')
    fields.update(changes)
    return WeightsRecord(**fields)


def test_save_is_atomic_and_hashed(saved, tmp_path):
    path, sha = saved
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ['unet-test.pt']
    with pytest.raises(FileExistsError, match='overwrite=True'):
        weights_module.save_denoiser(UNet64(base_width=2, n_levels=2), path)


def test_load_from_path_round_trip(saved, small_net):
    path, sha = saved
    net = load_denoiser(path)
    assert isinstance(net, UNet64) and not net.training
    assert net.weights_info['sha256'] == sha
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), small_net.eval()(x))


def test_load_by_name_from_weights_dir(registry, saved, monkeypatch):
    path, sha = saved
    register_weights(record_for(path, sha))
    monkeypatch.setenv('ASTRODECONV_WEIGHTS_DIR', str(path.parent))
    net = load_denoiser('unet-test')
    assert net.weights_info == {'name': 'unet-test',
                                'architecture': 'UNet64', 'sha256': sha,
                                'normalization': 'inference',
                                'task': 'tikhonov'}
    assert 'unet-test' in list(list_weights()['name'])


def test_conf_weights_dir(registry, saved, monkeypatch):
    path, sha = saved
    monkeypatch.delenv('ASTRODECONV_WEIGHTS_DIR', raising=False)
    register_weights(record_for(path, sha))
    with conf.set_temp('weights_dir', str(path.parent)):
        assert load_denoiser('unet-test').weights_info['sha256'] == sha


def test_sha_mismatch_is_an_error(registry, saved, monkeypatch):
    path, sha = saved
    register_weights(record_for(path, '0' * 64))
    monkeypatch.setenv('ASTRODECONV_WEIGHTS_DIR', str(path.parent))
    with pytest.raises(ValueError, match='does not match 0000'):
        load_denoiser('unet-test')


def test_missing_file_says_where_and_what_to_do(registry, monkeypatch,
                                                tmp_path):
    monkeypatch.setenv('ASTRODECONV_WEIGHTS_DIR', str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match=r'(?s)not found; looked in: .*'
                             'ASTRODECONV_WEIGHTS_DIR'):
        load_denoiser('sunet-akhaury2024')


def test_unregistered_hash_warns_with_the_hash(registry, saved,
                                               monkeypatch):
    path, sha = saved
    register_weights(record_for(path, None, name='nohash'))
    monkeypatch.setenv('ASTRODECONV_WEIGHTS_DIR', str(path.parent))
    with pytest.warns(AstrodeconvWarning, match=f'SHA-256 {sha}'):
        load_denoiser('nohash')


def test_unknown_name_lists_registry():
    with pytest.raises(ValueError, match="registered weights are: .*"
                                         "'sunet-akhaury2024'"):
        get_weights('nope')
    with pytest.raises(ValueError, match='unknown weights'):
        load_denoiser('nope')


def test_published_sunet_record():
    record = get_weights('sunet-akhaury2024')
    assert record.num_params == 38_365_111
    assert record.doi == '10.5281/zenodo.10287213'
    assert not record.packaged


@pytest.mark.parametrize('kwargs, exc, match', [
    ({'architecture': 'ResNet'}, ValueError, 'architecture must be one of'),
])
def test_bad_architecture(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        weights_module.build_denoiser(**kwargs)


def test_wrong_architecture_checkpoint(saved):
    path, _ = saved
    with pytest.raises(ValueError, match='holds a UNet64 checkpoint'):
        load_denoiser(path, architecture='Learnlet')
    bare = path.parent / 'bare.pt'
    torch.save(UNet64(base_width=2, n_levels=2).state_dict(), bare)
    with pytest.raises(ValueError, match='architecture must be given'):
        load_denoiser(bare)
    with pytest.raises(ValueError, match=r'5 missing keys .*shape mism'):
        load_denoiser(bare, architecture='UNet64',
                      arch_kwargs={'base_width': 2, 'n_levels': 3})
    with pytest.raises(ValueError, match='shape mismatches'):
        load_denoiser(bare, architecture='UNet64',
                      arch_kwargs={'base_width': 3, 'n_levels': 2})
    net = load_denoiser(bare, architecture='UNet64',
                        arch_kwargs={'base_width': 2, 'n_levels': 2})
    assert isinstance(net, UNet64)


def test_module_prefix_and_wrapped_dicts(tmp_path, small_net):
    state = {f'module.{k}': v for k, v in small_net.state_dict().items()}
    for wrapper in ('state_dict', 'model_state_dict'):
        path = tmp_path / f'{wrapper}.pth'
        torch.save({'epoch': 3, wrapper: state}, path)
        net = load_denoiser(path, architecture='UNet64',
                            arch_kwargs={'base_width': 2, 'n_levels': 2})
        torch.testing.assert_close(net.state_dict()['head.1.weight'],
                                   small_net.state_dict()['head.1.weight'])


def test_unreadable_files(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_denoiser(tmp_path / 'missing.pt', architecture='UNet64')
    text = tmp_path / 'notes.pt'
    text.write_text('hello')
    with pytest.raises(ValueError, match='not a readable PyTorch'):
        load_denoiser(text, architecture='UNet64')
    path, _ = saved
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match='not a readable PyTorch'):
        load_denoiser(truncated)


@pytest.mark.parametrize('change, exc, match', [
    ({'sha256': 'abc'}, ValueError, 'full 64-hex-digit'),
])
def test_bad_record(registry, saved, change, exc, match):
    path, sha = saved
    with pytest.raises(exc, match=match):
        register_weights(record_for(path, sha, **change))


def test_register_twice(registry, saved):
    path, sha = saved
    register_weights(record_for(path, sha))
    with pytest.raises(ValueError, match='already registered'):
        register_weights(record_for(path, sha))
    register_weights(record_for(path, sha), overwrite=True)
    with pytest.raises(TypeError, match='record must be a WeightsRecord'):
        register_weights({'name': 'x'})
