"""The activation and normalization layers the models of this package are built from, by name,
so a chapter can swap them with a string (a slider, a loop over names); and random batch-norm
statistics for checking a model against a reference implementation."""

from __future__ import annotations

import torch
from torch import nn

from ..initialization import _finite_float, _positive_int

__all__ = ["ACTIVATIONS", "NORMS", "activation_layer", "norm_layer", "randomize_batch_norm"]

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


def randomize_batch_norm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give every ``BatchNorm2d`` of ``model`` random running statistics and affine parameters
    (in place; returns ``model``).

    A fresh batch norm has mean 0, variance 1, scale 1 and shift 0: in eval mode it is the
    identity, so a comparison with a reference model would pass even with the norm layers in the
    wrong place. Drawn in this order from ``generator``: running mean ~ N(0, 0.1^2), running
    variance ~ U(0.5, 2), scale ~ U(0.5, 1.5), shift ~ N(0, 0.1^2).
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1, generator=generator)
                m.running_var.uniform_(0.5, 2.0, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.normal_(0, 0.1, generator=generator)
    return model


def _probability(name: str, value: object) -> float:
    """A drop probability: a number in [0, 1) (1 would drop everything)."""
    value = _finite_float(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value
