"""Residual networks (He et al., 2016, "Deep residual learning for image recognition"), written
like torchvision's ``models/resnet.py`` so that the blocks load torchvision's state dicts.

- :class:`BasicBlock`: two 3x3 convolutions and a shortcut (ResNet-18/34, the CIFAR nets).
- :class:`Bottleneck`: 1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut (ResNet-50/101/152);
  ``groups`` and ``base_width`` give ResNeXt and Wide ResNet blocks.
- :class:`ResNet` and :func:`resnet18`, :func:`resnet34`, :func:`resnet50`: the ImageNet
  nets, with torchvision's layer names (``conv1, bn1, relu, maxpool, layer1..layer4, avgpool,
  fc``), so ``load_state_dict`` takes torchvision's weights.
- :class:`PadShortcut` and :func:`cifar_resnet`: the paper's CIFAR-10 nets (depth ``6n + 2``,
  16-32-64 channels, parameter-free "option A" shortcuts) for 28x28 grey images, with or
  without shortcuts.

Both take torchvision's constructor arguments (``inplanes, planes, stride, downsample, groups,
base_width, dilation, norm_layer``) and have its attribute names (``conv1, bn1, conv2, bn2,
(conv3, bn3), relu, downsample, expansion``), plus one keyword-only switch of this book,
``residual=False``, which drops the shortcut and leaves the same layers and parameters: the
"plain" counterpart of the paper. Shapes in the comments are ``(N, C, H, W)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..initialization import _positive_int

__all__ = [
    "conv3x3",
    "conv1x1",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "PadShortcut",
    "cifar_resnet",
]


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution, padding ``dilation`` (same size at stride 1), no bias (a BN follows)."""
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _check_block_args(
    inplanes: object,
    planes: object,
    stride: object,
    groups: object,
    base_width: object,
    dilation: object,
) -> tuple[int, int, int, int, int, int]:
    return (
        _positive_int("inplanes", inplanes),
        _positive_int("planes", planes),
        _positive_int("stride", stride),
        _positive_int("groups", groups),
        _positive_int("base_width", base_width),
        _positive_int("dilation", dilation),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)``.

    ``x``: ``(N, inplanes, H, W)`` -> ``(N, planes, H / stride, W / stride)``. When the shape
    changes (``stride > 1`` or ``inplanes != planes``) the shortcut needs ``downsample``, a
    module mapping ``x`` to the output shape (torchvision: 1x1 conv with the stride + BN).
    ``residual=False`` computes the same layers without adding the shortcut.
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        inplanes, planes, stride, groups, base_width, dilation = _check_block_args(
            inplanes, planes, stride, groups, base_width, dilation
        )
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)  # the stride sits here
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = bool(residual)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, inplanes, H, W)
        out = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H/stride, W/stride)
        out = self.bn2(self.conv2(out))  # (N, planes, H/stride, W/stride)
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)  # same shape as out
            out = out + identity
        return self.relu(out)  # (N, planes, H/stride, W/stride)


class Bottleneck(nn.Module):
    """1x1 (reduce to ``width``), 3x3 (``width``, ``groups``), 1x1 (expand to ``4 * planes``),
    each followed by BN, and a shortcut; ReLU after the first two and after the sum.

    ``width = int(planes * base_width / 64) * groups``: ``planes`` for ResNet-50, ``2 *
    planes`` for Wide ResNet-50-2 (``base_width=128``), ``planes / 2`` in 32 groups for
    ResNeXt-50 32x4d (``groups=32, base_width=4``). ``x``: ``(N, inplanes, H, W)`` -> ``(N, 4 *
    planes, H / stride, W / stride)``. As in torchvision ("ResNet v1.5") the stride sits on the
    3x3 convolution; the paper put it on the first 1x1. ``downsample`` and ``residual`` as in
    :class:`BasicBlock`.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        inplanes, planes, stride, groups, base_width, dilation = _check_block_args(
            inplanes, planes, stride, groups, base_width, dilation
        )
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        if width < 1:
            raise ValueError(
                f"Bottleneck width int(planes * base_width / 64) * groups must be >= 1, got "
                f"planes={planes}, base_width={base_width}, groups={groups}"
            )
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)  # the stride sits here
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.residual = bool(residual)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, inplanes, H, W)
        out = self.relu(self.bn1(self.conv1(x)))  # (N, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, width, H/stride, W/stride)
        out = self.bn3(self.conv3(out))  # (N, 4*planes, H/stride, W/stride)
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)  # same shape as out
            out = out + identity
        return self.relu(out)  # (N, 4*planes, H/stride, W/stride)


class ResNet(nn.Module):
    """The ImageNet ResNet: a 7x7 stride-2 convolution and a 3x3 stride-2 max pool (224 ->
    56), four stages of ``layers[i]`` blocks with 64, 128, 256, 512 ``planes`` (stages 2-4
    start with stride 2: 56 -> 28 -> 14 -> 7), global average pooling and one linear layer.

    The first block of a stage gets a projection shortcut (1x1 convolution with the stride,
    then BN) when the shape changes: the paper's "option B". ``groups`` and
    ``width_per_group`` are passed to every block as ``groups`` and ``base_width``.
    Initialization as torchvision: He (fan-out) normal for convolutions, BN weight 1, bias 0.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        groups: int = 1,
        width_per_group: int = 64,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if not isinstance(layers, (list, tuple)) or len(layers) != 4:
            raise ValueError(f"layers must be a list of four block counts, got {layers!r}")
        layers = [_positive_int("layers[i]", n) for n in layers]
        num_classes = _positive_int("num_classes", num_classes)
        self.groups = _positive_int("groups", groups)
        self.base_width = _positive_int("width_per_group", width_per_group)
        in_channels = _positive_int("in_channels", in_channels)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(
                block(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
            )
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, 3, 224, 224)
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 64, 112, 112)
        x = self.maxpool(x)  # (N, 64, 56, 56)
        x = self.layer1(x)  # (N, 64 e, 56, 56), e = block.expansion
        x = self.layer2(x)  # (N, 128 e, 28, 28)
        x = self.layer3(x)  # (N, 256 e, 14, 14)
        x = self.layer4(x)  # (N, 512 e, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 512 e)
        return self.fc(x)  # (N, num_classes)


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2]; 11,689,512 parameters for 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3]; 21,797,672 parameters for 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3]; 25,557,032 parameters for 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


class PadShortcut(nn.Module):
    """The paper's parameter-free "option A" shortcut for CIFAR: keep every ``stride``-th pixel
    and append zero channels, ``(N, inplanes, H, W) -> (N, planes, H / stride, W / stride)``."""

    def __init__(self, inplanes: int, planes: int, stride: int = 2) -> None:
        super().__init__()
        self.inplanes = _positive_int("inplanes", inplanes)
        self.planes = _positive_int("planes", planes)
        self.stride = _positive_int("stride", stride)
        if planes < inplanes:
            raise ValueError(f"planes must be >= inplanes, got {planes} < {inplanes}")

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (N, inplanes, H/stride, W/stride)
        extra = self.planes - self.inplanes
        # F.pad pads the last dims first: (W left, W right, H top, H bottom, C front, C back)
        return nn.functional.pad(x, (0, 0, 0, 0, 0, extra))  # (N, planes, H/s, W/s)


def cifar_resnet(
    depth: int,
    residual: bool = True,
    widths: tuple[int, int, int] = (16, 32, 64),
    num_classes: int = 10,
    in_channels: int = 1,
) -> nn.Sequential:
    """The paper's CIFAR-10 network (Sec. 4.2) of ``depth = 6n + 2`` layers for small images.

    A 3x3 convolution to ``widths[0]`` channels (+ BN, ReLU), three stages of ``n``
    :class:`BasicBlock` with ``widths[0..2]`` channels (stages 2 and 3 halve the size: 28 ->
    14 -> 7), global average pooling and a linear layer: ``2 + 6n`` weighted layers. The
    shortcuts that change shape are :class:`PadShortcut` (no parameters), so with
    ``residual=False`` the net is the paper's "plain" counterpart with exactly the same layers
    and parameters. Initialization: He (fan-out) normal as in :class:`ResNet`.
    """
    depth = _positive_int("depth", depth)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth}")
    if not isinstance(widths, (list, tuple)) or len(widths) != 3:
        raise ValueError(f"widths must be three channel counts, got {widths!r}")
    widths = tuple(_positive_int("widths[i]", w) for w in widths)
    n = (depth - 2) // 6
    layers: dict[str, nn.Module] = {
        "conv1": conv3x3(_positive_int("in_channels", in_channels), widths[0]),
        "bn1": nn.BatchNorm2d(widths[0]),
        "relu": nn.ReLU(inplace=True),
    }
    inplanes = widths[0]
    for stage, planes in enumerate(widths, start=1):
        blocks = []
        for i in range(n):
            stride = 2 if stage > 1 and i == 0 else 1
            shortcut = None
            if stride != 1 or inplanes != planes:
                shortcut = PadShortcut(inplanes, planes, stride)
            blocks.append(BasicBlock(inplanes, planes, stride, shortcut, residual=residual))
            inplanes = planes
        layers[f"layer{stage}"] = nn.Sequential(*blocks)
    layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(inplanes, _positive_int("num_classes", num_classes))
    model = nn.Sequential(OrderedDict(layers))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model
