"""Tests for dlcourse.models.inception: the Inception module and GoogLeNet against torchvision
(same outputs with the same weights), parameter and MAC counts by hand, and clear errors."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.googlenet import Inception as TorchvisionInception

from dlcourse.models.common import randomize_batch_norm
from dlcourse.models.inception import (
    GOOGLENET_INCEPTION,
    BasicConv2d,
    GoogLeNet,
    Inception,
    googlenet,
)
from dlcourse.summary import summarize

WIDTHS_3A = GOOGLENET_INCEPTION["3a"]  # (192, 64, 96, 128, 16, 32, 32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_widths_are_those_of_torchvision_googlenet():
    with torch.device("meta"):
        theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    for name, widths in GOOGLENET_INCEPTION.items():
        module = getattr(theirs, f"inception{name}")
        assert module.branch1.conv.in_channels == widths[0]
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        assert [c.out_channels for c in convs] == list(widths[1:]), name


def test_inception_equals_torchvision_module_with_the_same_weights():
    torch.manual_seed(0)
    ours = Inception(*WIDTHS_3A, kernel5=3, batch_norm=True)
    randomize_batch_norm(ours, torch.Generator().manual_seed(1))
    theirs = TorchvisionInception(*WIDTHS_3A)
    theirs.load_state_dict(ours.state_dict())  # strict: same names and shapes
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 192, 12, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, theirs(x))
    assert out.shape == (2, 64 + 128 + 32 + 32, 12, 12) and ours.out_channels == 256


def test_googlenet_equals_torchvision_with_the_same_weights():
    torch.manual_seed(0)
    ours = googlenet()
    randomize_batch_norm(ours, torch.Generator().manual_seed(3))
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    theirs.load_state_dict(ours.state_dict())
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    # torchvision's documented parameter count of GoogLeNet
    meta = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta
    assert n_params(ours) == meta["num_params"] == 6_624_904


def test_inception_3a_counts_by_hand():
    # The paper's module (5x5 kernel, biases, no norm) on 28x28x192.
    c_in, n1, r3, n3, r5, n5, pp = WIDTHS_3A
    weights = c_in * n1 + c_in * r3 + 9 * r3 * n3 + c_in * r5 + 25 * r5 * n5 + c_in * pp
    biases = n1 + r3 + n3 + r5 + n5 + pp
    with torch.device("meta"):
        module = Inception(*WIDTHS_3A, kernel5=5, batch_norm=False)
    summary = summarize(module, (1, 192, 28, 28))
    assert summary.total_params == weights + biases == 163_696
    assert summary.total_macs == 28 * 28 * weights == 128_049_152
    assert module(torch.zeros(1, 192, 28, 28, device="meta")).shape == (1, 256, 28, 28)


def test_paper_variant_has_5x5_kernels_biases_and_no_norm():
    module = Inception(*WIDTHS_3A, kernel5=5, batch_norm=False)
    assert module.branch3[1].conv.kernel_size == (5, 5)
    assert module.branch3[1].conv.padding == (2, 2)
    assert all(m.bias is not None for m in module.modules() if isinstance(m, nn.Conv2d))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in module.modules())
    assert module(torch.zeros(1, 192, 9, 9)).shape == (1, 256, 9, 9)


def test_paper_googlenet_counts():
    # 5x5 instead of 3x3 in the nine third branches, biases instead of batch norm.
    extra_5x5 = sum(16 * w[4] * w[5] for w in GOOGLENET_INCEPTION.values())
    torchvision_count = 6_624_904
    with torch.device("meta"):
        paper = googlenet(paper=True)
        tv_like = googlenet()
    bn_params = sum(2 * m.num_features for m in tv_like.modules() if isinstance(m, nn.BatchNorm2d))
    conv_biases = sum(m.out_channels for m in paper.modules() if isinstance(m, nn.Conv2d))
    assert bn_params == 2 * conv_biases  # one norm per conv
    assert n_params(paper) == torchvision_count + extra_5x5 - bn_params + conv_biases
    assert paper(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1000)


def test_basic_conv_keeps_the_size_and_uses_no_bias_before_batch_norm():
    block = BasicConv2d(4, 6, 5)
    assert block.conv.bias is None and isinstance(block.bn, nn.BatchNorm2d)
    assert block.bn.eps == 0.001
    assert block(torch.zeros(1, 4, 9, 9)).shape == (1, 6, 9, 9)
    plain = BasicConv2d(4, 6, 3, batch_norm=False)
    assert plain.conv.bias is not None and isinstance(plain.bn, nn.Identity)
    x = torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    assert (plain(x) >= 0).all()  # ends with a ReLU


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="kernel5"):
        Inception(*WIDTHS_3A, kernel5=7)
    with pytest.raises(ValueError, match="ch3x3"):
        Inception(192, 64, 96, 0, 16, 32, 32)
    with pytest.raises(TypeError, match="batch_norm"):
        BasicConv2d(3, 8, 3, batch_norm=1)
    with pytest.raises(TypeError, match="paper"):
        googlenet(paper="yes")
    with pytest.raises(ValueError, match="dropout"):
        GoogLeNet(dropout=1.5)
