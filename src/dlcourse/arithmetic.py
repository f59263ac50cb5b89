"""Convolution arithmetic: output sizes, padding, parameter counts, costs and receptive fields.

Plain Python on integers, no tensors: these are the numbers you work out on paper before
building a network. Symbols along one spatial dimension, as in PyTorch:

- ``i`` input size, ``k`` kernel size, ``s`` stride, ``p`` padding (zeros added on *each*
  side), ``d`` dilation (the distance between kernel taps).
- ``k_eff = d*(k - 1) + 1``, the *dilated* (effective) kernel size: the span of the taps.

Output ``o`` (0-based) of a convolution reads the taps ``o*s - p + j*d`` for ``j = 0 .. k-1``,
counted in indices of the unpadded input (negative indices and indices ``>= i`` are padding).
The output size is the number of window positions that fit inside the padded input::

    o_size = floor((i + 2p - k_eff) / s) + 1

Costs are counted in multiply-accumulates (MACs): one multiplication plus one addition.
One MAC is two FLOPs.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "pool_output_size",
    "same_padding",
    "full_padding",
    "unread_pixels",
    "conv_params",
    "conv_macs",
    "linear_params",
    "linear_macs",
    "depthwise_separable_macs",
    "Layer",
    "RFInfo",
    "receptive_field",
    "receptive_field_size",
]


# --------------------------------------------------------------------------------------------
# Checking the arguments
# --------------------------------------------------------------------------------------------


def _int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int; ``TypeError`` if it is not an integer (or is a bool),
    ``ValueError`` if it is below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _kernel_pair(k: object) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` -> ``(3, 5)`` (height, width); both entries >= 1."""
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise ValueError(f"kernel size k must be an int or a pair (kH, kW), got {k!r}")
        return _int("kernel height k[0]", k[0], 1), _int("kernel width k[1]", k[1], 1)
    size = _int("kernel size k", k, 1)
    return size, size


def _bias(bias: object) -> bool:
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    return bias


def _check_groups(c_in: int, c_out: int, groups: object) -> int:
    groups = _int("groups", groups, 1)
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both c_in={c_in} and c_out={c_out}: each group has "
            "c_in/groups input channels and c_out/groups output channels"
        )
    return groups


# --------------------------------------------------------------------------------------------
# Output sizes and padding
# --------------------------------------------------------------------------------------------


def conv_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output size of a convolution along one dimension, as in ``torch.nn.Conv2d``::

        floor((i + 2p - d(k-1) - 1) / s) + 1

    The dilated kernel ``d(k-1) + 1`` slides over the padded input ``i + 2p`` in steps of
    ``s``; a window that would stick out of the padded input is dropped (the floor), so the
    last input pixels may never be read (see :func:`unread_pixels`).
    """
    i, k = _int("input size i", i, 1), _int("kernel size k", k, 1)
    s, p, d = _int("stride s", s, 1), _int("padding p", p, 0), _int("dilation d", d, 1)
    k_eff = d * (k - 1) + 1
    if k_eff > i + 2 * p:
        raise ValueError(
            f"kernel (dilated size {k_eff}) is larger than the padded input ({i + 2 * p}): "
            "output would be empty; allowed: d*(k-1)+1 <= i+2p"
        )
    return (i + 2 * p - k_eff) // s + 1


def conv_transpose_output_size(
    i: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0, d: int = 1
) -> int:
    """Output size of a transposed convolution along one dimension, as in
    ``torch.nn.ConvTranspose2d``::

        (i - 1)s - 2p + d(k-1) + output_padding + 1

    A transposed convolution maps a size back to the input size of the convolution with the
    same ``k, s, p, d``. Since that convolution floors, up to ``s`` input sizes give the same
    output size; ``output_padding`` (``0 <= output_padding < max(s, d)``, PyTorch's rule)
    picks which one, by adding that many positions on one side.
    """
    i, k = _int("input size i", i, 1), _int("kernel size k", k, 1)
    s, p, d = _int("stride s", s, 1), _int("padding p", p, 0), _int("dilation d", d, 1)
    output_padding = _int("output_padding", output_padding, 0)
    if output_padding >= max(s, d):
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than the stride ({s}) or the "
            f"dilation ({d}); allowed: 0 <= output_padding < max(s, d) = {max(s, d)}"
        )
    size = (i - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if size < 1:
        raise ValueError(
            f"output would be empty (size {size}): the padding p={p} removes 2p={2 * p} "
            f"positions from a full output of {size + 2 * p}; "
            "allowed: 2p <= (i-1)*s + d*(k-1) + output_padding"
        )
    return size


def pool_output_size(
    i: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False
) -> int:
    """Output size of ``torch.nn.MaxPool2d`` / ``AvgPool2d`` (``d = 1``) along one dimension.

    The stride ``s`` defaults to the kernel size ``k`` (windows side by side). As for a
    convolution the size is ``floor((i + 2p - d(k-1) - 1) / s) + 1``; with ``ceil_mode`` the
    floor becomes a ceiling, so a last, partial window is kept, unless it would start at input
    index ``o*s - p >= i``, in the right padding: such a window would see padding only and is
    dropped (PyTorch's correction). With ``ceil_mode`` a window may stick out of the padded input on
    the right, so even a window larger than the input gives one output when ``s > 1``.
    PyTorch also requires ``p <= k // 2``.
    """
    i, k = _int("input size i", i, 1), _int("kernel size k", k, 1)
    s = k if s is None else _int("stride s", s, 1)
    p, d = _int("padding p", p, 0), _int("dilation d", d, 1)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    if p > k // 2:
        raise ValueError(
            f"padding p={p} is more than half the kernel size k={k}; allowed: p <= k//2 = {k // 2}"
        )
    k_eff = d * (k - 1) + 1
    span = i + 2 * p - k_eff  # room left for the window to slide
    size = (-(-span // s) if ceil_mode else span // s) + 1  # -(-a // b) is ceil(a / b)
    if ceil_mode and (size - 1) * s >= i + p:
        size -= 1  # the last window would start at index >= i, in the right padding
    if size < 1:
        allowed = "d*(k-1)+1 <= i+2p+s-1 with ceil_mode" if ceil_mode else "d*(k-1)+1 <= i+2p"
        raise ValueError(
            f"pooling window (dilated size {k_eff}) is larger than the padded input "
            f"({i + 2 * p}): output would be empty; allowed: {allowed}"
        )
    return size


def same_padding(k: int, d: int = 1) -> int:
    """Padding on each side that keeps the size at stride 1 ("same"): ``d(k-1) / 2``.

    Needs an odd dilated kernel size ``d(k-1) + 1``: then ``o = i + 2p - d(k-1) = i``. For an
    even one, ``d(k-1)`` is odd and cannot be split equally between the two sides.
    """
    k, d = _int("kernel size k", k, 1), _int("dilation d", d, 1)
    k_eff = d * (k - 1) + 1
    if k_eff % 2 == 0:
        raise ValueError(
            f"'same' padding needs an odd dilated kernel size d*(k-1)+1, got {k_eff} (k={k}, "
            f"d={d}): the {k_eff - 1} extra positions cannot be split equally, so 'same' needs "
            f"asymmetric padding ({(k_eff - 1) // 2} on one side, {k_eff // 2} on the other)"
        )
    return (k_eff - 1) // 2


def full_padding(k: int, d: int = 1) -> int:
    """Padding ``d(k-1)`` on each side for a "full" convolution: every position where the
    kernel overlaps the input by at least one tap, so the size grows to ``i + d(k-1)``."""
    k, d = _int("kernel size k", k, 1), _int("dilation d", d, 1)
    return d * (k - 1)


def unread_pixels(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> list[int]:
    """Indices (0-based, of the unpadded input) of the pixels that no output reads.

    A pixel is *read* when it is one of the taps ``o*s - p + j*d`` (``j = 0 .. k-1``) of some
    output ``o``. Two things leave pixels unread: a stride that does not tile the input (the
    last pixels fit no whole window, e.g. ``i=6, k=3, s=2`` -> ``[5]``), and dilation with
    stride, which skips the pixels between taps (``i=7, k=2, s=4, d=2`` -> ``[1, 3, 5]``).
    """
    n_out = conv_output_size(i, k, s, p, d)
    read = {o * s - p + j * d for o in range(n_out) for j in range(k)}
    return [x for x in range(i) if x not in read]


# --------------------------------------------------------------------------------------------
# Parameters and cost
# --------------------------------------------------------------------------------------------


def conv_params(
    c_in: int, c_out: int, k: int | tuple[int, int], bias: bool = True, groups: int = 1
) -> int:
    """Learnable parameters of ``nn.Conv2d(c_in, c_out, k, bias=bias, groups=groups)``::

        c_out * (kH * kW * c_in / groups + bias)

    Each of the ``c_out`` filters has a ``kH x kW`` weight for each of the ``c_in / groups``
    input channels of its group, plus one bias. The input's height and width do not appear.
    """
    c_in, c_out = _int("c_in", c_in, 1), _int("c_out", c_out, 1)
    kh, kw = _kernel_pair(k)
    groups = _check_groups(c_in, c_out, groups)
    return c_out * (kh * kw * (c_in // groups) + int(_bias(bias)))


def conv_macs(
    h_out: int, w_out: int, c_in: int, c_out: int, k: int | tuple[int, int], groups: int = 1
) -> int:
    """Multiply-accumulates of one convolution on one image (bias additions not counted)::

        h_out * w_out * c_out * kH * kW * c_in / groups

    Every output value is a dot product of length ``kH * kW * c_in / groups``.
    """
    h_out, w_out = _int("h_out", h_out, 1), _int("w_out", w_out, 1)
    c_in, c_out = _int("c_in", c_in, 1), _int("c_out", c_out, 1)
    kh, kw = _kernel_pair(k)
    groups = _check_groups(c_in, c_out, groups)
    return h_out * w_out * c_out * kh * kw * (c_in // groups)


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Learnable parameters of ``nn.Linear(n_in, n_out, bias=bias)``: ``n_out * (n_in + bias)``."""
    n_in, n_out = _int("n_in", n_in, 1), _int("n_out", n_out, 1)
    return n_out * (n_in + int(_bias(bias)))


def linear_macs(n_in: int, n_out: int) -> int:
    """Multiply-accumulates of ``nn.Linear(n_in, n_out)`` on one input: ``n_in * n_out``."""
    return _int("n_in", n_in, 1) * _int("n_out", n_out, 1)


def depthwise_separable_macs(
    h_out: int, w_out: int, c_in: int, c_out: int, k: int | tuple[int, int]
) -> int:
    """MACs of a depthwise ``k x k`` convolution followed by a pointwise ``1 x 1`` one::

        h_out * w_out * (k*k * c_in  +  c_in * c_out)
                         depthwise      pointwise

    A standard ``k x k`` convolution costs ``h_out * w_out * k*k * c_in * c_out``, so the
    ratio is ``1/c_out + 1/k^2``: for ``k = 3`` and many channels, about 8 to 9 times fewer.
    (The depthwise convolution keeps the size, so both run at ``h_out x w_out``.)
    """
    h_out, w_out = _int("h_out", h_out, 1), _int("w_out", w_out, 1)
    c_in, c_out = _int("c_in", c_in, 1), _int("c_out", c_out, 1)
    kh, kw = _kernel_pair(k)
    return h_out * w_out * (kh * kw * c_in + c_in * c_out)


# --------------------------------------------------------------------------------------------
# Receptive field
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """Geometry of one convolution or pooling layer along one dimension (channels do not
    matter for the receptive field)."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        _int("kernel", self.kernel, 1)
        _int("stride", self.stride, 1)
        _int("padding", self.padding, 0)
        _int("dilation", self.dilation, 1)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {self.name!r}")


@dataclass(frozen=True)
class RFInfo:
    """Receptive field after one layer, in input pixels.

    - ``size``: width of the window of input pixels that one output unit depends on.
    - ``jump``: distance between the centres of neighbouring output units (product of strides).
    - ``start``: centre of the first output unit, as an input *index* (pixel ``x`` is centred
      at ``x``; a half-integer lies between two pixels, a negative value in the padding).

    Output unit ``o`` depends on input indices ``start + o*jump -/+ (size - 1)/2``.
    """

    name: str
    size: int
    jump: int
    start: float


def _as_layer(layer: object, index: int) -> Layer:
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, tuple):
        if not 2 <= len(layer) <= 4:
            raise ValueError(
                f"layer {index}: a tuple must be (kernel, stride[, padding[, dilation]]), "
                f"got {layer!r}"
            )
        return Layer(*layer)
    raise TypeError(f"layer {index} must be a Layer or a tuple, got {layer!r}")


def receptive_field(layers: Sequence[Layer | tuple]) -> list[RFInfo]:
    """Receptive field size, jump and start after each layer of a stack.

    ``layers`` are :class:`Layer` objects or tuples ``(kernel, stride[, padding[, dilation]])``.
    Starting from the input itself (``size = 1, jump = 1, start = 0``), a layer with dilated
    kernel ``k_eff = d(k-1) + 1`` does::

        size_out  = size + (k_eff - 1) * jump     # k_eff units, jump input pixels apart
        jump_out  = jump * s
        start_out = start + ((k_eff - 1)/2 - p) * jump

    ``size`` is the extent, first to last input pixel; with dilation or a stride larger than
    the kernel, some pixels inside it may not be read at all (the field has holes). The input
    is assumed large enough: windows cut off by the image border are not accounted for.
    """
    layers = list(layers)
    if not layers:
        raise ValueError("receptive_field needs at least one layer, got an empty list")
    size, jump, start = 1, 1, 0.0
    out = []
    for index, layer in enumerate(layers, start=1):
        layer = _as_layer(layer, index)
        k_eff = layer.dilation * (layer.kernel - 1) + 1
        size += (k_eff - 1) * jump
        start += ((k_eff - 1) / 2 - layer.padding) * jump
        jump *= layer.stride
        out.append(RFInfo(layer.name or f"layer {index}", size, jump, start))
    return out


def receptive_field_size(layers: Sequence[Layer | tuple]) -> int:
    """Receptive field size after the last layer of ``layers`` (see :func:`receptive_field`)."""
    return receptive_field(layers)[-1].size
