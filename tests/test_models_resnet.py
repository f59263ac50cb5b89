"""Tests for dlcourse.models.resnet: the blocks and nets against torchvision's (same parameter
counts, equal outputs after load_state_dict), hand-counted parameters, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet as tv

from dlcourse.models.common import randomize_batch_norm
from dlcourse.models.resnet import (
    BasicBlock,
    Bottleneck,
    PadShortcut,
    ResNet,
    cifar_resnet,
    conv1x1,
    resnet18,
    resnet34,
    resnet50,
)

torch.set_num_threads(1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def projection(inplanes: int, outplanes: int, stride: int) -> nn.Sequential:
    """torchvision's downsample: 1x1 conv with the stride, then BN."""
    return nn.Sequential(conv1x1(inplanes, outplanes, stride), nn.BatchNorm2d(outplanes))


def check_same(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    assert n_params(ours) == n_params(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    randomize_batch_norm(theirs, torch.Generator().manual_seed(0))
    ours.load_state_dict(theirs.state_dict())
    for mode in ("train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x))


BLOCK_CASES = [
    # (block, inplanes, planes, stride, groups, base_width)
    ("basic", 16, 16, 1, 1, 64),
    ("basic", 16, 32, 2, 1, 64),
    ("bottleneck", 64, 16, 1, 1, 64),
    ("bottleneck", 32, 16, 2, 1, 64),
    ("bottleneck", 64, 16, 1, 32, 4),  # ResNeXt 32x4d
    ("bottleneck", 64, 32, 2, 32, 4),
    ("bottleneck", 64, 16, 1, 1, 128),  # Wide ResNet-50-2
    ("bottleneck", 32, 16, 2, 1, 128),
]


@pytest.mark.parametrize("kind,inplanes,planes,stride,groups,base_width", BLOCK_CASES)
def test_blocks_equal_torchvision(kind, inplanes, planes, stride, groups, base_width):
    ours_cls, theirs_cls = (
        (BasicBlock, tv.BasicBlock) if kind == "basic" else (Bottleneck, tv.Bottleneck)
    )
    out = planes * ours_cls.expansion
    assert ours_cls.expansion == theirs_cls.expansion
    needs_projection = stride != 1 or inplanes != out
    torch.manual_seed(0)
    ours = ours_cls(
        inplanes,
        planes,
        stride,
        projection(inplanes, out, stride) if needs_projection else None,
        groups,
        base_width,
    )
    theirs = theirs_cls(
        inplanes,
        planes,
        stride,
        projection(inplanes, out, stride) if needs_projection else None,
        groups,
        base_width,
    )
    for name in ("conv1", "bn1", "conv2", "bn2", "relu", "downsample"):
        assert hasattr(ours, name)
    if kind == "bottleneck":
        assert isinstance(ours.conv3, nn.Conv2d) and isinstance(ours.bn3, nn.BatchNorm2d)
        assert ours.conv2.groups == groups
    x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(1))
    check_same(ours, theirs, x)
    assert ours(x).shape == (2, out, 8 // stride, 8 // stride)


def test_block_parameter_counts_by_hand():
    # Basic 64 -> 64: two 3x3 convs without bias, two BNs (2 parameters per channel).
    assert n_params(BasicBlock(64, 64)) == 2 * (64 * 64 * 9) + 2 * 2 * 64
    # Bottleneck on 256-d (paper Fig. 5): 1x1 256->64, 3x3 64->64, 1x1 64->256, three BNs.
    assert n_params(Bottleneck(256, 64)) == 256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256)
    # ResNeXt 32x4d: width 128 in 32 groups of 4 channels: the 3x3 has 128 * 4 * 9 weights.
    block = Bottleneck(256, 64, groups=32, base_width=4)
    assert block.conv2.weight.shape == (128, 4, 3, 3)
    assert n_params(block) == 256 * 128 + 128 * 4 * 9 + 128 * 256 + 2 * (128 + 128 + 256)
    # Wide ResNet-50-2: width 2 * planes.
    block = Bottleneck(256, 64, base_width=128)
    assert n_params(block) == 256 * 128 + 128 * 128 * 9 + 128 * 256 + 2 * (128 + 128 + 256)


@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck])
def test_plain_block_has_same_parameters_and_no_shortcut(cls):
    torch.manual_seed(0)
    inplanes = 8 * cls.expansion
    res = cls(inplanes, 8)
    plain = cls(inplanes, 8, residual=False)
    plain.load_state_dict(res.state_dict())
    assert n_params(plain) == n_params(res)
    x = torch.randn(2, inplanes, 6, 6)
    res.eval()
    plain.eval()
    with torch.no_grad():
        # The residual block computes relu(f(x) + x), the plain one relu(f(x)).
        f = res.relu(res.bn1(res.conv1(x)))
        if cls is Bottleneck:
            f = res.bn3(res.conv3(res.relu(res.bn2(res.conv2(f)))))
        else:
            f = res.bn2(res.conv2(f))
        torch.testing.assert_close(plain(x), torch.relu(f))
        torch.testing.assert_close(res(x), torch.relu(f + x))


def test_block_bad_arguments():
    with pytest.raises(ValueError, match="groups=1 and base_width=64"):
        BasicBlock(16, 16, groups=2)
    with pytest.raises(ValueError, match="groups=1 and base_width=64"):
        BasicBlock(16, 16, base_width=32)
    with pytest.raises(NotImplementedError, match="Dilation"):
        BasicBlock(16, 16, dilation=2)
    with pytest.raises(ValueError, match="positive"):
        BasicBlock(0, 16)
    with pytest.raises(TypeError, match="int"):
        Bottleneck(16, 4.0)
    with pytest.raises(ValueError, match="width"):
        Bottleneck(16, 1, base_width=8)


@pytest.mark.parametrize(
    "ours,theirs,weights,params",
    [
        (resnet18, tv.resnet18, tv.ResNet18_Weights.IMAGENET1K_V1, 11_689_512),
        (resnet34, tv.resnet34, tv.ResNet34_Weights.IMAGENET1K_V1, 21_797_672),
    ],
)
def test_resnets_equal_torchvision(ours, theirs, weights, params):
    torch.manual_seed(0)
    a, b = ours(), theirs(weights=None)
    assert n_params(a) == weights.meta["num_params"] == params
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    check_same(a, b, x)


def test_resnet50_and_resnext_parameter_counts_match_torchvision():
    meta = tv.ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]
    assert n_params(resnet50()) == n_params(tv.resnet50()) == meta == 25_557_032
    resnext = ResNet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4)
    assert n_params(resnext) == tv.ResNeXt50_32X4D_Weights.IMAGENET1K_V1.meta["num_params"]
    assert list(resnext.state_dict()) == list(tv.resnext50_32x4d().state_dict())


def test_resnet_bad_arguments():
    with pytest.raises(TypeError, match="BasicBlock or Bottleneck"):
        ResNet(nn.Conv2d, [2, 2, 2, 2])
    with pytest.raises(ValueError, match="four block counts"):
        ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="positive"):
        ResNet(BasicBlock, [2, 0, 2, 2])


def test_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = PadShortcut(3, 5, stride=2)(x)
    assert out.shape == (2, 5, 2, 2)
    torch.testing.assert_close(out[:, :3], x[:, :, ::2, ::2])
    assert (out[:, 3:] == 0).all()
    assert n_params(PadShortcut(3, 5)) == 0
    with pytest.raises(ValueError, match="planes must be >= inplanes"):
        PadShortcut(4, 2)


@pytest.mark.parametrize("depth,n", [(8, 1), (20, 3), (56, 9)])
def test_cifar_resnet_depth_and_parameters(depth, n):
    res, plain = cifar_resnet(depth), cifar_resnet(depth, residual=False)
    convs = [m for m in res.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in res.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth == 6 * n + 2
    # By hand: stem 3x3 1->16 and BN; per stage the first block's two convs then n-1 blocks.
    stem = 9 * 16 + 2 * 16
    stage1 = n * (2 * 9 * 16 * 16 + 2 * 2 * 16)
    stage2 = 9 * 16 * 32 + 9 * 32 * 32 + 2 * 2 * 32 + (n - 1) * (2 * 9 * 32 * 32 + 2 * 2 * 32)
    stage3 = 9 * 32 * 64 + 9 * 64 * 64 + 2 * 2 * 64 + (n - 1) * (2 * 9 * 64 * 64 + 2 * 2 * 64)
    fc = 64 * 10 + 10
    assert n_params(res) == n_params(plain) == stem + stage1 + stage2 + stage3 + fc
    assert list(res.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 1, 28, 28)
    assert res(x).shape == plain(x).shape == (2, 10)


def test_cifar_resnet_plain_and_residual_differ_only_by_the_shortcuts():
    torch.manual_seed(0)
    res, plain = cifar_resnet(8), cifar_resnet(8, residual=False)
    plain.load_state_dict(res.state_dict())
    res.eval()
    plain.eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(res(x), plain(x))
        for block in plain.modules():
            if isinstance(block, BasicBlock):
                block.residual = True
        torch.testing.assert_close(res(x), plain(x))


def test_cifar_resnet_bad_arguments():
    for depth in (7, 10, 2):
        with pytest.raises(ValueError, match="6n \\+ 2"):
            cifar_resnet(depth)
    with pytest.raises(TypeError, match="int"):
        cifar_resnet(20.0)
    with pytest.raises(ValueError, match="three channel counts"):
        cifar_resnet(8, widths=(16, 32))
