"""ConvNeXt against torchvision's ``CNBlock``, ``LayerNorm2d`` and ``convnext_tiny``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision import models
from torchvision.models import convnext as tv

from dlcourse.models.convnext import (
    ConvNeXtBlock,
    LayerNorm2d,
    convnext,
    convnext28,
    convnext_tiny,
    downsample_layer,
    load_torchvision_convnext,
    patchify_stem,
    stochastic_depth,
)
from dlcourse.summary import summarize

torch.set_num_threads(1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_layernorm2d_by_hand_and_against_torchvision():
    x = torch.randn(2, 6, 4, 5, generator=_gen(0)) * 3 + 1
    ours = LayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(6, generator=_gen(1)))
        ours.bias.copy_(torch.randn(6, generator=_gen(2)))
    ref = tv.LayerNorm2d(6, eps=1e-6)
    ref.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), ref(x))
    # by hand at one position: normalize the 6 channel values
    v = x[1, :, 2, 3]
    hand = (v - v.mean()) / torch.sqrt(v.var(unbiased=False) + 1e-6) * ours.weight + ours.bias
    torch.testing.assert_close(ours(x)[1, :, 2, 3], hand)
    # not GroupNorm(1, C), which normalizes over C, H, W together
    assert not torch.allclose(LayerNorm2d(6)(x), F.group_norm(x, 1), atol=1e-3)


def test_block_equals_cnblock_with_nontrivial_layer_scale():
    ref = tv.CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.0).eval()
    with torch.no_grad():
        ref.layer_scale.copy_(torch.randn(16, 1, 1, generator=_gen(3)))
    ours = ConvNeXtBlock(16).eval()
    load_torchvision_convnext(ours, ref.state_dict())
    x = torch.randn(2, 16, 9, 9, generator=_gen(4))
    out = ours(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, ref(x))
    assert (out - x).abs().max() > 0.1  # the residual branch contributes: the test can fail
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_block_starts_close_to_identity():
    block = ConvNeXtBlock(8).eval()
    x = torch.randn(1, 8, 6, 6, generator=_gen(5))
    assert (block(x) - x).abs().max() < 1e-4


def test_block_parameter_count_by_hand():
    c = 96
    # depthwise 7x7 + bias, LayerNorm, 1x1 c -> 4c, 1x1 4c -> c (with biases), layer scale
    expected = (49 * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c
    assert sum(p.numel() for p in ConvNeXtBlock(c).parameters()) == expected == 79_296


def test_convnext_tiny_equals_torchvision_and_counts():
    ref = models.convnext_tiny(weights=None).eval()
    ours = convnext_tiny().eval()
    load_torchvision_convnext(ours, ref.state_dict())
    x = torch.randn(1, 3, 64, 64, generator=_gen(6))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    meta = models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1.meta
    with torch.device("meta"):
        shell = convnext_tiny()
    summary = summarize(shell, (1, 3, 224, 224))
    assert summary.total_params == meta["num_params"] == 28_589_128
    assert round(summary.total_macs / 1e9, 3) == meta["_ops"]


def test_stem_and_downsampling_shapes():
    assert patchify_stem(3, 96, 4)(torch.zeros(1, 3, 224, 224)).shape == (1, 96, 56, 56)
    assert downsample_layer(96, 192)(torch.zeros(1, 96, 56, 56)).shape == (1, 192, 28, 28)
    model = convnext28().eval()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_stochastic_depth():
    x = torch.ones(2000, 3, 2, 2)
    torch.testing.assert_close(stochastic_depth(x, 0.3, training=False), x)
    torch.manual_seed(0)
    out = stochastic_depth(x, 0.25, training=True)
    per_sample = out.flatten(1)
    kept = per_sample[per_sample != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)  # whole samples
    assert abs((per_sample[:, 0] == 0).float().mean().item() - 0.25) < 0.04
    assert abs(out.mean().item() - 1.0) < 0.06  # expectation kept


def test_drop_path_rate_grows_linearly():
    model = convnext((1, 2, 2), (8, 16, 32), drop_path_rate=0.2)
    probs = [m.drop_prob for m in model.modules() if isinstance(m, ConvNeXtBlock)]
    assert probs == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def test_load_rejects_wrong_keys():
    with pytest.raises(RuntimeError):
        load_torchvision_convnext(ConvNeXtBlock(8), tv.CNBlock(16, 1e-6, 0.0).state_dict())
    with pytest.raises(ValueError, match="unexpected"):
        load_torchvision_convnext(ConvNeXtBlock(8), {"block.1.weight": torch.zeros(1)})


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (lambda: ConvNeXtBlock(0), ValueError),
        (lambda: ConvNeXtBlock(8, kernel_size=4), ValueError),
        (lambda: ConvNeXtBlock(8, drop_prob=1.0), ValueError),
        (lambda: ConvNeXtBlock(8, layer_scale="big"), TypeError),
        (lambda: LayerNorm2d(4)(torch.zeros(1, 3, 2, 2)), ValueError),
        (lambda: convnext((2, 2), (8,)), ValueError),
        (lambda: stochastic_depth(torch.zeros(2, 2), -0.1, True), ValueError),
    ],
)
def test_bad_arguments(factory, error):
    with pytest.raises(error):
        factory()
