"""AlexNet in two versions, as one flat ``nn.Sequential`` of named layers.

- ``"paper"``: the network of Krizhevsky, Sutskever and Hinton (2012), "ImageNet classification
  with deep convolutional neural networks", as drawn in the CS231n lecture: a 227x227 input,
  96-256-384-384-256 channels, an 11x11 stride-4 first convolution, local response
  normalization after conv1 and conv2, 3x3 stride-2 (overlapping) max pooling, and dropout in
  the 4096-4096 fully connected layers. ``grouped=True`` gives conv2, conv4 and conv5 two groups,
  as in the paper, where each half of the channels lived on one of two GPUs and these layers
  only saw the channels on their own GPU.
- ``"torchvision"``: the variant of ``torchvision.models.alexnet`` (after Krizhevsky, 2014,
  "One weird trick for parallelizing convolutional neural networks"): 64-192-384-256-256
  channels, padding 2 in the first convolution so 224x224 works, no LRN, an adaptive average
  pooling to 6x6 before the classifier, dropout before fc6 and fc7. Same computation as
  torchvision's model given the same weights (in the same order: ``load_state_dict`` of
  torchvision's values under this model's names).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..initialization import _positive_int

__all__ = ["VARIANTS", "alexnet"]

VARIANTS = ("paper", "torchvision")


def _dropout_probability(dropout: object) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return float(dropout)


def _paper(num_classes: int, dropout: float, grouped: bool) -> OrderedDict[str, nn.Module]:
    g = 2 if grouped else 1

    # The paper's LRN: k=2, n=5, alpha=1e-4, beta=0.75. PyTorch multiplies alpha by the mean
    # over the n channels instead of their sum, so it needs alpha = n * 1e-4 (see dlcourse.lrn).
    def lrn() -> nn.LocalResponseNorm:
        return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)

    return OrderedDict(
        [
            ("conv1", nn.Conv2d(3, 96, kernel_size=11, stride=4)),  # (N, 96, 55, 55)
            ("relu1", nn.ReLU()),
            ("norm1", lrn()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 96, 27, 27)
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=g)),  # (N, 256, 27, 27)
            ("relu2", nn.ReLU()),
            ("norm2", lrn()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 256, 13, 13)
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),  # (N, 384, 13, 13)
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=g)),  # (N, 384, 13, 13)
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=g)),  # (N, 256, 13, 13)
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 256, 6, 6)
            ("flatten", nn.Flatten()),  # (N, 9216)
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),  # (N, 4096)
            ("relu6", nn.ReLU()),
            ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)),  # (N, 4096)
            ("relu7", nn.ReLU()),
            ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(4096, num_classes)),  # (N, num_classes)
        ]
    )


def _torchvision(num_classes: int, dropout: float) -> OrderedDict[str, nn.Module]:
    return OrderedDict(
        [
            ("conv1", nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2)),  # (N, 64, 55, 55)
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 64, 27, 27)
            ("conv2", nn.Conv2d(64, 192, kernel_size=5, padding=2)),  # (N, 192, 27, 27)
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 192, 13, 13)
            ("conv3", nn.Conv2d(192, 384, kernel_size=3, padding=1)),  # (N, 384, 13, 13)
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 256, kernel_size=3, padding=1)),  # (N, 256, 13, 13)
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(256, 256, kernel_size=3, padding=1)),  # (N, 256, 13, 13)
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # (N, 256, 6, 6)
            ("avgpool", nn.AdaptiveAvgPool2d((6, 6))),  # (N, 256, 6, 6) for any input >= 224
            ("flatten", nn.Flatten()),  # (N, 9216)
            ("drop6", nn.Dropout(dropout)),
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),  # (N, 4096)
            ("relu6", nn.ReLU()),
            ("drop7", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)),  # (N, 4096)
            ("relu7", nn.ReLU()),
            ("fc8", nn.Linear(4096, num_classes)),  # (N, num_classes)
        ]
    )


def alexnet(
    variant: str = "paper",
    num_classes: int = 1000,
    dropout: float = 0.5,
    grouped: bool = False,
) -> nn.Sequential:
    """AlexNet as an ``nn.Sequential`` with named layers ``conv1 .. conv5``, ``fc6 .. fc8``.

    ``variant="paper"`` expects ``(N, 3, 227, 227)`` inputs (55, 27, 13, 6 pixels after conv1,
    pool1, pool2, pool5) and has 62,378,344 parameters for 1000 classes, 60,965,224 with
    ``grouped=True`` (conv2, conv4, conv5 in two groups, the paper's two-GPU split).
    ``variant="torchvision"`` expects ``(N, 3, 224, 224)`` or larger and has 61,100,840
    parameters, like ``torchvision.models.alexnet``. Weights use PyTorch's default
    initialization (the paper drew them from N(0, 0.01^2) and set some biases to 1).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown AlexNet variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    num_classes = _positive_int("num_classes", num_classes)
    dropout = _dropout_probability(dropout)
    if not isinstance(grouped, bool):
        raise TypeError(f"grouped must be True or False, got {grouped!r}")
    if variant == "paper":
        return nn.Sequential(_paper(num_classes, dropout, grouped))
    if grouped:
        raise ValueError("grouped=True exists only for variant='paper' (the two-GPU split)")
    return nn.Sequential(_torchvision(num_classes, dropout))
