"""The activation and normalization layers the models of this package are built from, by name,
so a chapter can swap them with a string (a slider, a loop over names)."""

from __future__ import annotations

from torch import nn

from ..initialization import _positive_int

__all__ = ["ACTIVATIONS", "NORMS", "activation_layer", "norm_layer"]

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
