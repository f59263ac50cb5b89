"""The small named-layer CNN whose filters, feature maps and units the chapters on what conv nets
learn inspect."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..initialization import _positive_int

__all__ = ["small_cnn"]


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """The small CNN whose weights and units Part V looks at: three conv3x3 -> BN -> ReLU
    blocks (16, 32, 64 channels) with 2x2 max pooling after the first two, then a 64-unit
    hidden layer ``relu4`` (the penultimate features) and the classifier ``fc2``.

    Every layer has a name (``conv1``, ``bn1``, ``relu1``, ``pool1``, ..., ``fc1``, ``relu4``,
    ``fc2``) for hooks and receptive fields. 224,938 parameters for 10 classes.
    """
    num_classes = _positive_int("num_classes", num_classes)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (c_in, c_out) in enumerate([(1, 16), (16, 32), (32, 64)], start=1):
        layers[f"conv{i}"] = nn.Conv2d(c_in, c_out, 3, padding=1)  # (N, c_out, H, W)
        layers[f"bn{i}"] = nn.BatchNorm2d(c_out)
        layers[f"relu{i}"] = nn.ReLU()
        if i < 3:
            layers[f"pool{i}"] = nn.MaxPool2d(2)  # (N, C, H, W) -> (N, C, H/2, W/2)
    layers["flatten"] = nn.Flatten()  # (N, 64, 7, 7) -> (N, 3136)
    layers["fc1"] = nn.Linear(64 * 7 * 7, 64)
    layers["relu4"] = nn.ReLU()  # the penultimate layer: 64 features
    layers["fc2"] = nn.Linear(64, num_classes)
    return nn.Sequential(layers)
