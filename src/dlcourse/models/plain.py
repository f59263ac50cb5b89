"""A plain CNN of any depth: conv3x3 -> norm -> activation blocks with no shortcuts, the network
of the initialization and normalization experiments: without a good initialization or a
normalization layer, a deep one does not train."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..initialization import _positive_int
from .common import activation_layer, norm_layer

__all__ = ["plain_cnn"]


def plain_cnn(
    depth: int = 8,
    width: int = 32,
    in_channels: int = 1,
    num_classes: int = 10,
    norm: str | None = None,
    activation: str = "relu",
    groups: int = 8,
) -> nn.Sequential:
    """``depth`` blocks conv3x3 -> norm -> activation, global average pooling, a linear layer.

    Every block has ``width`` channels. The blocks are split into thirds (block ``i`` of
    ``0 .. depth-1`` is in third ``floor(3i / depth)``); the first block of the second and of
    the third third has stride 2, so a 28x28 input ends at 7x7 (``depth < 3`` has fewer
    downsamplings). Convolutions have padding 1, and a bias only when no norm follows (a norm
    subtracts the mean, which would cancel the bias). ``norm``: ``None`` or one of
    :data:`NORMS` (see :func:`norm_layer`; ``groups`` is for ``"group"``); ``activation``: one
    of :data:`ACTIVATIONS`. Blocks are named ``block1 .. block<depth>``, each an
    ``nn.Sequential`` of ``conv``, ``norm`` (when present) and ``act``.
    """
    depth = _positive_int("depth", depth)
    width = _positive_int("width", width)
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    activation_layer(activation)  # check the names before building anything
    if norm is not None:
        norm_layer(norm, width, groups)

    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for i in range(depth):
        third = 3 * i // depth
        stride = 2 if i > 0 and third != 3 * (i - 1) // depth else 1
        block: OrderedDict[str, nn.Module] = OrderedDict()
        # (N, channels, H, W) -> (N, width, H / stride, W / stride)
        block["conv"] = nn.Conv2d(
            channels, width, kernel_size=3, stride=stride, padding=1, bias=norm is None
        )
        if norm is not None:
            block["norm"] = norm_layer(norm, width, groups)
        block["act"] = activation_layer(activation)
        layers[f"block{i + 1}"] = nn.Sequential(block)
        channels = width
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (N, width, 7, 7) -> (N, width, 1, 1)
    layers["flatten"] = nn.Flatten()  # -> (N, width)
    layers["fc"] = nn.Linear(channels, num_classes)  # -> (N, num_classes)
    return nn.Sequential(layers)
