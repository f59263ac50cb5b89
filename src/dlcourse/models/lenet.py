"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition") for
28x28 grey images, with max pooling."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..initialization import _positive_int
from .common import activation_layer

__all__ = ["lenet5"]


def lenet5(num_classes: int = 10, activation: str = "tanh") -> nn.Sequential:
    """LeNet-5 for 28x28 inputs: the first convolution pads by 2, so the classic 32x32
    geometry holds (6@28x28 -> 6@14x14 -> 16@10x10 -> 16@5x5 -> 120 -> 84 -> classes).

    Differences from the 1998 original, as in most modern versions: max pooling instead of the
    original's trainable average ("subsampling") layers, every conv2 map connected to all six
    conv1 maps, a linear output layer instead of RBF units, and ``activation`` (default tanh)
    instead of the scaled tanh. 61,706 parameters for 10 classes.
    """
    num_classes = _positive_int("num_classes", num_classes)
    activation_layer(activation)
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)),  # (N, 6, 28, 28)
                ("act1", activation_layer(activation)),
                ("pool1", nn.MaxPool2d(2)),  # (N, 6, 14, 14)
                ("conv2", nn.Conv2d(6, 16, kernel_size=5)),  # (N, 16, 10, 10)
                ("act2", activation_layer(activation)),
                ("pool2", nn.MaxPool2d(2)),  # (N, 16, 5, 5)
                ("flatten", nn.Flatten()),  # (N, 400)
                ("fc1", nn.Linear(16 * 5 * 5, 120)),  # (N, 120)
                ("act3", activation_layer(activation)),
                ("fc2", nn.Linear(120, 84)),  # (N, 84)
                ("act4", activation_layer(activation)),
                ("fc3", nn.Linear(84, num_classes)),  # (N, num_classes)
            ]
        )
    )
