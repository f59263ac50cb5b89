"""DenseNet's building blocks (Huang et al., 2017, "Densely connected convolutional networks"),
written like torchvision's ``models/densenet.py`` so that they load its state dicts.

Inside a dense block every layer receives the *concatenation* of the block's input and of all
earlier layers' outputs, and adds ``k`` new channels (the growth rate ``k``): after ``l``
layers a block that started with ``c0`` channels has ``c0 + l * k``. A transition between two
blocks halves the channels (compression 0.5) with a 1x1 convolution and the size with 2x2
average pooling. Shapes in the comments are ``(N, C, H, W)``.

- :class:`DenseLayer`: BN-ReLU-1x1 conv (``bn_size * k`` channels) then BN-ReLU-3x3 conv
  (``k`` channels), the "DenseNet-B" bottleneck layer.
- :class:`DenseBlock`: ``num_layers`` dense layers, the concatenation of everything as output.
- :class:`Transition`: BN-ReLU-1x1 conv-2x2 average pool.
- :func:`densenet28`: a small DenseNet-BC for 28x28 grey images.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..initialization import _positive_int
from .common import _probability

__all__ = ["DenseLayer", "DenseBlock", "Transition", "densenet28"]


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to ``bn_size * growth_rate``) then BN-ReLU-conv3x3 (to
    ``growth_rate``); dropout on the new features when ``drop_rate > 0``.

    ``x``: the concatenated features so far, ``(N, in_channels, H, W)`` -> the *new* features
    ``(N, growth_rate, H, W)``; the block concatenates them. Parameter names as torchvision's
    ``_DenseLayer`` (``norm1, relu1, conv1, norm2, relu2, conv2``).
    """

    def __init__(
        self, in_channels: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        growth_rate = _positive_int("growth_rate", growth_rate)
        bn_size = _positive_int("bn_size", bn_size)
        self.drop_rate = _probability("drop_rate", drop_rate)
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, inner, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(inner, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, in_channels, H, W), everything the block has computed so far
        out = self.conv1(self.relu1(self.norm1(x)))  # (N, bn_size * k, H, W)
        out = self.conv2(self.relu2(self.norm2(out)))  # (N, k, H, W)
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.Module):
    """``num_layers`` dense layers; layer ``i`` (from 0) sees ``in_channels + i * growth_rate``
    channels. ``x``: ``(N, in_channels, H, W)`` -> ``(N, in_channels + num_layers *
    growth_rate, H, W)``, the input and every layer's output concatenated along the channels.
    Layers are named ``denselayer1 ..`` as in torchvision's ``_DenseBlock``.
    """

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        num_layers = _positive_int("num_layers", num_layers)
        in_channels = _positive_int("in_channels", in_channels)
        growth_rate = _positive_int("growth_rate", growth_rate)
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:
        features = x  # (N, c0, H, W)
        for layer in self.children():
            new = layer(features)  # (N, k, H, W)
            features = torch.cat([features, new], dim=1)  # (N, c0 + (i+1) k, H, W)
        return features


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1-avgpool2x2 between two dense blocks: ``(N, in_channels, H, W)`` ->
    ``(N, out_channels, H/2, W/2)``; DenseNet-BC uses ``out_channels = in_channels / 2``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


def densenet28(
    growth_rate: int = 12,
    block_config: tuple[int, ...] = (4, 4, 4),
    num_init_features: int = 24,
    bn_size: int = 4,
    in_channels: int = 1,
    num_classes: int = 10,
) -> nn.Sequential:
    """A small DenseNet-BC for 28x28 images, in the manner of the paper's CIFAR networks.

    A 3x3 stem convolution to ``num_init_features`` channels, then one dense block per entry
    of ``block_config`` with a transition (compression 0.5, 28 -> 14 -> 7) between them, a
    final BN-ReLU, global average pooling and a linear classifier. The stem of ImageNet
    DenseNets (7x7 stride 2 and max pooling) would shrink a 28x28 image too early.
    """
    growth_rate = _positive_int("growth_rate", growth_rate)
    num_init_features = _positive_int("num_init_features", num_init_features)
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    if not isinstance(block_config, (tuple, list)) or not block_config:
        raise ValueError(f"block_config must be a non-empty tuple of ints, got {block_config!r}")
    block_config = tuple(_positive_int("block_config entry", n) for n in block_config)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv0"] = nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False)
    channels = num_init_features
    for i, num_layers in enumerate(block_config, start=1):
        block = DenseBlock(num_layers, channels, growth_rate, bn_size)
        layers[f"denseblock{i}"] = block  # (N, c + num_layers * k, H, W)
        channels = block.out_channels
        if i < len(block_config):
            layers[f"transition{i}"] = Transition(channels, channels // 2)  # halves C, H, W
            channels //= 2
    layers["norm5"] = nn.BatchNorm2d(channels)
    layers["relu5"] = nn.ReLU(inplace=True)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (N, C, 1, 1)
    layers["flatten"] = nn.Flatten()  # (N, C)
    layers["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(layers)
