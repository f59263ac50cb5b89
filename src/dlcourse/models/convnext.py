"""ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s"), written like torchvision's
``models/convnext.py``: the same layers in the same order, so its weights load with
:func:`load_torchvision_convnext`.

A ConvNeXt block is a ResNet block "modernized" towards a vision transformer's block::

    x -> 7x7 depthwise conv -> LayerNorm -> 1x1 (C -> 4C) -> GELU -> 1x1 (4C -> C)
      -> layer scale (a learned factor per channel) -> stochastic depth -> + x

The two 1x1 convolutions are ``nn.Linear`` layers applied to the channels-last tensor
``(N, H, W, C)`` (the same products as 1x1 convolutions, which is how torchvision and the
official code write them). One activation and one normalization per block; a stem that cuts
the image into non-overlapping ``patch x patch`` patches; separate downsampling layers
(LayerNorm, 2x2 convolution with stride 2) between the stages. Shapes: ``(N, C, H, W)``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..initialization import _finite_float, _positive_int
from .common import _probability

__all__ = [
    "LayerNorm2d",
    "stochastic_depth",
    "ConvNeXtBlock",
    "patchify_stem",
    "downsample_layer",
    "convnext",
    "convnext_tiny",
    "convnext28",
    "load_torchvision_convnext",
]


def _non_negative(name: str, value: object) -> float:
    value = _finite_float(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class LayerNorm2d(nn.Module):
    """Layer normalization over the channels of each position of an ``(N, C, H, W)`` tensor
    ("channels first")::

        y[n, :, h, w] = (x[n, :, h, w] - mean) / sqrt(var + eps) * weight + bias

    with mean and (biased) variance over the ``C`` values of that position. This is
    ``nn.LayerNorm(C)`` applied to the channels-last tensor, not ``GroupNorm(1, C)``, which
    normalizes over ``C, H, W`` together. Parameters ``weight, bias`` of shape ``(C,)``, as in
    torchvision's ``LayerNorm2d``.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_channels = _positive_int("num_channels", num_channels)
        self.eps = _non_negative("eps", eps)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"LayerNorm2d expects (N, {self.num_channels}, H, W), got {tuple(x.shape)}"
            )
        mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
        var = x.var(dim=1, keepdim=True, unbiased=False)  # (N, 1, H, W)
        x_hat = (x - mean) / torch.sqrt(var + self.eps)  # (N, C, H, W)
        return x_hat * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}"


def stochastic_depth(x: Tensor, p: float, training: bool) -> Tensor:
    """Drop the residual branch ``x`` (``(N, ...)``) of each sample with probability ``p``
    while training, and scale the kept ones by ``1 / (1 - p)`` so the expectation is
    unchanged (Huang et al., 2016, "Deep networks with stochastic depth"; torchvision's
    ``stochastic_depth(mode="row")``). The identity in evaluation or when ``p = 0``."""
    p = _probability("p", p)
    if not training or p == 0.0:
        return x
    keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    keep.bernoulli_(1.0 - p)  # (N, 1, 1, 1): 1 keeps the sample's branch, 0 drops it
    return x * keep / (1.0 - p)


class ConvNeXtBlock(nn.Module):
    """``x + drop(gamma * pwconv2(gelu(pwconv1(norm(dwconv(x))))))`` with ``x``:
    ``(N, dim, H, W)`` -> ``(N, dim, H, W)``.

    ``dwconv``: ``kernel_size x kernel_size`` depthwise convolution (``groups=dim``), the only
    spatial mixing; ``norm``: LayerNorm over the channels; ``pwconv1``/``pwconv2``: the
    inverted bottleneck ``dim -> expansion * dim -> dim``; ``layer_scale`` (``gamma``, shape
    ``(dim, 1, 1)``) starts at ``layer_scale`` (1e-6: the block starts close to the identity);
    ``drop_prob``: stochastic depth. Equal to torchvision's ``CNBlock(dim, layer_scale,
    drop_prob)`` given the same weights (see :func:`load_torchvision_convnext`).
    """

    def __init__(
        self,
        dim: int,
        layer_scale: float = 1e-6,
        drop_prob: float = 0.0,
        kernel_size: int = 7,
        expansion: int = 4,
    ) -> None:
        super().__init__()
        dim = _positive_int("dim", dim)
        kernel_size = _positive_int("kernel_size", kernel_size)
        expansion = _positive_int("expansion", expansion)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}")
        self.drop_prob = _probability("drop_prob", drop_prob)
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * dim, dim)
        gamma = _non_negative("layer_scale", layer_scale)
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), gamma))

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, C, H, W)
        out = self.dwconv(x)  # (N, C, H, W): one 7x7 filter per channel
        out = out.permute(0, 2, 3, 1)  # (N, H, W, C): channels last
        out = self.norm(out)  # normalized over the C values of each position
        out = self.pwconv1(out)  # (N, H, W, 4C)
        out = self.act(out)
        out = self.pwconv2(out)  # (N, H, W, C)
        out = out.permute(0, 3, 1, 2)  # (N, C, H, W)
        out = self.layer_scale * out  # one learned factor per channel
        out = stochastic_depth(out, self.drop_prob, self.training)
        return x + out


def patchify_stem(in_channels: int, dim: int, patch: int = 4) -> nn.Sequential:
    """``patch x patch`` convolution with stride ``patch`` (non-overlapping patches, as a
    vision transformer's patch embedding), then LayerNorm2d:
    ``(N, in_channels, H, W)`` -> ``(N, dim, H / patch, W / patch)``."""
    in_channels, dim = _positive_int("in_channels", in_channels), _positive_int("dim", dim)
    patch = _positive_int("patch", patch)
    return nn.Sequential(
        nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch), LayerNorm2d(dim)
    )


def downsample_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    """LayerNorm2d, then a 2x2 convolution with stride 2:
    ``(N, in_channels, H, W)`` -> ``(N, out_channels, H/2, W/2)``."""
    in_channels = _positive_int("in_channels", in_channels)
    out_channels = _positive_int("out_channels", out_channels)
    return nn.Sequential(
        LayerNorm2d(in_channels), nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2)
    )


class ConvNeXt(nn.Module):
    """``features`` (stem, stage 1, downsample, stage 2, ...), ``avgpool`` and
    ``classifier`` (LayerNorm2d, flatten, linear), in torchvision's order."""

    def __init__(self, features: nn.Sequential, dim: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            LayerNorm2d(dim), nn.Flatten(1), nn.Linear(dim, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, dims[-1], H / (patch * 2^(stages-1)), ...)
        x = self.avgpool(x)  # (N, dims[-1], 1, 1)
        return self.classifier(x)  # (N, num_classes)


def convnext(
    depths: Sequence[int],
    dims: Sequence[int],
    in_channels: int = 3,
    num_classes: int = 1000,
    patch: int = 4,
    layer_scale: float = 1e-6,
    drop_path_rate: float = 0.0,
) -> ConvNeXt:
    """A ConvNeXt with ``depths[i]`` blocks of ``dims[i]`` channels in stage ``i``.

    Stochastic depth grows linearly from 0 for the first block to ``drop_path_rate`` for the
    last, as in the paper and torchvision. Weights: truncated normal (std 0.02) for
    convolutions and linear layers, zero biases, as in torchvision.
    """
    depths = [_positive_int("depths entry", d) for d in depths]
    dims = [_positive_int("dims entry", d) for d in dims]
    if not depths or len(depths) != len(dims):
        raise ValueError(
            f"depths and dims must be non-empty and of the same length, got {depths} and {dims}"
        )
    num_classes = _positive_int("num_classes", num_classes)
    drop_path_rate = _probability("drop_path_rate", drop_path_rate)
    layers: list[nn.Module] = [patchify_stem(in_channels, dims[0], patch)]
    total, index = sum(depths), 0
    for stage, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
        blocks = []
        for _ in range(depth):
            p = drop_path_rate * index / (total - 1) if total > 1 else 0.0
            blocks.append(ConvNeXtBlock(dim, layer_scale, p))
            index += 1
        layers.append(nn.Sequential(*blocks))
        if stage + 1 < len(dims):
            layers.append(downsample_layer(dim, dims[stage + 1]))
    model = ConvNeXt(nn.Sequential(*layers), dims[-1], num_classes)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def convnext_tiny(num_classes: int = 1000, drop_path_rate: float = 0.0) -> ConvNeXt:
    """ConvNeXt-T: stages of 3, 3, 9, 3 blocks with 96, 192, 384, 768 channels, 4x4 patches
    (28,589,128 parameters and 4.46 GMACs at 224x224 for 1000 classes)."""
    return convnext((3, 3, 9, 3), (96, 192, 384, 768), 3, num_classes, 4, 1e-6, drop_path_rate)


def convnext28(
    in_channels: int = 1, num_classes: int = 10, drop_path_rate: float = 0.0
) -> ConvNeXt:
    """A small ConvNeXt for 28x28 images: 2x2 patches (28 -> 14), stages of 2, 2, 2 blocks
    with 32, 64, 128 channels at 14x14, 7x7 and 3x3."""
    return convnext((2, 2, 2), (32, 64, 128), in_channels, num_classes, 2, 1e-6, drop_path_rate)


#: torchvision's ``CNBlock.block`` is an ``nn.Sequential``; its indices -> our names.
_CNBLOCK_NAMES = {"0": "dwconv", "2": "norm", "3": "pwconv1", "5": "pwconv2"}
_CNBLOCK_KEY = re.compile(r"(^|\.)block\.(\d+)\.")


def load_torchvision_convnext(module: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Load a state dict of torchvision's ``CNBlock`` or ``ConvNeXt`` into the matching
    :class:`ConvNeXtBlock` or :func:`convnext` model: ``block.0`` -> ``dwconv``, ``block.2``
    -> ``norm``, ``block.3`` -> ``pwconv1``, ``block.5`` -> ``pwconv2``; every other name
    (``layer_scale``, ``features.0.0.weight``, ``classifier.2.bias``, ...) is the same.
    Strict: a missing or unexpected key raises ``RuntimeError``."""

    def rename(key: str) -> str:
        def sub(match: re.Match[str]) -> str:
            index = match.group(2)
            if index not in _CNBLOCK_NAMES:
                raise ValueError(f"unexpected CNBlock parameter key {key!r}")
            return f"{match.group(1)}{_CNBLOCK_NAMES[index]}."

        return _CNBLOCK_KEY.sub(sub, key)

    module.load_state_dict(OrderedDict((rename(k), v) for k, v in state_dict.items()))
