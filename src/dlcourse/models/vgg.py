"""VGG (Simonyan & Zisserman, 2015, "Very deep convolutional networks for large-scale image
recognition"): stages of 3x3 convolutions separated by 2x2 max pooling, then three fully
connected layers.

All six configurations of the paper's Table 1 are built from one table, :data:`VGG_CONFIGS`.
The layer order and names are those of ``torchvision.models.vgg``: ``features`` (an
``nn.Sequential`` of conv, [batch norm], ReLU and pooling layers), ``avgpool`` and
``classifier``, so a torchvision state dict loads into :func:`vgg` of the same configuration
and gives the same outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..initialization import _positive_int

__all__ = ["VGG_CONFIGS", "VGG", "make_features", "vgg"]

#: One entry of a configuration: ``c`` (a 3x3 conv to ``c`` channels, padding 1), ``(c, k)`` (a
#: ``k x k`` conv to ``c`` channels, padding ``k // 2``), ``"M"`` (2x2 max pooling, stride 2,
#: which halves the size) or ``"LRN"`` (local response normalization, as in AlexNet).
Entry = int | tuple[int, int] | str

#: The columns A to E of Table 1 of the paper. Every conv keeps the size; each "M" halves it,
#: so a 224x224 input ends at 7x7 after the five stages, with 64, 128, 256, 512, 512 channels.
VGG_CONFIGS: dict[str, list[Entry]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M",
          512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
          512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}  # fmt: skip


def _conv_entry(entry: object) -> tuple[int, int] | None:
    """``64`` -> ``(64, 3)``; ``(256, 1)`` -> ``(256, 1)``; ``"M"`` / ``"LRN"`` -> ``None``."""
    if entry in ("M", "LRN"):
        return None
    if isinstance(entry, tuple) and len(entry) == 2:
        channels, kernel = entry
        channels = _positive_int("conv channels", channels)
        kernel = _positive_int("conv kernel size", kernel)
        if kernel % 2 == 0:
            raise ValueError(f"conv kernel size must be odd to keep the size, got {kernel}")
        return channels, kernel
    if isinstance(entry, int) and not isinstance(entry, bool):
        return _positive_int("conv channels", entry), 3
    raise ValueError(
        f"unknown config entry {entry!r}; allowed: channels (int), (channels, kernel), "
        "'M' (max pooling) or 'LRN'"
    )


def _config(config: str | list[Entry]) -> list[Entry]:
    if isinstance(config, str):
        if config not in VGG_CONFIGS:
            raise ValueError(
                f"unknown VGG config {config!r}; allowed: {', '.join(VGG_CONFIGS)} "
                "or a list of entries"
            )
        return VGG_CONFIGS[config]
    if not isinstance(config, (list, tuple)):
        raise TypeError(f"config must be a name or a list of entries, got {config!r}")
    if not any(_conv_entry(entry) for entry in config):  # also checks every entry
        raise ValueError(f"config needs at least one convolution, got {list(config)!r}")
    return list(config)


def make_features(
    config: str | list[Entry], in_channels: int = 3, batch_norm: bool = False
) -> nn.Sequential:
    """The convolutional part of a VGG net, one layer per entry of ``config``.

    A conv entry gives ``Conv2d -> [BatchNorm2d] -> ReLU`` (three or two modules, in the order
    of torchvision's ``make_layers``, so the indices of the ``nn.Sequential`` match). Returns
    ``(N, in_channels, H, W) -> (N, C_last, H / 2^m, W / 2^m)`` for ``m`` pooling entries.
    """
    entries = _config(config)
    channels = _positive_int("in_channels", in_channels)
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    layers: list[nn.Module] = []
    for entry in entries:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # (N, C, H/2, W/2)
        elif entry == "LRN":
            # AlexNet's k=2, n=5, alpha=1e-4, beta=0.75; PyTorch divides alpha by n.
            layers.append(nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0))
        else:
            out, kernel = _conv_entry(entry)
            # (N, channels, H, W) -> (N, out, H, W): padding k // 2 keeps the size
            layers.append(nn.Conv2d(channels, out, kernel_size=kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
    return nn.Sequential(*layers)


def _last_channels(config: list[Entry]) -> int:
    convs = [_conv_entry(entry) for entry in config]
    return [c for c in convs if c is not None][-1][0]


class VGG(nn.Module):
    """``features``, adaptive average pooling to ``pool_size x pool_size``, then
    ``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear``.

    For ImageNet (224x224 input, 512 channels, ``pool_size=7``, ``hidden=4096``) the pooling
    does nothing (the features are already 7x7) and the first linear layer has
    ``7 * 7 * 512 * 4096`` weights, three quarters of VGG16's parameters. The initialization
    is torchvision's: Kaiming-normal convs (fan out), N(0, 0.01) linear weights, zero biases.
    """

    def __init__(
        self,
        features: nn.Sequential,
        channels: int,
        num_classes: int = 1000,
        hidden: int = 4096,
        pool_size: int = 7,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        channels = _positive_int("channels", channels)
        num_classes = _positive_int("num_classes", num_classes)
        hidden = _positive_int("hidden", hidden)
        pool_size = _positive_int("pool_size", pool_size)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 3, 224, 224) -> (N, 512, 7, 7) for ImageNet
        x = self.avgpool(x)  # (N, C, pool_size, pool_size)
        x = torch.flatten(x, 1)  # (N, C * pool_size^2)
        return self.classifier(x)  # (N, num_classes)


def vgg(
    config: str | list[Entry] = "D",
    num_classes: int = 1000,
    batch_norm: bool = False,
    in_channels: int = 3,
    hidden: int = 4096,
    pool_size: int = 7,
    dropout: float = 0.5,
) -> VGG:
    """A VGG network from a configuration: a name of :data:`VGG_CONFIGS` (``"A"`` .. ``"E"``,
    ``"A-LRN"``) or a list of entries (see :data:`Entry`).

    With the defaults, ``"A"``, ``"B"``, ``"D"``, ``"E"`` are torchvision's ``vgg11``,
    ``vgg13``, ``vgg16``, ``vgg19`` (``_bn`` versions with ``batch_norm=True``), layer for
    layer. ``hidden``, ``pool_size`` and ``in_channels`` make small VGG-style nets, e.g.
    ``vgg([16, 16, "M", 32, 32, "M"], 10, True, in_channels=1, hidden=64, pool_size=7)`` for
    28x28 grey images.
    """
    entries = _config(config)
    features = make_features(entries, in_channels, batch_norm)
    return VGG(features, _last_channels(entries), num_classes, hidden, pool_size, dropout)
