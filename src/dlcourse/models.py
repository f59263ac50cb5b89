"""A small model zoo for 28x28 Fashion-MNIST: a plain CNN of any depth and LeNet-5.

Both are plain ``nn.Sequential`` stacks, so ``model[i]`` and ``summarize(model, ...)`` show every
layer, and every block can be swapped in a chapter. Shapes in the comments are ``(N, C, H, W)``
for a batch of ``N`` grey 28x28 images.

- :func:`plain_cnn`: ``depth`` blocks conv3x3 -> norm -> activation with no shortcuts, the
  network of the initialization and normalization experiments: without a good initialization
  or a normalization layer, a deep one does not train.
- :func:`lenet5`: LeCun et al. (1998), "Gradient-based learning applied to document
  recognition", with max pooling.
- :func:`small_cnn`: three conv blocks and a 64-unit hidden layer with named layers, the
  model whose filters, feature maps and units the chapters of Part IV inspect.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .initialization import _positive_int

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "activation_layer",
    "norm_layer",
    "plain_cnn",
    "lenet5",
    "small_cnn",
]

#: Activation name -> module class (LeakyReLU with PyTorch's default slope 0.01).
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
ACTIVATIONS = tuple(_ACTIVATIONS)
#: Normalization names of :func:`norm_layer`; ``None`` means no normalization.
NORMS = ("batch", "group", "layer", "instance")


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module: one of :data:`ACTIVATIONS`."""
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


def norm_layer(norm: str, channels: int, groups: int = 8) -> nn.Module:
    """A normalization layer for ``channels`` feature maps.

    ``"batch"``: BatchNorm2d (statistics over N, H, W per channel); ``"group"``:
    GroupNorm with ``groups`` groups (over C/groups channels, H, W per sample); ``"layer"``:
    GroupNorm with 1 group (over C, H, W per sample); ``"instance"``: GroupNorm with one group
    per channel (over H, W per sample and channel), with a learned scale and shift like the
    others.
    """
    channels = _positive_int("channels", channels)
    groups = _positive_int("groups", groups)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        if channels % groups:
            raise ValueError(
                f"group norm needs channels divisible by groups, got {channels} channels "
                f"and {groups} groups"
            )
        return nn.GroupNorm(groups, channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "instance":
        return nn.GroupNorm(channels, channels)
    raise ValueError(f"unknown norm {norm!r}; allowed: None, {', '.join(map(repr, NORMS))}")


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


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """The small CNN whose weights and units Part IV looks at: three conv3x3 -> BN -> ReLU
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
