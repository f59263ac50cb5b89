"""Weight initialization: how the spread of the weights decides whether signals survive depth.

Why the scale matters. One output of a linear layer (or one output pixel of a convolution) is a
sum over its ``D_in`` inputs::

    y = sum_{i=1}^{D_in} w_i x_i

Take the ``w_i`` independent of the ``x_i``, all independent, and the weights zero-mean. Then
``Var(w_i x_i) = E[w_i^2] E[x_i^2] - (E[w_i] E[x_i])^2 = Var(w) E[x^2]``, the terms are
uncorrelated, and their variances add up::

    Var(y) = D_in Var(w) E[x^2]      (= D_in Var(w) Var(x) when x is zero-mean too)

So every layer multiplies the variance by ``D_in Var(w)`` (times what the activation keeps).
Above 1 the signal explodes with depth, below 1 it dies out. The gradients flowing backwards
are sums over the ``D_out`` outputs, so their factor is ``D_out Var(w)``: the same for square
layers. The schemes choose ``Var(w)`` to make the forward factor 1:

- ``"normal"``: ``std = scale``, a fixed number such as 0.01 or 0.05, blind to ``D_in``;
- ``"xavier"``: ``std = scale / sqrt(D_in)``, i.e. ``D_in Var(w) = 1``: right for zero-mean,
  unit-slope activations (tanh near 0, linear). This is the simplified form; Glorot & Bengio
  (2010) use ``Var(w) = 2 / (D_in + D_out)`` to balance the forward and backward passes;
- ``"kaiming"``: ``std = scale * sqrt(2 / D_in)`` (He et al., 2015). A ReLU zeroes the negative
  half of a symmetric, zero-mean ``y``, so ``E[relu(y)^2] = Var(y) / 2``; the factor 2 gives
  that half back and ``Var`` stays constant from layer to layer;
- ``"constant"``: every weight the same value. All units of a layer then compute the same
  function and get the same gradient, so they stay identical forever (the symmetry problem).

For a convolution with a ``k x k`` kernel, ``C_in`` input channels and ``groups`` groups, one
output sums ``D_in = k^2 C_in / groups`` products, so that is its fan-in.

:func:`forward_stats` and :func:`backward_stats` run the classic experiment (CS231n, lecture on
training neural networks): a batch of ``N(0, 1)`` inputs through ``depth`` fully connected
layers ``h = act(x @ W)`` without biases, recording the activations (forward) or their
gradients (backward) at every layer. :func:`init_weights` applies a scheme to a real model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SCHEMES",
    "RANDOM_SCHEMES",
    "ACTIVATIONS",
    "DEFAULT_SEED",
    "LayerStats",
    "init_std",
    "module_fan_in",
    "init_weights",
    "forward_stats",
    "backward_stats",
]

#: The schemes of :func:`init_std`; :func:`init_weights` also accepts ``"default"``.
SCHEMES = ("normal", "xavier", "kaiming", "constant")
#: The schemes that draw random weights, the ones :func:`forward_stats` can run.
RANDOM_SCHEMES = ("normal", "xavier", "kaiming")

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": lambda t: t,
    "leaky_relu": F.leaky_relu,  # negative slope 0.01
    "gelu": F.gelu,
}
#: The activations of :func:`forward_stats` and :func:`backward_stats`.
ACTIVATIONS = tuple(_ACTIVATIONS)

#: Seed of the generator used when none is given, so that every run repeats exactly.
DEFAULT_SEED = 0

#: The layers :func:`init_weights` re-initializes.
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True, eq=False)
class LayerStats:
    """Statistics of one layer: ``mean`` and ``std`` over all its values (batch x width), and
    ``values``, a 1-D float tensor of those values (all, or a fixed random subsample)."""

    layer: int
    mean: float
    std: float
    values: torch.Tensor


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _finite_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _positive_float(name: str, value: object) -> float:
    value = _finite_float(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")
    return value


# ------------------------------------------------------------------------------------------
# Schemes
# ------------------------------------------------------------------------------------------


def init_std(scheme: str, fan_in: int, scale: float = 1.0) -> float:
    """Standard deviation of the zero-mean normal weights of ``scheme`` for ``fan_in`` inputs.

    ``"normal"``: ``scale``; ``"xavier"``: ``scale / sqrt(fan_in)``; ``"kaiming"``:
    ``scale * sqrt(2 / fan_in)``; ``"constant"``: 0 (every weight has the same value, set by
    :func:`init_weights`). See the module docstring for why.
    """
    scheme = _choice("scheme", scheme, SCHEMES)
    fan_in = _positive_int("fan_in", fan_in)
    scale = _positive_float("scale", scale)
    if scheme == "normal":
        return scale
    if scheme == "xavier":
        return scale / math.sqrt(fan_in)
    if scheme == "kaiming":
        return scale * math.sqrt(2.0 / fan_in)
    return 0.0  # "constant"


def module_fan_in(module: nn.Module) -> int:
    """Number of inputs summed by one output of a Linear or Conv layer: ``in_features``, or
    ``prod(kernel_size) * in_channels / groups`` (``k^2 C_in / groups`` for a 2-D conv)."""
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, _WEIGHTED):
        return math.prod(module.kernel_size) * module.in_channels // module.groups
    raise TypeError(
        f"module_fan_in needs an nn.Linear or nn.Conv1d/2d/3d, got {type(module).__name__}"
    )


def init_weights(
    model: nn.Module,
    scheme: str,
    scale: float = 1.0,
    constant: float = 0.1,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialize every Linear and Conv1d/2d/3d weight of ``model`` with ``scheme``, in place.

    Random schemes draw ``N(0, init_std(scheme, fan_in, scale)^2)`` with the fan-in of
    :func:`module_fan_in`; ``"constant"`` sets every weight to ``constant`` (to show the
    symmetry problem). Biases become zero. ``"default"`` leaves PyTorch's own initialization
    untouched. Other layers (norms, transposed convolutions) keep theirs. ``generator`` (on the
    model's device) makes the draw repeatable. Returns ``model``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    scheme = _choice("scheme", scheme, (*SCHEMES, "default"))
    scale = _positive_float("scale", scale)
    constant = _finite_float("constant", constant)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if scheme == "default":
        return model
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _WEIGHTED):
                continue
            if scheme == "constant":
                module.weight.fill_(constant)
            else:
                std = init_std(scheme, module_fan_in(module), scale)
                module.weight.normal_(0.0, std, generator=generator)
            if module.bias is not None:
                module.bias.zero_()
    return model


# ------------------------------------------------------------------------------------------
# The experiment
# ------------------------------------------------------------------------------------------


def _check_experiment(
    depth: object,
    width: object,
    activation: object,
    scheme: object,
    scale: object,
    batch: object,
    generator: object,
    keep: object,
) -> None:
    _positive_int("depth", depth)
    _positive_int("width", width)
    _positive_int("batch", batch)
    _choice("activation", activation, ACTIVATIONS)
    if scheme == "constant":
        raise ValueError(
            "the experiment draws random weights, so scheme must be one of "
            f"{', '.join(RANDOM_SCHEMES)}; for constant weights use init_weights(model, "
            "'constant', constant=c) on a model"
        )
    _choice("scheme", scheme, RANDOM_SCHEMES)
    _positive_float("scale", scale)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if keep is not None:
        _positive_int("keep", keep)


def _layers(
    depth: int,
    width: int,
    activation: str,
    scheme: str,
    scale: float,
    batch: int,
    generator: torch.Generator | None,
    requires_grad: bool = False,
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Generator]:
    """Inputs of the ``depth`` layers (the first is ``x``), the last output, and the generator
    (to draw more from). Draw order: ``x``, then ``W_1 .. W_depth``."""
    gen = generator if generator is not None else torch.Generator().manual_seed(DEFAULT_SEED)
    std = init_std(scheme, width, scale)
    act = _ACTIVATIONS[activation]
    h = torch.randn(batch, width, generator=gen)  # (batch, width), x ~ N(0, 1)
    h.requires_grad_(requires_grad)
    inputs = []
    for _ in range(depth):
        if requires_grad and not h.is_leaf:
            h.retain_grad()
        inputs.append(h)
        w = torch.randn(width, width, generator=gen) * std  # (D_in, D_out), W ~ N(0, std^2)
        h = act(h @ w)  # (batch, width); no bias
    return inputs, h, gen


def _stats(tensors: list[torch.Tensor], keep: int | None) -> list[LayerStats]:
    """One :class:`LayerStats` per tensor, with the same subsample of positions in each."""
    numel = tensors[0].numel()
    index = None
    if keep is not None and keep < numel:  # a fixed subsample, independent of the weights
        index = torch.randperm(numel, generator=torch.Generator().manual_seed(DEFAULT_SEED))
        index = index[:keep]
    out = []
    for layer, t in enumerate(tensors, start=1):
        flat = t.detach().reshape(-1).float()
        values = flat.clone() if index is None else flat[index]
        mean, std = float(flat.mean()), float(flat.std(correction=0))
        out.append(LayerStats(layer=layer, mean=mean, std=std, values=values))
    return out


def forward_stats(
    depth: int = 6,
    width: int = 4096,
    activation: str = "tanh",
    scheme: str = "normal",
    scale: float = 0.01,
    batch: int = 16,
    generator: torch.Generator | None = None,
    keep: int | None = None,
) -> list[LayerStats]:
    """Activation statistics of ``depth`` layers ``h = act(x @ W)``, one :class:`LayerStats`
    per layer (``layer`` 1 .. depth).

    ``x ~ N(0, 1)`` has shape ``(batch, width)``; each ``W`` is ``(width, width)`` with entries
    ``N(0, init_std(scheme, width, scale)^2)``; there are no biases. The defaults are the
    classic experiment (6 layers of 4096 units, tanh, ``std = 0.01``: the activations collapse
    to zero). ``generator`` defaults to one seeded with :data:`DEFAULT_SEED`. ``keep=k`` keeps
    a fixed random subsample of ``k`` values per layer (the same positions in every layer) for
    quick histograms; ``mean`` and ``std`` always use all values.
    """
    _check_experiment(depth, width, activation, scheme, scale, batch, generator, keep)
    with torch.no_grad():
        inputs, last, _ = _layers(depth, width, activation, scheme, scale, batch, generator)
    return _stats([*inputs[1:], last], keep)


def backward_stats(
    depth: int = 6,
    width: int = 4096,
    activation: str = "tanh",
    scheme: str = "normal",
    scale: float = 0.01,
    batch: int = 16,
    generator: torch.Generator | None = None,
    keep: int | None = None,
) -> list[LayerStats]:
    """Gradient statistics of the same network as :func:`forward_stats` (same arguments, same
    weights for the same generator state): ``layer`` l describes ``dL/dx_l``, the gradient
    with respect to the input of layer l (layer 1's input is ``x``).

    The scalar loss is ``L = sum(h_depth * v)`` with a fixed random ``v ~ N(0, 1)`` of shape
    ``(batch, width)``, drawn after the weights, so the gradient entering the last layer has
    unit variance and what happens to it on the way back is due to the weights alone.
    """
    _check_experiment(depth, width, activation, scheme, scale, batch, generator, keep)
    with torch.enable_grad():
        inputs, last, gen = _layers(
            depth, width, activation, scheme, scale, batch, generator, requires_grad=True
        )
        v = torch.randn(last.shape, generator=gen)  # (batch, width)
        (last * v).sum().backward()
    return _stats([t.grad for t in inputs], keep)
