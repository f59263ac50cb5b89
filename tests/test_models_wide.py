"""Wide ResNet: parameter counts of the paper, the k^2 scaling, shapes and the block's maths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlcourse.arithmetic import conv_params
from dlcourse.models.wide_resnet import WideBasicBlock, wide_resnet

torch.set_num_threads(1)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("depth", "k", "millions"),
    [(40, 4, 8.9), (16, 8, 11.0), (28, 10, 36.5), (40, 1, 0.6)],  # Zagoruyko & Komodakis
)
def test_parameter_counts_of_the_paper(depth, k, millions):
    with torch.device("meta"):
        model = wide_resnet(depth, k)
    assert round(_params(model) / 1e6, 1) == millions


def test_block_parameters_scale_with_k_squared():
    # a block with c -> c channels: two 3x3 convs and two batch norms
    for c in (16, 32, 64):
        assert _params(WideBasicBlock(c, c)) == 2 * conv_params(c, c, 3, bias=False) + 4 * c
    thin, wide = _params(WideBasicBlock(16, 16)), _params(WideBasicBlock(160, 160))
    assert 98 < wide / thin < 100  # (18 c^2 + 4c): close to k^2 = 100


def test_block_forward_by_hand():
    block = WideBasicBlock(4, 8, stride=2).eval()
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    pre = F.relu(block.bn1(x))
    out = block.conv2(F.relu(block.bn2(block.conv1(pre)))) + block.shortcut(pre)
    torch.testing.assert_close(block(x), out)
    assert block(x).shape == (2, 8, 3, 3)
    same = WideBasicBlock(4, 4).eval()
    assert same.shortcut is None


def test_shapes():
    model = wide_resnet(10, 2, in_channels=1).eval()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert model.fc.in_features == 128


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (lambda: wide_resnet(12, 2), ValueError),
        (lambda: wide_resnet(4, 2), ValueError),
        (lambda: wide_resnet(16, 0), ValueError),
        (lambda: WideBasicBlock(4, 4, dropout=1.5), ValueError),
        (lambda: WideBasicBlock(4, 4, dropout="0.3"), TypeError),
    ],
)
def test_bad_arguments(factory, error):
    with pytest.raises(error):
        factory()
