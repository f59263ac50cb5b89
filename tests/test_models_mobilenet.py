"""Tests for dlcourse.models.mobilenet: the depthwise-separable block against a functional
version, MobileNet v1's size against Howard et al. (2017) Tables 1, 4 and 6, and the inverted
residual against torchvision's with the same weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TorchvisionInvertedResidual

from dlcourse.arithmetic import depthwise_separable_macs
from dlcourse.models.common import randomize_batch_norm
from dlcourse.models.mobilenet import (
    MOBILENET_V1_CONFIG,
    DepthwiseSeparable,
    InvertedResidual,
    mobilenet_v1,
)
from dlcourse.summary import summarize


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def hand_count(alpha: float = 1.0, full_conv: bool = False, bn: bool = True) -> tuple[int, int]:
    """Parameters and MACs of MobileNet v1 at 224x224 from Table 1, written out by hand."""
    c, size = int(32 * alpha), 112
    params = 3 * 3 * 3 * c + (2 * c if bn else 0)
    macs = size * size * 3 * 3 * 3 * c
    for out, stride in MOBILENET_V1_CONFIG:
        out = int(out * alpha)
        size //= stride
        if full_conv:
            params += 9 * c * out + (2 * out if bn else 0)
            macs += size * size * 9 * c * out
        else:
            params += 9 * c + c * out + (2 * (c + out) if bn else 0)
            macs += size * size * (9 * c + c * out)
        c = out
    params += c * 1000 + 1000
    macs += c * 1000
    return params, macs


def test_depthwise_separable_matches_functional_version():
    g = torch.Generator().manual_seed(0)
    block = DepthwiseSeparable(8, 16, stride=2)
    randomize_batch_norm(block, g)
    block.eval()
    x = torch.randn(2, 8, 10, 10, generator=g)
    dw, pw = block.depthwise, block.pointwise

    def bn(t: torch.Tensor, m: nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, eps=m.eps)

    expected = F.conv2d(x, dw.conv.weight, stride=2, padding=1, groups=8)
    expected = F.relu(bn(expected, dw.bn))
    expected = F.relu(bn(F.conv2d(expected, pw.conv.weight), pw.bn))
    torch.testing.assert_close(block(x), expected)
    assert block(x).shape == (2, 16, 5, 5)
    assert dw.conv.weight.shape == (8, 1, 3, 3) and pw.conv.weight.shape == (16, 8, 1, 1)
    assert n_params(block) == 9 * 8 + 2 * 8 + 8 * 16 + 2 * 16


def test_depthwise_separable_macs_as_in_the_counting_formula():
    s = summarize(DepthwiseSeparable(32, 64), (1, 32, 14, 14))
    assert (
        s.total_macs == depthwise_separable_macs(14, 14, 32, 64, 3) == 14 * 14 * (9 * 32 + 32 * 64)
    )


@pytest.mark.parametrize("full_conv", [False, True])
def test_mobilenet_v1_counts_match_hand_count(full_conv):
    s = summarize(mobilenet_v1(full_conv=full_conv), (1, 3, 224, 224))
    params, macs = hand_count(full_conv=full_conv)
    assert s.total_params == params and s.total_macs == macs
    assert s.rows[-1].output_shape == (1, 1000)


def test_mobilenet_v1_reproduces_howard_2017_tables():
    # Table 4: MobileNet 569 M mult-adds, 4.2 M parameters; Conv MobileNet 4866 M, 29.3 M.
    s = summarize(mobilenet_v1(), (1, 3, 224, 224))
    assert round(s.total_macs / 1e6) == 569 and round(s.total_params / 1e6, 1) == 4.2
    s = summarize(mobilenet_v1(full_conv=True), (1, 3, 224, 224))
    assert round(s.total_params / 1e6, 1) == 29.3
    assert abs(s.total_macs / 1e6 - 4866) < 2  # 4867.3: within 0.03% of the paper's figure
    # Table 6: width multipliers 0.75, 0.5, 0.25 at 224.
    for alpha, macs, params in [(0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)]:
        s = summarize(mobilenet_v1(alpha), (1, 3, 224, 224))
        assert round(s.total_macs / 1e6) == macs and round(s.total_params / 1e6, 1) == params


def test_mobilenet_v1_structure():
    model = mobilenet_v1(width_mult=0.25, num_classes=7)
    blocks = [m for name, m in model.named_children() if name.startswith("block")]
    assert len(blocks) == 13 and all(isinstance(b, DepthwiseSeparable) for b in blocks)
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    full = mobilenet_v1(width_mult=0.25, full_conv=True)
    assert not any(isinstance(m, DepthwiseSeparable) for m in full.modules())
    convs = [m for m in full.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 14 and all(m.groups == 1 and m.kernel_size == (3, 3) for m in convs)


@pytest.mark.parametrize(
    ("c_in", "c_out", "stride", "ratio"),
    [(16, 16, 1, 6), (16, 24, 2, 6), (32, 16, 1, 1), (24, 24, 2, 4)],
)
def test_inverted_residual_equals_torchvision(c_in, c_out, stride, ratio):
    g = torch.Generator().manual_seed(1)
    ours = InvertedResidual(c_in, c_out, stride, ratio)
    theirs = TorchvisionInvertedResidual(c_in, c_out, stride, ratio)
    assert n_params(ours) == n_params(theirs)
    assert ours.use_residual == theirs.use_res_connect == (stride == 1 and c_in == c_out)
    randomize_batch_norm(theirs, g)
    with torch.no_grad():
        for p in theirs.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    values = list(theirs.state_dict().values())
    ours.load_state_dict(dict(zip(ours.state_dict(), values, strict=True)))
    x = torch.randn(2, c_in, 9, 9, generator=g)
    for mode in ("train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        torch.testing.assert_close(ours(x), theirs(x))


def test_inverted_residual_is_linear_at_the_end():
    block = InvertedResidual(8, 8, 1, 6).eval()
    assert isinstance(block.project[-1], nn.BatchNorm2d)  # no activation after the projection
    out = block.project(block.depthwise(block.expand(torch.randn(4, 8, 6, 6))))
    assert (out < 0).any()  # a ReLU would have removed the negative values


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"width_mult": 0}, ValueError),
        ({"width_mult": "1"}, TypeError),
        ({"width_mult": 0.001}, ValueError),
        ({"full_conv": "yes"}, TypeError),
        ({"num_classes": 0}, ValueError),
    ],
)
def test_mobilenet_v1_bad_arguments(kwargs, error):
    with pytest.raises(error):
        mobilenet_v1(**kwargs)


def test_blocks_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        DepthwiseSeparable(8, 8, stride=3)
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, stride=0)
    with pytest.raises(ValueError):
        InvertedResidual(8, 8, expand_ratio=0)
