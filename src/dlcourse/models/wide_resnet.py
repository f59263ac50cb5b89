"""Wide residual networks (Zagoruyko and Komodakis, 2016, "Wide residual networks"): the
CIFAR-style WRN-d-k built from pre-activation basic blocks.

WRN-d-k has three groups of ``n = (d - 4) / 6`` blocks with ``16k, 32k, 64k`` channels
(``k = 1`` is the thin ResNet of He et al.), after a 3x3 stem with 16 channels. A 3x3
convolution from ``c`` to ``c`` channels has ``9 c^2`` weights, so widening by ``k``
multiplies the parameters of the blocks by about ``k^2``. Shapes: ``(N, C, H, W)``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from ..initialization import _positive_int
from .common import _probability

__all__ = ["WideBasicBlock", "wide_resnet"]


class WideBasicBlock(nn.Module):
    """Pre-activation basic block, "B(3,3)" with dropout between the convolutions::

        out = conv2(dropout(relu(bn2(conv1(relu(bn1(x))))))) + shortcut(x)

    ``x``: ``(N, in_channels, H, W)`` -> ``(N, out_channels, H / stride, W / stride)``. When
    the shape changes, the shortcut is a 1x1 convolution with the stride applied to
    ``relu(bn1(x))``, as in the authors' code; otherwise the identity.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        stride = _positive_int("stride", stride)
        self.dropout = _probability("dropout", dropout)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, C_in, H, W)
        pre = F.relu(self.bn1(x))  # pre-activation, shared with a projection shortcut
        out = self.conv1(pre)  # (N, C_out, H/stride, W/stride)
        out = F.relu(self.bn2(out))
        out = F.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(out)  # (N, C_out, H/stride, W/stride)
        identity = x if self.shortcut is None else self.shortcut(pre)
        return out + identity


def wide_resnet(
    depth: int = 16,
    widen_factor: int = 4,
    dropout: float = 0.0,
    in_channels: int = 3,
    num_classes: int = 10,
) -> nn.Sequential:
    """WRN-``depth``-``widen_factor``: a 3x3 stem (16 channels), three groups of
    ``(depth - 4) / 6`` :class:`WideBasicBlock` with ``16k, 32k, 64k`` channels (the second
    and third start with stride 2), BN-ReLU, global average pooling and a linear layer.
    ``depth = 6n + 4`` is the paper's naming (WRN-28-10: ``n = 4`` blocks per group);
    WRN-28-10 has 36.5M parameters for 10 classes (36,479,194), the paper's figure.
    """
    depth = _positive_int("depth", depth)
    k = _positive_int("widen_factor", widen_factor)
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}")
    n = (depth - 4) // 6
    widths = [16 * k, 32 * k, 64 * k]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv1"] = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)  # (N, 16, H, W)
    channels = 16
    for group, width in enumerate(widths, start=1):
        blocks = []
        for i in range(n):
            stride = 2 if group > 1 and i == 0 else 1  # H -> H/2 at groups 2 and 3
            blocks.append(WideBasicBlock(channels, width, stride, dropout))
            channels = width
        layers[f"group{group}"] = nn.Sequential(*blocks)
    layers["bn"] = nn.BatchNorm2d(channels)
    layers["relu"] = nn.ReLU(inplace=True)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(layers)
