"""GoogLeNet and its Inception module (Szegedy et al., 2015, "Going deeper with convolutions").

An Inception module runs four branches side by side on the same input and concatenates their
outputs along the channels: a 1x1 conv; a 1x1 "reduction" then a 3x3 conv; a 1x1 reduction
then a 5x5 conv; a 3x3 max pooling (stride 1) then a 1x1 "projection". Every branch keeps the
size, so the output has ``ch1x1 + ch3x3 + ch5x5 + pool_proj`` channels.

The names follow ``torchvision.models.googlenet`` (``branch1`` .. ``branch4``, ``conv`` and
``bn`` inside :class:`BasicConv2d`). torchvision's module uses a 3x3 kernel in the "5x5" branch
(a known deviation kept for its pretrained weights) and batch normalization, which the 2014
network did not have: ``kernel5=3, batch_norm=True`` builds torchvision's module exactly,
``kernel5=5, batch_norm=False`` the paper's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..initialization import _positive_int

__all__ = ["GOOGLENET_INCEPTION", "BasicConv2d", "Inception", "GoogLeNet", "googlenet"]

#: The nine Inception modules of GoogLeNet (Table 1 of the paper, torchvision's widths):
#: name -> (in_channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
GOOGLENET_INCEPTION: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


class BasicConv2d(nn.Module):
    """``conv -> bn -> relu``, the unit every GoogLeNet layer is made of.

    With ``batch_norm`` (torchvision's version): a conv without bias (the norm's shift replaces
    it) and ``BatchNorm2d(eps=0.001)``. Without: a conv with bias and no norm (``bn`` is the
    identity), as in the 2014 paper. ``padding`` defaults to ``kernel_size // 2``, which keeps
    the size at stride 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        kernel_size = _positive_int("kernel_size", kernel_size)
        padding = kernel_size // 2 if padding is None else padding
        batch_norm = _bool("batch_norm", batch_norm)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """The Inception module with 1x1 reductions (Figure 2(b) of the paper).

    ``(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``. ``kernel5`` is
    the kernel of the third branch: 5 as in the paper, 3 as in torchvision. ``batch_norm``:
    see :class:`BasicConv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        kernel5: int = 5,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if kernel5 not in (3, 5):
            raise ValueError(f"kernel5 must be 5 (the paper) or 3 (torchvision), got {kernel5!r}")
        self.out_channels = (
            _positive_int("ch1x1", ch1x1)
            + _positive_int("ch3x3", ch3x3)
            + _positive_int("ch5x5", ch5x5)
            + _positive_int("pool_proj", pool_proj)
        )
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, 1, batch_norm=bn),  # reduce
            BasicConv2d(ch3x3red, ch3x3, 3, batch_norm=bn),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, batch_norm=bn),  # reduce
            BasicConv2d(ch5x5red, ch5x5, kernel5, batch_norm=bn),
        )
        self.branch4 = nn.Sequential(
            # stride 1 and padding 1 keep the size (ceil_mode as in torchvision; no effect here)
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, 1, batch_norm=bn),  # project
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_channels, H, W); every branch keeps H and W
        b1 = self.branch1(x)  # (N, ch1x1, H, W)
        b2 = self.branch2(x)  # (N, ch3x3, H, W)
        b3 = self.branch3(x)  # (N, ch5x5, H, W)
        b4 = self.branch4(x)  # (N, pool_proj, H, W)
        return torch.cat([b1, b2, b3, b4], dim=1)  # (N, out_channels, H, W)


class GoogLeNet(nn.Module):
    """GoogLeNet without its two auxiliary classifiers (used only in training) and without the
    two local response normalizations of the paper (torchvision leaves them out too).

    Stem ``conv 7x7/2 -> maxpool 3x3/2 -> conv 1x1 -> conv 3x3 -> maxpool 3x3/2`` (224 -> 28),
    Inception 3a, 3b, maxpool (-> 14), 4a .. 4e, maxpool (-> 7), 5a, 5b, global average
    pooling, dropout, one linear layer. Names as in torchvision.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        kernel5: int = 5,
        batch_norm: bool = True,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        num_classes = _positive_int("num_classes", num_classes)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        bn = batch_norm
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1, batch_norm=bn)
        self.conv3 = BasicConv2d(64, 192, 3, batch_norm=bn)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
            widths = GOOGLENET_INCEPTION[name]
            self.add_module(f"inception{name}", Inception(*widths, kernel5=kernel5, batch_norm=bn))
            if name == "3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            if name == "4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))  # (N, 3, 224, 224) -> (N, 64, 56, 56)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # -> (N, 192, 28, 28)
        x = self.inception3b(self.inception3a(x))  # -> (N, 480, 28, 28)
        x = self.maxpool3(x)  # -> (N, 480, 14, 14)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = getattr(self, f"inception{name}")(x)  # -> (N, 832, 14, 14) after 4e
        x = self.maxpool4(x)  # -> (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))  # -> (N, 1024, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # -> (N, 1024)
        return self.fc(self.dropout(x))  # -> (N, num_classes)


def googlenet(num_classes: int = 1000, paper: bool = False) -> GoogLeNet:
    """GoogLeNet: torchvision's version (``paper=False``: batch norm, 3x3 in the "5x5"
    branch; its state dict loads into this model) or the paper's (5x5, biases, no norm)."""
    paper = _bool("paper", paper)
    return GoogLeNet(num_classes, kernel5=5 if paper else 3, batch_norm=not paper)
