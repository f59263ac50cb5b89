"""MobileNet's building blocks: the depthwise-separable block of MobileNet v1 (Howard et al.,
2017, "MobileNets: efficient convolutional neural networks for mobile vision applications") and
the inverted residual with a linear bottleneck of MobileNet v2 (Sandler et al., 2018,
"MobileNetV2: inverted residuals and linear bottlenecks").

A standard ``k x k`` convolution from ``c`` to ``c`` channels costs ``k^2 c^2`` MACs per output
position; the depthwise-separable pair (a ``k x k`` convolution per channel, then a 1x1
convolution that mixes channels) costs ``k^2 c + c^2``, a ratio of ``1/c + 1/k^2``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..initialization import _positive_int

__all__ = ["DepthwiseSeparable", "InvertedResidual", "MOBILENET_V1_CONFIG", "mobilenet_v1"]

#: Howard et al. 2017, Table 1, after the first convolution (3 -> 32, stride 2): one
#: ``(out_channels, stride)`` pair per depthwise-separable block, 13 blocks. (The table prints
#: stride 2 for the second-to-last depthwise layer, but its input and output are both 7x7:
#: stride 1, as in every implementation.)
MOBILENET_V1_CONFIG: tuple[tuple[int, int], ...] = (
    (64, 1),  # 112x112
    (128, 2),  # 56x56
    (128, 1),
    (256, 2),  # 28x28
    (256, 1),
    (512, 2),  # 14x14
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),  # 7x7
    (1024, 1),
)


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """conv (no bias: the batch norm's shift replaces it) -> BN -> ReLU, ``padding = k // 2``."""
    return nn.Sequential(
        OrderedDict(
            [
                (
                    "conv",
                    nn.Conv2d(
                        in_channels,
                        out_channels,
                        kernel_size,
                        stride=stride,
                        padding=kernel_size // 2,
                        groups=groups,
                        bias=False,
                    ),
                ),
                ("bn", nn.BatchNorm2d(out_channels)),
                ("relu", nn.ReLU(inplace=True)),
            ]
        )
    )


class DepthwiseSeparable(nn.Module):
    """MobileNet v1's block: 3x3 depthwise conv -> BN -> ReLU, 1x1 pointwise conv -> BN -> ReLU.

    ``(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)``. The depthwise convolution has
    ``groups = C_in``: one 3x3 filter per channel (weight ``(C_in, 1, 3, 3)``), so it filters
    space but never mixes channels; the pointwise 1x1 convolution (weight ``(C_out, C_in, 1, 1)``)
    mixes channels at each position. MACs per output position: ``9 C_in + C_in C_out``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        self.depthwise = _conv_bn_relu(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = _conv_bn_relu(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.depthwise(x)  # (N, C_in, H / s, W / s): each channel filtered on its own
        return self.pointwise(x)  # (N, C_out, H / s, W / s): channels mixed per position


def mobilenet_v1(
    width_mult: float = 1.0, full_conv: bool = False, num_classes: int = 1000
) -> nn.Sequential:
    """MobileNet v1 for 224x224 RGB images (Howard et al. 2017, Table 1).

    A 3x3 convolution (3 -> 32, stride 2) with BN and ReLU, the 13 blocks of
    :data:`MOBILENET_V1_CONFIG`, global average pooling (7x7 -> 1x1) and a linear classifier
    (with bias). ``width_mult`` (the paper's width multiplier alpha) scales every channel count:
    ``int(c * alpha)``. ``full_conv=True`` gives the paper's "Conv MobileNet" (Table 4): every
    depthwise-separable block is replaced by one standard 3x3 conv -> BN -> ReLU with the same
    input and output channels and stride. Convolutions have no bias (a BN follows each).

    Layers are named ``conv1``, ``block1 .. block13``, ``pool``, ``flatten``, ``fc``.
    """
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)):
        raise TypeError(f"width_mult must be a number, got {type(width_mult).__name__}")
    if not width_mult > 0:
        raise ValueError(f"width_mult must be positive, got {width_mult!r}")
    if not isinstance(full_conv, bool):
        raise TypeError(f"full_conv must be True or False, got {full_conv!r}")
    num_classes = _positive_int("num_classes", num_classes)

    def width(c: int) -> int:
        scaled = int(c * width_mult)
        if scaled < 1:
            raise ValueError(f"width_mult={width_mult} leaves no channel of {c}")
        return scaled

    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = width(32)
    layers["conv1"] = _conv_bn_relu(3, channels, 3, stride=2)  # (N, 32, 112, 112)
    for i, (out, stride) in enumerate(MOBILENET_V1_CONFIG, start=1):
        out = width(out)
        if full_conv:
            layers[f"block{i}"] = _conv_bn_relu(channels, out, 3, stride)
        else:
            layers[f"block{i}"] = DepthwiseSeparable(channels, out, stride)
        channels = out
    # After block13: (N, 1024, 7, 7) for a 224x224 input
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (N, 1024, 1, 1)
    layers["flatten"] = nn.Flatten()  # (N, 1024)
    layers["fc"] = nn.Linear(channels, num_classes)  # (N, num_classes)
    return nn.Sequential(layers)


class InvertedResidual(nn.Module):
    """MobileNet v2's block (Sandler et al. 2018): expand, filter, project linearly.

    ``(N, C_in, H, W)``
    -> ``expand``: 1x1 conv to ``hidden = C_in * expand_ratio`` channels -> BN -> ReLU6
    (``nn.Identity`` when the ratio is 1)
    -> ``depthwise``: 3x3 depthwise conv with ``stride`` -> BN -> ReLU6
    -> ``project``: 1x1 conv to ``C_out`` -> BN, *no* activation (the "linear bottleneck")
    ``-> (N, C_out, H / stride, W / stride)``, plus the input when ``stride == 1`` and
    ``C_in == C_out``. The shortcut joins the thin ends and the block is wide in the middle:
    the reverse of ResNet's bottleneck, hence "inverted" residual. The parameters come in the
    same order as in ``torchvision.models.mobilenetv2.InvertedResidual`` (only the names
    differ), so weights can be copied between the two in order.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, expand_ratio: int = 6
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        expand_ratio = _positive_int("expand_ratio", expand_ratio)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand: nn.Module = nn.Identity()
        if expand_ratio != 1:
            self.expand = nn.Sequential(
                nn.Conv2d(in_channels, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            )
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        )
        self.project = nn.Sequential(
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x)  # (N, hidden, H, W)
        out = self.depthwise(out)  # (N, hidden, H / stride, W / stride)
        out = self.project(out)  # (N, C_out, H / stride, W / stride), linear
        if self.use_residual:
            out = out + x
        return out
