# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the one checkpoint reader."""

import datetime
import pickle

import pytest
import torch

from astrodeconv.denoisers import extract_state_dict, read_checkpoint
from astrodeconv.denoisers.sunet import checkpoint_attention_mask


def test_reads_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / 'ok.pt'
    torch.save({'state_dict': {'w': torch.ones(2)}}, path)
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    content = read_checkpoint(path)
    assert seen['weights_only'] is True
    assert torch.equal(extract_state_dict(content)['w'], torch.ones(2))


@pytest.mark.parametrize('content', [
    b'plain text, not a checkpoint\n',
    pickle.dumps({'x': 1}, protocol=2),
    'truncated'])
def test_corrupt_file_names_it_without_torch_advice(tmp_path, content):
    path = tmp_path / 'broken.pt'
    if content == 'truncated':
        torch.save({'w': torch.zeros(100)}, path)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_checkpoint(path, what='weights file')
    message = str(info.value)
    assert message.startswith(f'weights file {str(path)!r} is not a '
                              'readable PyTorch checkpoint (')
    assert 'weights_only' not in message


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / 'unsafe.pt'
    torch.save({'when': datetime.date(2024, 1, 1)}, path)
    with pytest.raises(ValueError, match=r"unsafe\.pt' holds pickled Python "
                       r'objects .*datetime\.date') as info:
        read_checkpoint(path)
    assert 'weights_only=False' not in str(info.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint '.*nope.pt' does "
                       'not exist'):
        read_checkpoint(tmp_path / 'nope.pt')
    with pytest.raises(IsADirectoryError, match='is not a file'):
        read_checkpoint(tmp_path)


def test_extract_state_dict_layouts():
    w = torch.zeros(1)
    assert list(extract_state_dict({'module.a': w}, prefix='net.')) == [
        'net.a']
    assert list(extract_state_dict({'model_state_dict': {'a': w}})) == ['a']
    with pytest.raises(ValueError, match='are not tensors'):
        extract_state_dict({'a': 1})
    with pytest.raises(ValueError, match='must hold a dict'):
        extract_state_dict(w)
    with pytest.raises(ValueError, match='same weight twice'):
        extract_state_dict({'a': w, 'module.a': w})


@pytest.mark.parametrize('checkpoint, mode', [
    # reference checkpoints: the released layout, bare state dicts
    ({'epoch': 400, 'state_dict': {'module.w': torch.zeros(1)},
      'optimizer': {}}, 'additive'),
    ({'model_state_dict': {'w': torch.zeros(1)}}, 'additive'),
    ({'w': torch.zeros(1)}, 'additive'),
    ({'arch_kwargs': torch.zeros(1)}, 'additive'),     # a weight's name
    (torch.zeros(1), 'additive'),
    # astrodeconv files: the recorded mode, 'exact' before it was recorded
    ({'architecture': 'SUNet', 'arch_kwargs': {'attention_mask': 'additive'},
      'state_dict': {}}, 'additive'),
    ({'architecture': 'SUNet', 'arch_kwargs': {'attention_mask': 'exact'},
      'state_dict': {}}, 'exact'),
    ({'architecture': 'SUNet', 'arch_kwargs': {'img_size': 32},
      'state_dict': {}}, 'exact'),
])
def test_checkpoint_attention_mask(checkpoint, mode):
    assert checkpoint_attention_mask(checkpoint) == mode


@pytest.mark.parametrize('value', ['soft', None, -100.0])
def test_checkpoint_attention_mask_bad_record(value):
    checkpoint = {'arch_kwargs': {'attention_mask': value}}
    with pytest.raises(ValueError, match=rf"records attention_mask="
                       rf"{value!r}.*'additive' or 'exact'"):
        checkpoint_attention_mask(checkpoint)
