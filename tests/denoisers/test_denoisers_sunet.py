"""Tests of SUNet: layout of the released checkpoint, forward, loading."""

import collections
import datetime

import pytest
import torch

from astrodeconv.denoisers import sunet as sunet_module
from astrodeconv.denoisers.sunet import SUNet, load_sunet_checkpoint

# A small configuration with the same structure (four stages, shifted
# windows, a last stage no larger than the window) for fast tests.
SMALL = dict(img_size=32, embed_dim=12, depths=(2, 2, 2, 2),
             num_heads=(2, 2, 2, 2), window_size=4)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """
    Run these tests on one thread: the networks are small or run once, and
    thread synchronisation would dominate on a busy machine.
    """
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(scope='module')
def full_model():
    torch.manual_seed(0)
    return SUNet().eval()


@pytest.fixture(scope='module')
def full_state(full_model):
    return full_model.state_dict()


def small_model(seed=1, **kwargs):
    torch.manual_seed(seed)
    return SUNet(**{**SMALL, **kwargs}).eval()


def randomise(model, seed=2):
    """Give every parameter (LayerNorms, PReLUs, biases) random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1
                    + (1.0 if p.ndim == 1 and p.numel() > 1 else 0.0))
    return model


def run(model, x, **kwargs):
    with torch.inference_mode():
        return model(x, **kwargs)


# ---------------------------------------------------------------------------
# The layout of the released checkpoint
# (SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth)

def test_parameter_and_entry_counts(full_model, full_state):
    assert sum(p.numel() for p in full_model.parameters()) == 38_365_111
    assert len(full_state) == 747
    assert all(k.startswith('swin_unet.') for k in full_state)
    prefixes = collections.Counter(k.split('.')[1] for k in full_state)
    assert prefixes == {'layers': 473, 'layers_up': 256,
                        'concat_back_dim': 6, 'patch_embed': 4,
                        'conv_first': 2, 'norm': 2, 'norm_up': 2,
                        'prelu': 1, 'output': 1}


def test_parameter_counts_per_part(full_model):
    parts = {'layers.0': 78_960, 'layers.1': 756_336,
             'layers.2': 3_869_760, 'layers.3': 28_420_224,
             'layers_up.0': 627_074, 'layers_up.1': 3_730_178,
             'layers_up.2': 721_106, 'layers_up.3': 60_144,
             'conv_first': 480, 'patch_embed': 2_448,
             'concat_back_dim': 97_104, 'output': 432}
    net = full_model.swin_unet
    for name, count in parts.items():
        module = net.get_submodule(name)
        assert sum(p.numel() for p in module.parameters()) == count, name


REPRESENTATIVE = {
    'prelu.weight': (1,),
    'conv_first.weight': (48, 1, 3, 3),
    'conv_first.bias': (48,),
    'patch_embed.proj.weight': (48, 48, 1, 1),
    'patch_embed.proj.bias': (48,),
    'patch_embed.norm.weight': (48,),
    'patch_embed.norm.bias': (48,),
    'layers.0.blocks.0.norm1.weight': (48,),
    'layers.0.blocks.0.attn.relative_position_bias_table': (225, 8),
    'layers.0.blocks.0.attn.relative_position_index': (64, 64),
    'layers.0.blocks.0.attn.qkv.weight': (144, 48),
    'layers.0.blocks.0.attn.qkv.bias': (144,),
    'layers.0.blocks.0.attn.proj.weight': (48, 48),
    'layers.0.blocks.0.attn.proj.bias': (48,),
    'layers.0.blocks.0.norm2.bias': (48,),
    'layers.0.blocks.0.mlp.fc1.weight': (192, 48),
    'layers.0.blocks.0.mlp.fc1.bias': (192,),
    'layers.0.blocks.0.mlp.fc2.weight': (48, 192),
    'layers.0.blocks.1.attn_mask': (256, 64, 64),
    'layers.0.downsample.reduction.weight': (96, 192),
    'layers.0.downsample.norm.weight': (192,),
    'layers.1.blocks.5.attn_mask': (64, 64, 64),
    'layers.1.downsample.reduction.weight': (192, 384),
    'layers.2.blocks.7.attn_mask': (16, 64, 64),
    'layers.2.downsample.reduction.weight': (384, 768),
    'layers.3.blocks.15.attn.qkv.weight': (1152, 384),
    'layers.3.blocks.15.mlp.fc1.weight': (1536, 384),
    'layers.3.blocks.15.attn_mask': (4, 64, 64),
    'norm.weight': (384,),
    'layers_up.0.conv.weight': (192, 384, 1, 1),
    'layers_up.0.up_p.0.weight': (768, 384, 1, 1),
    'layers_up.0.up_p.1.weight': (1,),
    'layers_up.0.up_p.3.weight': (192, 192, 1, 1),
    'layers_up.0.up_b.0.weight': (384, 384, 1, 1),
    'layers_up.0.up_b.0.bias': (384,),
    'layers_up.0.up_b.1.weight': (1,),
    'layers_up.0.up_b.3.weight': (192, 384, 1, 1),
    'layers_up.1.blocks.7.attn.qkv.weight': (576, 192),
    'layers_up.1.blocks.7.attn_mask': (16, 64, 64),
    'layers_up.1.upsample.up_p.0.weight': (384, 192, 1, 1),
    'layers_up.1.upsample.up_b.3.weight': (96, 192, 1, 1),
    'layers_up.2.blocks.5.attn.qkv.weight': (288, 96),
    'layers_up.2.upsample.conv.weight': (48, 96, 1, 1),
    'layers_up.3.blocks.1.attn_mask': (256, 64, 64),
    'concat_back_dim.1.weight': (192, 384),
    'concat_back_dim.1.bias': (192,),
    'concat_back_dim.2.weight': (96, 192),
    'concat_back_dim.3.weight': (48, 96),
    'concat_back_dim.3.bias': (48,),
    'norm_up.weight': (48,),
    'output.weight': (1, 48, 3, 3),
}


def test_representative_keys_and_shapes(full_state):
    for key, shape in REPRESENTATIVE.items():
        assert tuple(full_state['swin_unet.' + key].shape) == shape, key
    absent = ['output.bias', 'concat_back_dim.0.weight',
              'layers.0.blocks.0.attn_mask', 'layers.3.downsample.norm.weight',
              'layers_up.3.upsample.conv.weight', 'up.weight',
              'layers_up.0.up_p.3.bias', 'layers.0.downsample.reduction.bias']
    for key in absent:
        assert 'swin_unet.' + key not in full_state, key


def test_blocks_and_buffers(full_state):
    blocks = collections.Counter()
    masks = {}
    for key, value in full_state.items():
        parts = key.split('.')
        if parts[-1] == 'relative_position_index':
            blocks['.'.join(parts[1:3])] += 1
            assert value.dtype == torch.int64
            assert tuple(value.shape) == (64, 64)
        if parts[-1] == 'attn_mask':
            masks['.'.join(parts[1:5])] = tuple(value.shape)
            assert int(parts[4]) % 2 == 1
            assert set(value.unique().tolist()) == {0.0, -100.0}
    assert blocks == {'layers.0': 2, 'layers.1': 6, 'layers.2': 8,
                      'layers.3': 16, 'layers_up.1': 8, 'layers_up.2': 6,
                      'layers_up.3': 2}
    assert len(masks) == 24
    assert masks['layers.3.blocks.1'] == (4, 64, 64)
    assert masks['layers_up.3.blocks.1'] == (256, 64, 64)


def test_attention_scale(full_model):
    attn = full_model.swin_unet.layers[0].blocks[0].attn
    assert attn.scale == 8.0
    assert full_model.swin_unet.layers[3].blocks[0].attn.scale == 8.0
    default = small_model(qk_scale=None).swin_unet.layers[1].blocks[0].attn
    assert default.scale == pytest.approx((24 // 2) ** -0.5)


# ---------------------------------------------------------------------------
# Forward pass

def test_forward_full_model(full_model):
    assert full_model.fixed_size == (128, 128)
    assert SUNet.fixed_size == (128, 128)
    assert SUNet.requires_sigma is False
    x = torch.randn(1, 1, 128, 128)
    out = run(full_model, x)
    assert out.shape == (1, 1, 128, 128)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('threads', [1, 2])
def test_an_image_alone_equals_it_inside_a_batch(threads):
    # oneDNN takes another convolution kernel for a batch of one image,
    # which rounded differently (up to 2.5e-6 on the published model)
    net = randomise(small_model())
    torch.manual_seed(5)
    x = torch.randn(4, 1, 32, 32)
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            alone = [net(x[i:i + 1]) for i in range(4)]
            for size in (2, 3, 4):
                batch = net(x[:size])
                for i in range(size):
                    assert torch.equal(alone[i], batch[i:i + 1])
    finally:
        torch.set_num_threads(1)


def test_published_configuration_alone_equals_batch(full_model):
    torch.manual_seed(6)
    x = torch.randn(2, 1, 128, 128)
    with torch.no_grad():
        assert torch.equal(full_model(x[:1]), full_model(x)[:1])


def test_a_batch_of_one_has_gradients():
    net = randomise(small_model())
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    net(x).square().sum().backward()
    conv = net.swin_unet.conv_first
    assert x.grad is not None and conv.weight.grad is not None
    # the gradient of the image alone is its gradient inside a batch
    pair = x.detach().repeat(2, 1, 1, 1).requires_grad_(True)
    net.zero_grad()
    net(pair)[:1].square().sum().backward()
    torch.testing.assert_close(pair.grad[:1], x.grad, rtol=1e-5, atol=1e-7)


def test_sigma_is_ignored():
    net = randomise(small_model())
    x = torch.randn(2, 1, 32, 32)
    ref = run(net, x)
    assert torch.equal(run(net, x, sigma=0.3), ref)
    assert torch.equal(run(net, x, sigma=torch.tensor([0.1, 0.2])), ref)


@pytest.mark.parametrize('shape', [(1, 1, 64, 64), (1, 1, 256, 256),
                                   (1, 1, 128, 96)])
def test_other_sizes_raise(full_model, shape):
    with pytest.raises(ValueError, match='tiled inference'):
        full_model(torch.zeros(shape))


def test_bad_inputs_raise():
    net = small_model()
    with pytest.raises(ValueError, match=r'x must have shape \(B, 1, H, W\)'):
        net(torch.zeros(1, 2, 32, 32))
    with pytest.raises(TypeError, match='x must be a torch.Tensor'):
        net(torch.zeros(1, 1, 32, 32).numpy())
    two = small_model(in_chans=2, out_chans=3)
    assert run(two, torch.zeros(1, 2, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match=r'x must have shape \(B, 2, H, W\)'):
        two(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match='tiled inference'):
        two(torch.zeros(1, 2, 16, 16))


def reference_relative_position_index(w):
    """The coordinate-difference construction of the Swin Transformer."""
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel = rel.clone()
    rel[:, :, 0] += w - 1
    rel[:, :, 1] += w - 1
    rel[:, :, 0] *= 2 * w - 1
    return rel.sum(-1)


def partition(x, ws):
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def reverse(windows, ws, h, w):
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def reference_mask(h, w, ws, s, value=-100.0):
    """The region-label construction of the Swin Transformer."""
    img = torch.zeros(1, h, w, 1)
    count = 0
    for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
        for vs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            img[:, hs, vs, :] = count
            count += 1
    win = partition(img, ws).squeeze(-1)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, value).masked_fill(mask == 0, 0.0)


def reference_logits(block, x):
    """
    The attention logits ``s q k^T + bias`` of a block, in the windows of
    the reference code (rolled and partitioned), and the value tokens.
    """
    h, w = block.resolution
    ws, s = block.window_size, block.shift_size
    b, length, c = x.shape
    heads = block.attn.num_heads
    n = ws * ws
    y = block.norm1(x).view(b, h, w, c)
    if s:
        y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
    win = partition(y, ws)
    qkv = block.attn.qkv(win).reshape(-1, n, 3, heads, c // heads)
    qkv = qkv.permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = (q * block.attn.scale) @ k.transpose(-2, -1)
    table = block.attn.relative_position_bias_table
    index = block.attn.relative_position_index
    bias = table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)
    return attn + bias.unsqueeze(0), v


def reference_block(block, x, mask_value=-100.0):
    """
    A Swin block as in the reference code: roll, partition, softmax.

    Token pairs from different regions get ``mask_value`` added to their
    logits (-100 in the reference code), the mask being built here from
    the region labels, not taken from the block.
    """
    h, w = block.resolution
    ws, s = block.window_size, block.shift_size
    b, length, c = x.shape
    heads = block.attn.num_heads
    n = ws * ws
    attn, v = reference_logits(block, x)
    if s:
        mask = reference_mask(h, w, ws, s, mask_value).to(attn.dtype)
        nw = mask.shape[0]
        attn = attn.view(-1, nw, heads, n, n)
        attn = attn + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, n, n)
    attn = attn.softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(-1, n, c)
    out = reverse(block.attn.proj(out), ws, h, w)
    if s:
        out = torch.roll(out, shifts=(s, s), dims=(1, 2))
    x = x + out.reshape(b, length, c)
    return x + block.mlp(block.norm2(x))


def reference_merge(merging, x):
    h, w = merging.resolution
    b, _, c = x.shape
    x = x.view(b, h, w, c)
    x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                   x[:, 1::2, 1::2]], -1).view(b, -1, 4 * c)
    return merging.reduction(merging.norm(x))


def reference_forward(model, x, mask_value=-100.0):
    """The whole network with the reference block and merging."""
    net = model.swin_unet
    x = net.patch_embed(net.conv_first(x))
    if net.absolute_pos_embed is not None:
        x = x + net.absolute_pos_embed
    skips = []
    for layer in net.layers:
        skips.append(x)
        for block in layer.blocks:
            x = reference_block(block, x, mask_value)
        if layer.downsample is not None:
            x = reference_merge(layer.downsample, x)
    x = net.norm(x)
    x = net.layers_up[0](x)
    for k in range(1, len(net.layers_up)):
        x = torch.cat([x, skips[len(skips) - 1 - k]], -1)
        x = net.concat_back_dim[k](x)
        layer = net.layers_up[k]
        for block in layer.blocks:
            x = reference_block(block, x, mask_value)
        if layer.upsample is not None:
            x = layer.upsample(x)
    x = net.norm_up(x)
    b, length, c = x.shape
    side = int(length ** 0.5)
    x = x.transpose(1, 2).reshape(b, c, side, side)
    return net.output(net.up(x))


def test_buffers_match_reference_construction():
    for w in (2, 4, 8):
        assert torch.equal(sunet_module._relative_position_index(w),
                           reference_relative_position_index(w))
    for h, ws in ((16, 4), (32, 8), (128, 8)):
        mask = sunet_module._shift_attention_mask(h, h, ws, ws // 2)
        assert torch.equal(mask, reference_mask(h, h, ws, ws // 2))
        # Only windows of the last row or column mix regions.
        assert int((mask != 0).flatten(1).any(1).sum()) == 2 * h // ws - 1


@pytest.mark.parametrize('shift', [0, 2])
def test_block_matches_reference(shift):
    torch.manual_seed(3)
    block = sunet_module._SwinBlock(
        16, (16, 16), 4, window_size=4, shift_size=shift, mlp_ratio=4.0,
        qkv_bias=True, qk_scale=8, drop=0.0, attn_drop=0.0,
        drop_path=0.1).eval()
    randomise(block, seed=4)
    x = torch.randn(3, 256, 16)
    with torch.inference_mode():
        expected = reference_block(block, x)
        torch.testing.assert_close(block(x), expected, rtol=1e-5,
                                   atol=1e-5)
    # With autograd (training code path) the result is the same.
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, present, absent', [
    (dict(patch_size=2), 'patch_embed.proj.weight', 'absolute_pos_embed'),
    (dict(ape=True), 'absolute_pos_embed', 'output.bias'),
    (dict(patch_norm=False, qkv_bias=False), 'conv_first.bias',
     'patch_embed.norm.weight'),
])
def test_other_configurations(kwargs, present, absent):
    net = randomise(small_model(**kwargs))
    state = net.state_dict()
    assert 'swin_unet.' + present in state
    assert 'swin_unet.' + absent not in state
    x = torch.randn(2, 1, 32, 32)
    out = run(net, x)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, reference_forward(net, x), rtol=1e-4,
                               atol=1e-5)


def test_small_block_disables_shift():
    block = sunet_module._SwinBlock(
        8, (4, 4), 2, window_size=8, shift_size=4, mlp_ratio=4.0,
        qkv_bias=True, qk_scale=None, drop=0.0, attn_drop=0.0,
        drop_path=0.0)
    assert block.shift_size == 0
    assert block.window_size == 4
    assert block.attn_mask is None


@pytest.mark.parametrize('chunk', [2 ** 20, 6144, 1])
def test_network_matches_reference(monkeypatch, chunk):
    # Small chunks force the chunked evaluation through every path.
    monkeypatch.setattr(sunet_module, '_CPU_CHUNK_ELEMENTS', chunk)
    net = randomise(small_model())
    x = torch.randn(2, 1, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), reference_forward(net, x),
                                   rtol=1e-4, atol=1e-5)


def test_sdpa_equals_explicit_attention():
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 4, 3, 16, 6, generator=gen)
               for _ in range(3))
    bias = torch.randn(3, 16, 16, generator=gen)
    mask = torch.where(torch.rand(4, 1, 16, 16, generator=gen) < 0.3,
                       -100.0, 0.0)
    expected = torch.softmax((q * 8) @ k.transpose(-2, -1) + bias + mask,
                             dim=-1) @ v
    for use_sdpa in (False, True):
        out = sunet_module._attention(q, k, v, bias, 8.0, mask=mask,
                                      use_sdpa=use_sdpa)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_sdpa_backend_gives_the_same_network(monkeypatch):
    net = randomise(small_model())
    x = torch.randn(2, 1, 32, 32)
    monkeypatch.setattr(sunet_module._WindowAttention, 'backend',
                        'explicit')
    explicit = run(net, x)
    monkeypatch.setattr(sunet_module._WindowAttention, 'backend', 'sdpa')
    torch.testing.assert_close(run(net, x), explicit, rtol=1e-5,
                               atol=1e-5)


# ---------------------------------------------------------------------------
# Attention mask modes: the reference's additive -100, or a true mask

def small_block(**kwargs):
    """A randomised shifted-window block (mask on a 16 x 16 grid)."""
    torch.manual_seed(3)
    kwargs = {**dict(window_size=4, shift_size=2, mlp_ratio=4.0,
                     qkv_bias=True, qk_scale=8, drop=0.0, attn_drop=0.0,
                     drop_path=0.0), **kwargs}
    block = sunet_module._SwinBlock(16, (16, 16), 2, **kwargs).eval()
    return randomise(block, seed=4)


def scale_query_key(module, factor):
    """Multiply the query and key weights of every attention by factor."""
    with torch.no_grad():
        for attn in module.modules():
            if isinstance(attn, sunet_module._WindowAttention):
                attn.qkv.weight[:2 * attn.dim] *= factor
    return module


def masked_excess(block, x):
    """
    Largest excess of a masked logit over the largest unmasked logit of
    its row: above about 85 the -100 of the reference no longer masks.
    """
    with torch.no_grad():
        logits, _ = reference_logits(block, x)
    h, w = block.resolution
    masked = reference_mask(h, w, block.window_size, block.shift_size) != 0
    n = masked.shape[-1]
    logits = logits.view(-1, masked.shape[0], block.attn.num_heads, n, n)
    masked = masked[None, :, None]
    inf = float('inf')
    excess = (logits.masked_fill(~masked, -inf).amax(-1)
              - logits.masked_fill(masked, -inf).amax(-1))
    return float(excess.max())


def test_mask_modes_of_the_block():
    block = small_block()
    assert block.mask_mode == 'exact'
    assert 'mask_mode' in repr(block)
    assert small_block(mask_mode='additive').mask_mode == 'additive'
    # The reference's mask is the buffer of the state dict; the -inf one is
    # not saved.
    assert set(block.state_dict()) == set(small_block(
        mask_mode='additive').state_dict())
    assert 'attn_mask' in block.state_dict()
    assert 'region_mask' not in block.state_dict()
    assert set(block.attn_mask.unique().tolist()) == {0.0, -100.0}
    with pytest.raises(ValueError, match="attention_mask must be 'additive' "
                       "or 'exact', got 'soft'"):
        block.set_mask_mode('soft')
    assert block.mask_mode == 'exact'
    unshifted = small_block(shift_size=0)
    assert unshifted.attn_mask is None
    assert 'mask_mode' not in repr(unshifted)


@pytest.mark.parametrize('backend', ['explicit', 'sdpa'])
def test_mask_modes_agree_with_normal_weights(monkeypatch, backend):
    monkeypatch.setattr(sunet_module._WindowAttention, 'backend', backend)
    net = randomise(small_model())
    x = torch.randn(2, 1, 32, 32)
    exact = run(net, x)
    assert net.attention_mask == 'exact'
    additive = run(net.set_attention_mask('additive'), x)
    torch.testing.assert_close(additive, exact, rtol=1e-6, atol=1e-6)
    # Both are the reference formula.
    with torch.inference_mode():
        torch.testing.assert_close(additive, reference_forward(net, x),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('chunk', [2 ** 20, 1])
@pytest.mark.parametrize('backend', ['explicit', 'sdpa'])
def test_additive_mask_is_the_reference_with_large_logits(monkeypatch,
                                                          backend, chunk):
    monkeypatch.setattr(sunet_module._WindowAttention, 'backend', backend)
    monkeypatch.setattr(sunet_module, '_CPU_CHUNK_ELEMENTS', chunk)
    block = scale_query_key(small_block(), 3)
    x = torch.randn(2, 256, 16, generator=torch.Generator().manual_seed(5))
    # Some masked pairs have logits more than 100 above the largest
    # unmasked one of their row: the -100 does not mask them.
    assert masked_excess(block, x) > 100
    with torch.inference_mode():
        # softmax(s q k^T + bias + mask) with the -100 of the reference
        expected = reference_block(block, x, mask_value=-100.0)
        true_mask = reference_block(block, x, mask_value=float('-inf'))
        block.set_mask_mode('additive')
        additive = block(x)
        block.set_mask_mode('exact')
        exact = block(x)
    # The fused kernel sums in another order: logits of about 300 carry
    # float32 rounding errors of about 2e-5.
    tol = 1e-6 if backend == 'explicit' else 1e-5
    torch.testing.assert_close(additive, expected, rtol=tol, atol=tol)
    torch.testing.assert_close(exact, true_mask, rtol=tol, atol=tol)
    assert float((additive - exact).abs().max()) > 1e-2


def test_additive_mask_gradients_are_the_reference_ones():
    # The CPU path floors the logits at 80 below their row maximum (no
    # denormal weights): the gradients are those of the plain formula.
    block = scale_query_key(small_block(mask_mode='additive'), 3)
    x = torch.randn(2, 256, 16, generator=torch.Generator().manual_seed(5))
    params = [block.attn.qkv.weight, block.attn.relative_position_bias_table]
    out = block(x)
    grads = torch.autograd.grad(out.square().sum(), params)
    expected = reference_block(block, x)
    expected_grads = torch.autograd.grad(expected.square().sum(), params)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize('floor_logits', [False, True])
def test_attention_masks_in_both_formulations(floor_logits):
    # Logits of a few hundred (in float64, free of rounding errors): the
    # -100 leaves some masked pairs their weight, and the floor at 80 below
    # the row maximum is reached.
    gen = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 4, 3, 16, 6, generator=gen,
                           dtype=torch.float64) * 2 for _ in range(3))
    bias = torch.randn(3, 16, 16, generator=gen, dtype=torch.float64)
    masked = torch.rand(4, 1, 16, 16, generator=gen) < 0.3
    masked[..., torch.arange(16), torch.arange(16)] = False
    logits = (q * 8) @ k.transpose(-2, -1) + bias
    assert float(logits.amax(-1).sub(logits.amin(-1)).max()) > 200
    outputs = []
    for value in (-100.0, float('-inf')):
        mask = torch.where(masked, value, 0.0).to(torch.float64)
        expected = torch.softmax(logits + mask, dim=-1) @ v
        outputs.append(expected)
        for use_sdpa in (False, True):
            if value == float('-inf') and floor_logits and not use_sdpa:
                continue        # flooring is for finite masks only
            out = sunet_module._attention(q, k, v, bias, 8.0, mask=mask,
                                          use_sdpa=use_sdpa,
                                          floor_logits=floor_logits)
            torch.testing.assert_close(out, expected, rtol=1e-10,
                                       atol=1e-10)
    assert float((outputs[0] - outputs[1]).abs().max()) > 1e-2


def test_attention_mask_of_the_model():
    net = small_model()
    assert net.attention_mask == 'exact'
    assert net.config['attention_mask'] == 'exact'
    # Recorded even when left to its default.
    assert net.arch_kwargs() == {**SMALL, 'attention_mask': 'exact'}
    blocks = [m for m in net.modules()
              if isinstance(m, sunet_module._SwinBlock)]
    assert {b.mask_mode for b in blocks} == {'exact'}
    assert net.set_attention_mask('additive') is net
    assert {b.mask_mode for b in blocks} == {'additive'}
    assert net.config['attention_mask'] == 'additive'
    assert net.arch_kwargs() == {**SMALL, 'attention_mask': 'additive'}
    built = small_model(attention_mask='additive')
    assert built.attention_mask == 'additive'
    assert {m.mask_mode for m in built.modules()
            if isinstance(m, sunet_module._SwinBlock)} == {'additive'}
    # The state dict does not depend on the mode.
    assert list(built.state_dict()) == list(small_model().state_dict())
    with pytest.raises(ValueError, match="attention_mask must be"):
        net.set_attention_mask('-100')
    assert net.attention_mask == 'additive'


def test_large_logit_network_modes_differ():
    # The outputs of the blocks are damped by the following layers: scale
    # more than in the test of one block.
    net = scale_query_key(randomise(small_model()), 16)
    x = torch.randn(2, 1, 32, 32)
    with torch.inference_mode():
        expected = reference_forward(net, x)
    additive = run(net.set_attention_mask('additive'), x)
    exact = run(net.set_attention_mask('exact'), x)
    torch.testing.assert_close(additive, expected, rtol=1e-4, atol=1e-5)
    assert float((additive - exact).abs().max()) > 1e-2


def test_drop_path_only_in_training():
    net = randomise(small_model(drop_path_rate=0.5))
    x = torch.randn(4, 1, 32, 32)
    ref = run(net, x)
    assert torch.equal(run(net, x), ref)
    net.train()
    torch.manual_seed(0)
    out = net(x)
    assert not torch.allclose(out, ref)
    out.square().mean().backward()
    table = net.swin_unet.layers[0].blocks[1].attn.relative_position_bias_table
    assert table.grad is not None
    net.eval()
    assert torch.equal(run(net, x), ref)


def test_gradient_path_equals_inference_path():
    net = randomise(small_model())
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(net(x), run(net, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('kwargs, match', [
    (dict(img_size=30), 'img_size must be a multiple of'),
    (dict(num_heads=(2, 2, 2)), 'num_heads must have one entry per stage'),
    (dict(num_heads=(5, 2, 2, 2)), 'num_heads must divide'),
    (dict(depths=(2,), num_heads=(2,)), 'depths must have at least 2'),
    (dict(depths=(2, 0, 2, 2)), 'depths must be a sequence of integers'),
    (dict(window_size=3), 'window_size must divide'),
    (dict(window_size=0), 'window_size must be an integer >= 1'),
    (dict(qk_scale=0), 'qk_scale must be None or positive'),
    (dict(drop_path_rate=1.0), r'drop_path_rate must be in \[0, 1\)'),
    (dict(final_upsample='Dual up-sample'), "final_upsample must be"),
    (dict(attention_mask=-100), "attention_mask must be 'additive' or "
     "'exact', got -100"),
    (dict(attention_mask='Exact'), "attention_mask must be"),
])
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SUNet(**{**SMALL, **kwargs})


def test_bad_configuration_types():
    with pytest.raises(TypeError, match='img_size must be an integer >= 1, '
                       'got 128.0 of type float'):
        SUNet(img_size=128.0)
    with pytest.raises(TypeError, match='depths must be a sequence'):
        SUNet(depths=2)


# ---------------------------------------------------------------------------
# Checkpoints

def released_layout(model):
    """The layout of train.py (DataParallel keys, epoch, Adam state)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    model(torch.zeros(1, 1, *model.fixed_size)).sum().backward()
    optimizer.step()
    model.zero_grad()
    state = {'module.' + k: v for k, v in model.state_dict().items()}
    return {'epoch': 400, 'state_dict': state,
            'optimizer': optimizer.state_dict()}


@pytest.fixture(scope='module')
def trained():
    """A randomised small SUNet, an input and its output."""
    net = randomise(small_model(seed=7), seed=8)
    x = torch.randn(2, 1, 32, 32)
    return net, x, run(net, x)


def load_small(source):
    return load_sunet_checkpoint(source, model=small_model(seed=99))


def test_round_trip_released_layout(tmp_path, trained):
    x = trained[1]
    path = tmp_path / 'SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth'
    net = randomise(small_model(seed=7), seed=8)
    checkpoint = released_layout(net)
    expected = run(net.eval(), x)
    assert all(k.startswith('module.swin_unet.')
               for k in checkpoint['state_dict'])
    torch.save(checkpoint, path)
    for source in (path, str(path)):
        loaded = load_small(source)
        assert isinstance(loaded, SUNet)
        assert not loaded.training
        assert torch.equal(run(loaded, x), expected)


@pytest.mark.parametrize('layout', ['model_state_dict', 'bare', 'no_prefix',
                                    'module_no_prefix', 'no_buffers'])
def test_round_trip_other_layouts(tmp_path, trained, layout):
    net, x, expected = trained
    state = net.state_dict()
    if layout == 'model_state_dict':
        checkpoint = {'model_state_dict': state, 'epoch': 3}
    elif layout == 'bare':
        checkpoint = state
    elif layout == 'no_prefix':
        checkpoint = net.swin_unet.state_dict()
    elif layout == 'module_no_prefix':
        checkpoint = {'module.' + k: v
                      for k, v in net.swin_unet.state_dict().items()}
    else:
        checkpoint = {'state_dict': {
            k: v for k, v in state.items()
            if not k.endswith(('relative_position_index', 'attn_mask'))}}
    path = tmp_path / 'checkpoint.pt'
    torch.save(checkpoint, path)
    loaded = load_small(path)
    assert loaded.attention_mask == 'additive'
    assert torch.equal(run(loaded, x), expected)
    # An already loaded dict works the same.
    assert torch.equal(run(load_small(checkpoint), x), expected)


def test_load_into_default_model(full_model, full_state):
    loaded = load_sunet_checkpoint({'state_dict': full_state})
    assert isinstance(loaded, SUNet)
    # The published configuration, with the reference's mask.
    assert full_model.attention_mask == 'exact'
    assert loaded.attention_mask == 'additive'
    assert loaded.config == {**full_model.config,
                             'attention_mask': 'additive'}
    table = 'swin_unet.layers.3.blocks.15.attn.relative_position_bias_table'
    assert torch.equal(loaded.state_dict()[table], full_state[table])


def test_missing_file(tmp_path):
    path = tmp_path / 'nothere.pth'
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        load_small(path)
    with pytest.raises(IsADirectoryError, match='is not a file'):
        load_small(tmp_path)


def test_text_file(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('this is not a checkpoint\n')
    with pytest.raises(ValueError, match=r"notes\.txt.* is not a readable "
                       'PyTorch checkpoint'):
        load_small(path)


def test_truncated_file(tmp_path, trained):
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': trained[0].state_dict()}, full)
    data = full.read_bytes()
    path = tmp_path / 'truncated.pth'
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'truncated\.pth.* is not a '
                       'readable PyTorch checkpoint'):
        load_small(path)


def test_unsafe_pickle(tmp_path, trained):
    path = tmp_path / 'unsafe.pth'
    torch.save({'state_dict': trained[0].state_dict(),
                'saved': datetime.date(2024, 1, 1)}, path)
    with pytest.raises(ValueError, match=r'unsafe\.pth.* refuses to load '
                       r'.*datetime\.date.*weights_only=False'):
        load_small(path)


def test_file_without_dict(tmp_path):
    path = tmp_path / 'tensor.pt'
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match='must hold a dict'):
        load_small(path)


def test_wrong_architecture():
    # A UNet-like state dict: nothing in common with SUNet.
    unet = {'inc.conv.0.weight': torch.zeros(64, 1, 3, 3),
            'inc.conv.0.bias': torch.zeros(64),
            'down1.conv.0.weight': torch.zeros(128, 64, 3, 3),
            'outc.weight': torch.zeros(1, 64, 1, 1)}
    n_expected = sum(1 for k in small_model().state_dict()
                     if not k.endswith(('relative_position_index',
                                        'attn_mask')))
    with pytest.raises(ValueError, match=(
            rf'checkpoint does not match SUNet: {n_expected} missing keys '
            r'\(swin_unet\..*\), 4 unexpected keys \(swin_unet\.inc')):
        load_small({'state_dict': unet})


def test_deeper_checkpoint():
    deeper = small_model(depths=(2, 2, 2, 4)).state_dict()
    with pytest.raises(ValueError,
                       match=r'28 unexpected keys \(swin_unet\.layers\.3'):
        load_small(deeper)
    shallower = small_model(depths=(2, 2, 2, 1)).state_dict()
    with pytest.raises(ValueError, match=r'13 missing keys'):
        load_small(shallower)


def test_shape_mismatch():
    state = dict(small_model().state_dict())
    key = 'swin_unet.conv_first.weight'
    state[key] = torch.zeros(16, 1, 3, 3)
    with pytest.raises(ValueError, match=(
            r'1 shape mismatches \(swin_unet\.conv_first\.weight: '
            r'checkpoint \(16, 1, 3, 3\) vs model \(12, 1, 3, 3\)\)')):
        load_small(state)
    wider = small_model(embed_dim=16).state_dict()
    with pytest.raises(ValueError, match=r'\d+ shape mismatches'):
        load_small(wider)


def test_buffer_mismatch():
    state = dict(small_model().state_dict())
    key = 'swin_unet.layers.0.blocks.1.attn_mask'
    state[key] = torch.zeros_like(state[key])
    model = small_model()
    with pytest.raises(ValueError, match=f'buffer {key} must equal'):
        load_sunet_checkpoint(state, model=model)
    # A failed load leaves the mode alone.
    assert model.attention_mask == 'exact'


def test_bad_arguments(trained):
    with pytest.raises(TypeError, match='path_or_dict must be a path or a '
                       'dict, got int'):
        load_small(3)
    with pytest.raises(TypeError, match='model must be a SUNet'):
        load_sunet_checkpoint({}, model=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="entries 'epoch'"):
        load_small({'epoch': 3, 'weights': trained[0].state_dict()})


# ---------------------------------------------------------------------------
# The attention mask of loaded and saved models

@pytest.fixture(scope='module')
def large_logits():
    """
    A small SUNet whose masked logits get far above their row maximum, an
    input, and the outputs of the reference formula (additive -100) and of
    a true mask.
    """
    net = scale_query_key(randomise(small_model(seed=7), seed=8), 16)
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.inference_mode():
        additive = reference_forward(net, x)
        exact = reference_forward(net, x, mask_value=float('-inf'))
    assert float((additive - exact).abs().max()) > 1e-2
    return net, x, additive, exact


def test_released_checkpoint_gives_the_reference_outputs(tmp_path,
                                                         large_logits):
    net, x, additive, exact = large_logits
    path = tmp_path / 'SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth'
    torch.save({'epoch': 400, 'state_dict': {
        'module.' + k: v for k, v in net.state_dict().items()}}, path)
    loaded = load_small(path)
    assert loaded.attention_mask == 'additive'
    assert loaded.arch_kwargs()['attention_mask'] == 'additive'
    assert {m.mask_mode for m in loaded.modules()
            if isinstance(m, sunet_module._SwinBlock)} == {'additive'}
    torch.testing.assert_close(run(loaded, x), additive, rtol=1e-4,
                               atol=1e-5)
    # A model built with an explicit mode keeps it.
    for model in (small_model(attention_mask='exact'),
                  small_model().set_attention_mask('exact')):
        kept = load_sunet_checkpoint(path, model=model)
        assert kept.attention_mask == 'exact'
        torch.testing.assert_close(run(kept, x), exact, rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize('how', ['default', 'constructor', 'set',
                                 'reference checkpoint'])
def test_mode_survives_save_and_load(tmp_path, large_logits, how):
    from astrodeconv.denoisers import load_denoiser, save_denoiser

    net, x, additive, exact = large_logits
    state = net.state_dict()
    if how == 'default':
        model, mode = small_model(), 'exact'
        model.load_state_dict(state)
    elif how == 'constructor':
        model, mode = small_model(attention_mask='additive'), 'additive'
        model.load_state_dict(state)
    elif how == 'set':
        model, mode = small_model(), 'additive'
        model.load_state_dict(state)
        model.set_attention_mask('additive')
    else:
        model, mode = load_small({'state_dict': state}), 'additive'
    path = tmp_path / 'sunet.pt'
    save_denoiser(model, path)
    raw = torch.load(path, weights_only=True)
    assert raw['arch_kwargs'] == {**SMALL, 'attention_mask': mode}
    loaded = load_denoiser(path)
    assert isinstance(loaded, SUNet)
    assert loaded.attention_mask == mode
    expected = additive if mode == 'additive' else exact
    torch.testing.assert_close(run(loaded, x), expected, rtol=1e-4,
                               atol=1e-5)
    # Saved again, still the same mode.
    again = tmp_path / 'again.pt'
    save_denoiser(loaded, again)
    assert load_denoiser(again).attention_mask == mode


def test_load_denoiser_of_other_files(tmp_path, large_logits):
    from astrodeconv.denoisers import load_denoiser

    net, x, additive, exact = large_logits
    # A bare reference file described by the caller: the reference's mask,
    # unless the caller chose another one.
    bare = tmp_path / 'reference.pth'
    torch.save({'state_dict': net.state_dict()}, bare)
    loaded = load_denoiser(bare, architecture='SUNet', arch_kwargs=SMALL)
    assert loaded.attention_mask == 'additive'
    torch.testing.assert_close(run(loaded, x), additive, rtol=1e-4,
                               atol=1e-5)
    chosen = load_denoiser(bare, architecture='SUNet',
                           arch_kwargs={**SMALL, 'attention_mask': 'exact'})
    assert chosen.attention_mask == 'exact'
    # A file of astrodeconv written before the mode existed: the forward
    # pass of that time (a true mask).
    old = tmp_path / 'old.pt'
    torch.save({'architecture': 'SUNet', 'arch_kwargs': dict(SMALL),
                'num_params': 0, 'state_dict': net.state_dict(),
                'metadata': {}}, old)
    loaded = load_denoiser(old)
    assert loaded.attention_mask == 'exact'
    torch.testing.assert_close(run(loaded, x), exact, rtol=1e-4, atol=1e-5)
    assert load_sunet_checkpoint(old, model=small_model()).attention_mask == (
        'exact')
    # A recorded mode that is not one.
    bad = tmp_path / 'bad.pt'
    torch.save({'architecture': 'SUNet',
                'arch_kwargs': {**SMALL, 'attention_mask': 'soft'},
                'state_dict': net.state_dict()}, bad)
    with pytest.raises(ValueError, match="attention_mask='soft'"):
        load_sunet_checkpoint(bad, model=small_model())


def test_training_checkpoints_without_the_mode_still_match():
    # The trainer compares the arch_kwargs of latest.pt with the model's,
    # defaults filled in: a file written before the mode existed matches a
    # new model with the default mode.
    from astrodeconv.training._checkpointing import full_kwargs

    assert full_kwargs(SUNet, dict(SMALL)) == full_kwargs(
        SUNet, small_model().arch_kwargs())
    assert full_kwargs(SUNet, dict(SMALL)) != full_kwargs(
        SUNet, small_model(attention_mask='additive').arch_kwargs())
