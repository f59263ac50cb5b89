"""Layers written from scratch and checked against PyTorch: convolution, pooling, normalization
and the backward passes of convolution and pooling.

- :func:`max_pool2d`, :func:`avg_pool2d` (the signatures of ``F.max_pool2d``/``F.avg_pool2d``)
  and their backward rules :func:`max_pool2d_backward` (the gradient goes to the argmax) and
  :func:`avg_pool2d_backward` (spread equally over the window);
- :func:`conv2d_backward` (input gradient = transposed convolution of the output gradient,
  weight gradient = correlation of input and output gradient) and
  :func:`conv2d_input_grad_flipped` (the same input gradient as a full correlation with the
  flipped kernel).
- :func:`batch_norm`, :func:`layer_norm`, :func:`instance_norm`, :func:`group_norm` (the
  signatures of their ``F.*`` counterparts), which differ only in which elements share one mean
  and variance, and :func:`fold_batch_norm`, which merges an eval-mode batch norm into the
  convolution before it.

The convolution itself is implemented, like :func:`torch.nn.functional.conv2d`, twice:

* :func:`conv2d_naive` loops over every output position in Python. It is slow, but each line
  maps directly onto the definition below, so it is the one to read first.
* :func:`conv2d_im2col` rearranges the input so that the whole convolution becomes one matrix
  multiplication per group ("im2col", image-to-columns). This is how many libraries have
  implemented convolution, and it is fast enough to use in practice.

Notation: the input ``x`` has shape ``(N, C_in, H, W)``, the weight ``w`` has shape
``(C_out, C_in/groups, kH, kW)`` and the optional bias ``b`` has shape ``(C_out,)``. ``s``, ``p``
and ``d`` are the stride, padding and dilation (each may differ between height and width), and
``x_pad`` is ``x`` with ``p`` zeros added on both sides of each spatial dimension.

The channels are split into ``groups`` independent groups. Output channel ``o`` belongs to
group ``g = o // (C_out/groups)`` and only sees the input channels of that group::

    out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j]
                             * x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d]

where ``c`` runs over ``0 .. C_in/groups - 1``, ``i`` over ``0 .. kH - 1`` and ``j`` over
``0 .. kW - 1``. Along each spatial dimension the output size is::

    out_size = floor((in_size + 2*p - d*(k - 1) - 1) / s) + 1

``d*(k - 1) + 1`` is the *dilated* kernel size: the distance covered by the kernel taps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .arithmetic import pool_output_size

__all__ = [
    "conv2d_naive",
    "conv2d_im2col",
    "max_pool2d",
    "avg_pool2d",
    "max_pool2d_backward",
    "avg_pool2d_backward",
    "conv2d_backward",
    "conv2d_input_grad_flipped",
    "batch_norm",
    "layer_norm",
    "instance_norm",
    "group_norm",
    "fold_batch_norm",
]

IntOrPair = int | tuple[int, int]


def _out_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one dimension: ``floor((i + 2p - d(k-1) - 1) / s) + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pair(value: object, name: str, op: str = "conv2d") -> tuple[int, int]:
    """Turn ``3`` into ``(3, 3)`` and check that ``(3, 2)`` really is a pair of ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (value[0], value[1])
    raise TypeError(
        f"{op}: {name} must be an int or a pair of ints (height, width), "
        f"got {value!r} of type {type(value).__name__}."
    )


def _check_conv2d_args(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int]:
    """Validate the arguments of a conv2d call.

    Returns ``(stride, padding, dilation, groups)`` with the first three as ``(height, width)``
    pairs. Raises ``TypeError`` for arguments of the wrong kind and ``ValueError`` (with a
    message saying what is allowed) for arguments of the right kind but a wrong value or shape.
    """
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"conv2d: input must be a torch.Tensor, got {type(input).__name__}.")
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"conv2d: weight must be a torch.Tensor, got {type(weight).__name__}.")
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise TypeError(f"conv2d: bias must be a torch.Tensor or None, got {type(bias).__name__}.")
    stride2 = _pair(stride, "stride")
    padding2 = _pair(padding, "padding")
    dilation2 = _pair(dilation, "dilation")
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"conv2d: groups must be an int, got {groups!r}.")

    if input.dim() != 4:
        raise ValueError(
            f"conv2d: input must be 4-D (N, C_in, H, W), got {input.dim()}-D input with shape "
            f"{tuple(input.shape)}. For a single image use input.unsqueeze(0)."
        )
    if weight.dim() != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (C_out, C_in/groups, kH, kW), got {weight.dim()}-D "
            f"weight with shape {tuple(weight.shape)}."
        )
    if min(stride2) < 1:
        raise ValueError(f"conv2d: stride must be >= 1 in both dimensions, got {stride2}.")
    if min(dilation2) < 1:
        raise ValueError(f"conv2d: dilation must be >= 1 in both dimensions, got {dilation2}.")
    if min(padding2) < 0:
        raise ValueError(f"conv2d: padding must be >= 0 in both dimensions, got {padding2}.")
    if groups < 1:
        raise ValueError(f"conv2d: groups must be >= 1, got {groups}.")

    c_in = input.shape[1]
    c_out = weight.shape[0]
    if c_in % groups != 0:
        raise ValueError(
            f"conv2d: input channels C_in={c_in} are not divisible by groups={groups}; "
            "groups must divide both C_in and C_out."
        )
    if c_out % groups != 0:
        raise ValueError(
            f"conv2d: output channels C_out={c_out} (weight.shape[0]) are not divisible by "
            f"groups={groups}; groups must divide both C_in and C_out."
        )
    if weight.shape[1] != c_in // groups:
        raise ValueError(
            f"conv2d: weight.shape[1] must equal C_in/groups = {c_in}/{groups} = "
            f"{c_in // groups}, got weight shape {tuple(weight.shape)}."
        )
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(
            f"conv2d: bias must have shape (C_out,) = ({c_out},), got {tuple(bias.shape)}."
        )

    for dim, name in ((0, "height"), (1, "width")):
        size = input.shape[2 + dim]
        kernel = weight.shape[2 + dim]
        dilated = dilation2[dim] * (kernel - 1) + 1
        padded = size + 2 * padding2[dim]
        if dilated > padded:
            out = max(0, _out_size(size, kernel, stride2[dim], padding2[dim], dilation2[dim]))
            raise ValueError(
                f"conv2d: kernel (dilated size {dilated}) is larger than the padded input "
                f"({padded}) along {name}; output size would be {out}. Use a smaller "
                "kernel/dilation or more padding."
            )
    return stride2, padding2, dilation2, groups


def conv2d_naive(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution with an explicit Python loop over the output positions.

    Same arguments and result as :func:`torch.nn.functional.conv2d`. For every output
    position ``(y, x)`` it cuts out the input patch the kernel sees and computes::

        out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j]
                                 * x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d]

    with ``out_size = floor((in_size + 2p - d(k-1) - 1) / s) + 1`` along height and width.
    Readable but slow (one small tensor operation per output position).
    """
    (sh, sw), (ph, pw), (dh, dw), groups = _check_conv2d_args(
        input, weight, bias, stride, padding, dilation, groups
    )
    n, c_in, h, w = input.shape
    c_out, c_per_group, kh, kw = weight.shape
    h_out = _out_size(h, kh, sh, ph, dh)
    w_out = _out_size(w, kw, sw, pw, dw)

    # Zero-pad left/right (width) and top/bottom (height).
    x_pad = F.pad(input, (pw, pw, ph, ph))
    # Split the channels into groups: weight (G, C_out/G, C_in/G, kH, kW).
    w_grouped = weight.reshape(groups, c_out // groups, c_per_group, kh, kw)

    out = input.new_zeros((n, c_out, h_out, w_out))
    for y in range(h_out):
        top = y * sh
        for x in range(w_out):
            left = x * sw
            # The patch under the kernel: rows top, top+dh, ..., cols left, left+dw, ...
            rows = slice(top, top + dh * (kh - 1) + 1, dh)
            cols = slice(left, left + dw * (kw - 1) + 1, dw)
            patch = x_pad[:, :, rows, cols]
            patch = patch.reshape(n, groups, c_per_group, kh, kw)
            # Dot product over (c, i, j) for every sample n, group g and output channel o.
            value = torch.einsum("ngcij,gocij->ngo", patch, w_grouped)
            out[:, :, y, x] = value.reshape(n, c_out)

    if bias is not None:
        out = out + bias.reshape(1, c_out, 1, 1)
    return out


def conv2d_im2col(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution as one matrix multiplication per group ("im2col").

    Same arguments and result as :func:`torch.nn.functional.conv2d`, computing::

        out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j]
                                 * x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d]

    with ``out_size = floor((in_size + 2p - d(k-1) - 1) / s) + 1`` along height and width.

    Steps:

    1. Zero-pad the input (:func:`torch.nn.functional.pad`).
    2. "im2col": copy every patch the kernel sees into one column of a matrix ``cols`` of shape
       ``(N, C_in*kH*kW, H_out*W_out)``. :meth:`torch.Tensor.unfold` gives a *view* of all
       sliding windows without copying; the single copy happens in the final ``reshape``.
       (:func:`torch.nn.functional.unfold` builds the same matrix, padding included; it was
       about 8x slower than this view-then-copy on CPU in our measurements, torch 2.14.)
    3. Multiply the flattened weight ``(C_out, C_in*kH*kW)`` by ``cols``, separately per group:
       this one (batched) matmul does all the multiply-adds.
    4. Reshape the result to ``(N, C_out, H_out, W_out)`` and add the bias.
    """
    (sh, sw), (ph, pw), (dh, dw), groups = _check_conv2d_args(
        input, weight, bias, stride, padding, dilation, groups
    )
    n, c_in, h, w = input.shape
    c_out, c_per_group, kh, kw = weight.shape
    h_out = _out_size(h, kh, sh, ph, dh)
    w_out = _out_size(w, kw, sw, pw, dw)

    # 1. Zero-pad left/right (width) and top/bottom (height).
    x_pad = F.pad(input, (pw, pw, ph, ph))

    # 2. Sliding windows of the dilated kernel size, one every `stride` pixels, then keep every
    # d-th tap inside each window: windows[n, c, y, x, i, j] = x_pad[n, c, y*s + i*d, x*s + j*d].
    windows = x_pad.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    windows = windows[..., ::dh, ::dw]  # (N, C_in, H_out, W_out, kH, kW), still a view
    # cols[n, g, (c, i, j), (y, x)]: rows ordered (c, i, j) like the flattened weight; the
    # channels of group g are rows g*K .. (g+1)*K - 1 with K = C_in/groups*kH*kW.
    cols = windows.permute(0, 1, 4, 5, 2, 3).reshape(
        n, groups, c_per_group * kh * kw, h_out * w_out
    )

    # 3. (G, C_out/G, K) @ (N, G, K, L) -> (N, G, C_out/G, L), batched over samples and groups.
    w_mat = weight.reshape(groups, c_out // groups, c_per_group * kh * kw)
    out = torch.matmul(w_mat, cols)

    # 4. Back to an image layout (N, C_out, H_out, W_out).
    out = out.reshape(n, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1, 1)
    return out


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
#
# Pooling slides a kH x kW window over every (H, W) plane, each channel on its own, and
# summarises the window by its maximum or its mean. It has no weights. The windows are placed
# like the taps of a convolution (stride s, padding p, dilation d), so the output size follows
# the same formula, with an optional "ceil mode" that rounds up instead of down.


def _check_shape(shape: object, op: str, name: str) -> tuple[int, ...]:
    """Check that ``shape`` is ``(C, H, W)`` or ``(N, C, H, W)`` and return it as a tuple."""
    if not (
        isinstance(shape, (tuple, list))
        and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
    ):
        raise TypeError(
            f"{op}: {name} must be a tuple or torch.Size of ints, got {shape!r} of type "
            f"{type(shape).__name__}."
        )
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{op}: {name} must be 3-D (C, H, W) or 4-D (N, C, H, W), got {len(shape)}-D "
            f"shape {tuple(shape)}."
        )
    if min(shape) < 0:
        raise ValueError(f"{op}: {name} must not have negative sizes, got {tuple(shape)}.")
    return tuple(shape)


def _check_pool2d_args(
    op: str,
    shape: tuple[int, ...],
    kernel_size: object,
    stride: object,
    padding: object,
    dilation: object,
    ceil_mode: object,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate the arguments of a 2-D pooling call on an input of shape ``shape``.

    Returns ``(kernel, stride, padding, dilation, (H_out, W_out))``, each a ``(height, width)``
    pair; ``stride=None`` means ``stride = kernel_size``.
    """
    kernel2 = _pair(kernel_size, "kernel_size", op)
    stride2 = kernel2 if stride is None else _pair(stride, "stride", op)
    padding2 = _pair(padding, "padding", op)
    dilation2 = _pair(dilation, "dilation", op)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{op}: ceil_mode must be True or False, got {ceil_mode!r}.")
    if min(kernel2) < 1:
        raise ValueError(f"{op}: kernel_size must be >= 1 in both dimensions, got {kernel2}.")
    if min(stride2) < 1:
        raise ValueError(f"{op}: stride must be >= 1 in both dimensions, got {stride2}.")
    if min(dilation2) < 1:
        raise ValueError(f"{op}: dilation must be >= 1 in both dimensions, got {dilation2}.")
    if min(padding2) < 0:
        raise ValueError(f"{op}: padding must be >= 0 in both dimensions, got {padding2}.")

    out = []
    for dim, name in ((0, "height"), (1, "width")):
        size, k, s, p = shape[-2 + dim], kernel2[dim], stride2[dim], padding2[dim]
        d = dilation2[dim]
        if p > k // 2:
            raise ValueError(
                f"{op}: padding must be <= kernel_size // 2 (at most half the window), got "
                f"padding={p} for kernel_size={k} along {name}."
            )
        try:
            out.append(pool_output_size(size, k, s, p, d, ceil_mode))
        except ValueError as err:
            raise ValueError(
                f"{op}: along {name}, {err}. Use a smaller kernel_size/dilation, more padding "
                "or a larger input."
            ) from None
    return kernel2, stride2, padding2, dilation2, (out[0], out[1])


def _check_pool_input(input: object, op: str) -> torch.Tensor:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{op}: input must be a torch.Tensor, got {type(input).__name__}.")
    if input.dim() not in (3, 4):
        raise ValueError(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {input.dim()}-D input "
            f"with shape {tuple(input.shape)}."
        )
    return input


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """2-D max pooling: the largest value in each window.

    Same arguments and result as :func:`torch.nn.functional.max_pool2d`. With ``x_pad`` the
    input padded by ``p`` values of ``-inf`` (which never win the max)::

        out[n, c, y, x] = max_{i,j} x_pad[n, c, y*s + i*d, x*s + j*d]

    ``stride`` defaults to ``kernel_size`` (windows side by side, no overlap). Each dimension has
    ``floor((in_size + 2p - d(k-1) - 1) / s) + 1`` windows, or with ``ceil_mode=True`` one more
    partial window when the division leaves a remainder and that window starts inside the input
    or the left padding. ``padding`` may be at most ``kernel_size // 2``.

    With ``return_indices=True`` it also returns where each maximum came from, as a flat index
    ``row * W + col`` into the (H, W) plane of the unpadded input, shape
    ``(N, C, H_out, W_out)``. These indices are all the backward pass needs
    (:func:`max_pool2d_backward`). Ties go to the first tap in row-major order, like PyTorch on
    the CPU. A window that sees only padding (possible only with dilation) gives ``-inf``, and
    its index does not point into the plane.

    Input of shape ``(N, C, H, W)`` or ``(C, H, W)``; floating point or integer (integer inputs
    are padded with the smallest integer instead of ``-inf``).
    """
    op = "max_pool2d"
    input = _check_pool_input(input, op)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = _check_pool2d_args(
        op, tuple(input.shape), kernel_size, stride, padding, dilation, ceil_mode
    )
    if not isinstance(return_indices, bool):
        raise TypeError(f"{op}: return_indices must be True or False, got {return_indices!r}.")
    if input.dtype == torch.bool or input.is_complex():
        raise TypeError(
            f"{op}: input must be a real floating point or integer tensor, got {input.dtype}."
        )
    h, w = input.shape[-2:]
    x = input.unsqueeze(0) if input.dim() == 3 else input  # (N, C, H, W)

    # Pad with a value that can never be the maximum. In ceil mode the last window may run past
    # the right/bottom padding, so pad those sides far enough for it to fit.
    lowest = float("-inf") if x.is_floating_point() else torch.iinfo(x.dtype).min
    pad_bottom = max(ph, (h_out - 1) * sh + dh * (kh - 1) + 1 - h - ph)
    pad_right = max(pw, (w_out - 1) * sw + dw * (kw - 1) + 1 - w - pw)
    x_pad = F.pad(x, (pw, pad_right, ph, pad_bottom), value=lowest)

    # windows[n, c, y, x, i, j] = x_pad[n, c, y*s + i*d, x*s + j*d], a view as in conv2d_im2col.
    windows = x_pad.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    windows = windows[:, :, :h_out, :w_out, ::dh, ::dw]  # (N, C, H_out, W_out, kH, kW)
    # Max over the kH*kW taps; `tap` = i*kW + j is the winning tap inside the window.
    out, tap = windows.reshape(*windows.shape[:4], kh * kw).max(dim=-1)  # (N, C, H_out, W_out)

    if input.dim() == 3:
        out, tap = out.squeeze(0), tap.squeeze(0)
    if not return_indices:
        return out
    # Tap (i, j) of window (y, x) is input pixel (y*s + i*d - p, x*s + j*d - p).
    i, j = tap // kw, tap % kw
    rows = torch.arange(h_out, device=x.device).view(-1, 1) * sh + i * dh - ph
    cols = torch.arange(w_out, device=x.device).view(1, -1) * sw + j * dw - pw
    return out, rows * w + cols


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> torch.Tensor:
    """2-D average pooling: the mean of each window.

    Same result as :func:`torch.nn.functional.avg_pool2d` with its defaults
    (``ceil_mode=False``, ``count_include_pad=True``): with ``x_pad`` the input padded by ``p``
    zeros, and the zeros counted in the mean::

        out[n, c, y, x] = 1/(kH*kW) * sum_{i,j} x_pad[n, c, y*s + i, x*s + j]

    ``stride`` defaults to ``kernel_size``; ``padding`` may be at most ``kernel_size // 2``.
    Floating-point input of shape ``(N, C, H, W)`` or ``(C, H, W)``.
    """
    op = "avg_pool2d"
    input = _check_pool_input(input, op)
    (kh, kw), (sh, sw), (ph, pw), _, _ = _check_pool2d_args(
        op, tuple(input.shape), kernel_size, stride, padding, 1, False
    )
    if not input.is_floating_point():
        raise TypeError(f"{op}: input must be a floating-point tensor, got {input.dtype}.")
    x = input.unsqueeze(0) if input.dim() == 3 else input  # (N, C, H, W)
    x_pad = F.pad(x, (pw, pw, ph, ph))
    windows = x_pad.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H_out, W_out, kH, kW)
    out = windows.mean(dim=(-2, -1))  # (N, C, H_out, W_out)
    return out.squeeze(0) if input.dim() == 3 else out


# ---------------------------------------------------------------------------------------------
# Backward passes written by hand
# ---------------------------------------------------------------------------------------------
#
# Each function below takes grad_output = dL/d(out), the gradient of a scalar loss L with respect
# to the layer's output, and returns the gradient with respect to the layer's inputs by the chain
# rule: dL/dx = sum over outputs of dL/d(out) * d(out)/dx. They compute what autograd computes
# for F.max_pool2d, F.avg_pool2d and F.conv2d.


def _check_grad_output(grad_output: object, op: str, expected: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(grad_output, torch.Tensor):
        raise TypeError(
            f"{op}: grad_output must be a torch.Tensor, got {type(grad_output).__name__}."
        )
    if tuple(grad_output.shape) != expected:
        raise ValueError(
            f"{op}: grad_output must have the shape of the forward output {expected}, got "
            f"{tuple(grad_output.shape)}."
        )
    return grad_output


def max_pool2d_backward(
    grad_output: torch.Tensor, indices: torch.Tensor, input_shape: tuple[int, ...]
) -> torch.Tensor:
    """Gradient of :func:`max_pool2d` with respect to its input.

    Inside a window the output equals one input, the maximum, so ``d(out)/dx`` is 1 for that
    input and 0 for the others: the gradient flows only to the input that was the max. An input
    that is the max of several overlapping windows collects the gradient of each::

        grad_input[n, c, r, q] = sum over (y, x) with indices[n, c, y, x] == r*W + q
                                 of grad_output[n, c, y, x]

    ``indices`` are the flat indices returned by ``max_pool2d(..., return_indices=True)``, of
    the same shape as ``grad_output``, ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``.
    ``input_shape`` is the shape of the forward input, ``(N, C, H, W)`` or ``(C, H, W)``. The
    sum is one ``scatter_add`` over each flattened (H, W) plane.
    """
    op = "max_pool2d_backward"
    shape = _check_shape(input_shape, op, "input_shape")
    if not isinstance(indices, torch.Tensor):
        raise TypeError(f"{op}: indices must be a torch.Tensor, got {type(indices).__name__}.")
    if indices.dtype != torch.int64:
        raise TypeError(f"{op}: indices must be int64 (torch.long), got {indices.dtype}.")
    if indices.dim() != len(shape) or tuple(indices.shape[:-2]) != shape[:-2]:
        raise ValueError(
            f"{op}: indices must have shape {shape[:-2]} + (H_out, W_out) to match "
            f"input_shape {shape}, got {tuple(indices.shape)}."
        )
    grad_output = _check_grad_output(grad_output, op, tuple(indices.shape))
    plane = shape[-2] * shape[-1]
    if indices.numel() > 0 and (indices.min() < 0 or indices.max() >= plane):
        raise ValueError(
            f"{op}: indices must lie in [0, H*W) = [0, {plane}), got values from "
            f"{int(indices.min())} to {int(indices.max())}."
        )
    # One (H*W)-long row per plane; add every output gradient at its argmax.
    grad_input = grad_output.new_zeros((*shape[:-2], plane))
    grad_input.scatter_add_(-1, indices.flatten(-2), grad_output.flatten(-2))
    return grad_input.reshape(shape)


def avg_pool2d_backward(
    grad_output: torch.Tensor,
    input_shape: tuple[int, ...],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> torch.Tensor:
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Every input in a window contributes ``1/(kH*kW)`` to that window's mean, so each output
    gradient is spread equally over its window; overlapping windows add up::

        grad_x_pad[n, c, y*s + i, x*s + j] += grad_output[n, c, y, x] / (kH*kW)

    for every window ``(y, x)`` and tap ``(i, j)``. The gradient that lands on the zero padding
    is dropped when ``grad_x_pad`` is cropped back to ``input_shape``. The loop runs over the
    ``kH*kW`` taps, each adding a strided slice of ``grad_output`` at once.
    """
    op = "avg_pool2d_backward"
    shape = _check_shape(input_shape, op, "input_shape")
    (kh, kw), (sh, sw), (ph, pw), _, (h_out, w_out) = _check_pool2d_args(
        op, shape, kernel_size, stride, padding, 1, False
    )
    grad_output = _check_grad_output(grad_output, op, (*shape[:-2], h_out, w_out))
    h, w = shape[-2:]
    share = grad_output / (kh * kw)
    grad_pad = grad_output.new_zeros((*shape[:-2], h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) of every window: rows i, i + s, ..., cols j, j + s, ...
            rows = slice(i, i + sh * (h_out - 1) + 1, sh)
            cols = slice(j, j + sw * (w_out - 1) + 1, sw)
            grad_pad[..., rows, cols] += share
    return grad_pad[..., ph : ph + h, pw : pw + w]


def conv2d_backward(
    grad_output: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of a 2-D convolution: ``(grad_input, grad_weight, grad_bias)``.

    The forward pass (as in :func:`conv2d_im2col`, with ``g`` the group of output channel
    ``o``) is::

        out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j]
                                 * x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d]

    ``grad_output = dout = dL/d(out)`` has its shape ``(N, C_out, H_out, W_out)``. Each output
    is linear in ``b``, ``w`` and ``x``, so the chain rule gives:

    * ``grad_bias``, shape ``(C_out,)``: the bias is added at every position of its channel::

          grad_bias[o] = sum_{n,y,x} dout[n, o, y, x]

    * ``grad_weight``, shape ``(C_out, C_in/groups, kH, kW)``: a correlation of the input with
      ``dout``. Computed like the forward im2col: ``unfold`` puts the patch under every position
      in a column, and one matmul with ``dout`` sums over the positions (and the batch)::

          grad_weight[o, c, i, j] = sum_{n,y,x} dout[n, o, y, x]
                                    * x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d]

    * ``grad_input``, shape ``(N, C_in, H, W)``: each output's gradient goes back, through the
      kernel, to the patch it was computed from, and overlapping patches add up::

          grad_x_pad[n, g*C_in/groups + c, y*s + i*d, x*s + j*d] += dout[n, o, y, x] * w[o, c, i, j]

      then the padding is cropped off. Scattering through the kernel like this is a *transposed
      convolution* (:func:`torch.nn.functional.conv_transpose2d`) of ``dout`` with the same
      weights. Its ``output_padding`` restores the ``(H + 2p - d(k-1) - 1) mod s`` last
      rows/columns that no window reached (their gradient is zero). For stride 1 it is a "full"
      correlation with the flipped kernel, see :func:`conv2d_input_grad_flipped`.

    Arguments are those of the forward call (without the bias, which does not change the
    gradients) and are validated the same way.
    """
    (sh, sw), (ph, pw), (dh, dw), groups = _check_conv2d_args(
        input, weight, None, stride, padding, dilation, groups
    )
    n, c_in, h, w = input.shape
    c_out, c_per_group, kh, kw = weight.shape
    h_out = _out_size(h, kh, sh, ph, dh)
    w_out = _out_size(w, kw, sw, pw, dw)
    dout = _check_grad_output(grad_output, "conv2d_backward", (n, c_out, h_out, w_out))

    # dL/db: sum over the batch and all positions.
    grad_bias = dout.sum(dim=(0, 2, 3))

    # dL/dw: cols[n, grp, (c, i, j), (y, x)] = x_pad[n, grp*C_in/G + c, y*s + i*d, x*s + j*d].
    cols = F.unfold(input, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    cols = cols.reshape(n, groups, c_per_group * kh * kw, h_out * w_out)
    dout_mat = dout.reshape(n, groups, c_out // groups, h_out * w_out)
    # (N, G, C_out/G, L) @ (N, G, L, K) -> (N, G, C_out/G, K), then sum over the batch.
    grad_weight = (dout_mat @ cols.transpose(-1, -2)).sum(dim=0).reshape(c_out, c_per_group, kh, kw)

    # dL/dx: transposed convolution of dout with the same weights, sized back to (H, W).
    extra_h = (h + 2 * ph - dh * (kh - 1) - 1) % sh
    extra_w = (w + 2 * pw - dw * (kw - 1) - 1) % sw
    grad_input = F.conv_transpose2d(
        dout,
        weight,
        stride=(sh, sw),
        padding=(ph, pw),
        output_padding=(extra_h, extra_w),
        groups=groups,
        dilation=(dh, dw),
    )
    return grad_input, grad_weight, grad_bias


def conv2d_input_grad_flipped(
    grad_output: torch.Tensor,
    weight: torch.Tensor,
    input_shape: tuple[int, ...],
    padding: IntOrPair = 0,
) -> torch.Tensor:
    """``grad_input`` of a stride-1, dilation-1, groups-1 convolution, as a full correlation.

    With stride 1, ``out[n, o, y, x] = sum_{c,i,j} w[o, c, i, j] * x_pad[n, c, y + i, x + j]``,
    so by the chain rule (``dout = grad_output``, zero outside its range)::

        grad_x_pad[n, c, r, q] = sum_{o,i,j} dout[n, o, r - i, q - j] * w[o, c, i, j]

    Substituting ``i -> kH-1-i`` and ``j -> kW-1-j`` turns this into an ordinary correlation
    (the operation conv2d computes) of ``dout`` padded by ``kH-1``, ``kW-1`` zeros ("full"
    correlation) with the kernel rotated by 180 degrees and input/output channels swapped,
    ``w_flip[c, o, i, j] = w[o, c, kH-1-i, kW-1-j]``. The result has size
    ``H_out + kH - 1 = H + 2p``; cropping ``p`` on each side gives ``grad_input`` of shape
    ``input_shape = (N, C_in, H, W)``. It agrees with the transposed convolution in
    :func:`conv2d_backward`: two views of the same sum.

    ``padding`` is the forward call's padding; ``weight`` has shape ``(C_out, C_in, kH, kW)``.
    """
    op = "conv2d_input_grad_flipped"
    shape = _check_shape(input_shape, op, "input_shape")
    if len(shape) != 4:
        raise ValueError(f"{op}: input_shape must be 4-D (N, C_in, H, W), got {shape}.")
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{op}: weight must be a torch.Tensor, got {type(weight).__name__}.")
    if weight.dim() != 4 or weight.shape[1] != shape[1]:
        raise ValueError(
            f"{op}: weight must be 4-D (C_out, C_in, kH, kW) with C_in = {shape[1]} (groups=1), "
            f"got shape {tuple(weight.shape)}."
        )
    ph, pw = _pair(padding, "padding", op)
    if min(ph, pw) < 0:
        raise ValueError(f"{op}: padding must be >= 0 in both dimensions, got {(ph, pw)}.")
    n, _, h, w = shape
    c_out, _, kh, kw = weight.shape
    h_out, w_out = _out_size(h, kh, 1, ph), _out_size(w, kw, 1, pw)
    if min(h_out, w_out) < 1:
        raise ValueError(
            f"{op}: kernel {(kh, kw)} is larger than the padded input "
            f"{(h + 2 * ph, w + 2 * pw)}; such a convolution has no output."
        )
    dout = _check_grad_output(grad_output, op, (n, c_out, h_out, w_out))

    w_flip = weight.flip(2, 3).transpose(0, 1)  # (C_in, C_out, kH, kW)
    grad_pad = conv2d_im2col(dout, w_flip, padding=(kh - 1, kw - 1))  # (N, C_in, H + 2p, W + 2p)
    return grad_pad[:, :, ph : ph + h, pw : pw + w]


# ---------------------------------------------------------------------------------------------
# Normalization layers
# ---------------------------------------------------------------------------------------------
#
# All four normalize with a mean and a *biased* variance and then scale and shift:
#
#     x_hat = (x - mean) / sqrt(var + eps),   var = mean((x - mean)^2),   y = gamma * x_hat + beta
#
# They differ only in which elements share one (mean, var) pair. For an input (N, C, H, W):
#
#     batch norm     over (N, H, W)    one pair per channel              C pairs
#     layer norm     over (C, H, W)    one pair per sample               N pairs
#     instance norm  over (H, W)       one pair per sample and channel   N*C pairs
#     group norm     over (C/G, H, W)  one pair per sample and group     N*G pairs
#
# gamma and beta have one value per channel (per element of normalized_shape for layer norm).
# The statistics are computed with ordinary tensor operations, so autograd differentiates through
# them (the gradient flows through mean and var too), exactly like PyTorch's own layers.


def _check_norm_input(input: object, op: str, min_dim: int = 2) -> torch.Tensor:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{op}: input must be a torch.Tensor, got {type(input).__name__}.")
    if not input.is_floating_point():
        raise TypeError(f"{op}: input must be a floating-point tensor, got {input.dtype}.")
    if input.dim() < min_dim:
        raise ValueError(
            f"{op}: input must have at least {min_dim} dimensions (N, C, ...), got "
            f"{input.dim()}-D input with shape {tuple(input.shape)}."
        )
    return input


def _check_eps(eps: object, op: str, positive: bool = False) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"{op}: eps must be a number, got {eps!r}.")
    if eps < 0 or (positive and eps == 0):
        bound = "> 0 when the batch statistics are used" if positive else ">= 0"
        raise ValueError(f"{op}: eps must be {bound}, got {eps}.")
    return float(eps)


def _check_momentum(momentum: object, op: str) -> float:
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"{op}: momentum must be a number in [0, 1], got {momentum!r}.")
    if not 0 <= momentum <= 1:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}.")
    return float(momentum)


def _check_flag(value: object, op: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}.")
    return value


def _check_param(
    value: object, op: str, name: str, shape: tuple[int, ...], meaning: str
) -> torch.Tensor | None:
    """``None``, or a tensor of exactly ``shape`` (``meaning`` names the shape, e.g. ``(C,)``)."""
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor or None, got {type(value).__name__}.")
    if tuple(value.shape) != shape:
        raise ValueError(
            f"{op}: {name} must have shape {meaning} = {shape}, got {tuple(value.shape)}."
        )
    return value


def _check_running_stats(
    op: str, running_mean: object, running_var: object, channels: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Both ``None`` or both tensors of shape ``(C,)``."""
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            f"{op}: give both running_mean and running_var or neither, got "
            f"running_mean={'None' if running_mean is None else 'a tensor'} and "
            f"running_var={'None' if running_var is None else 'a tensor'}."
        )
    mean = _check_param(running_mean, op, "running_mean", (channels,), "(C,)")
    var = _check_param(running_var, op, "running_var", (channels,), "(C,)")
    return mean, var


def _per_channel(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a ``(C,)`` tensor as ``(1, C, 1, ..., 1)`` so that it broadcasts over (N, C, ...)."""
    return t.reshape(1, -1, *([1] * (ndim - 2)))


def _update_running(running: torch.Tensor, batch_stat: torch.Tensor, momentum: float) -> None:
    """In place: ``running = (1 - momentum) * running + momentum * batch_stat``."""
    with torch.no_grad():
        running.mul_(1 - momentum).add_(momentum * batch_stat.detach().to(running.dtype))


def batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalization: every channel is normalized over the batch and all positions.

    Same arguments and result as :func:`torch.nn.functional.batch_norm`. Input ``(N, C)``,
    ``(N, C, L)`` or ``(N, C, H, W)`` (any ``(N, C, ...)``). All ``N*H*W`` values of channel
    ``c`` share one mean and variance::

        mean[c] = mean_{n,h,w} x[n, c, h, w]
        var[c]  = mean_{n,h,w} (x[n, c, h, w] - mean[c])^2          (biased)
        y[n, c, h, w] = gamma[c] * (x[n, c, h, w] - mean[c]) / sqrt(var[c] + eps) + beta[c]

    ``gamma = weight`` and ``beta = bias`` have shape ``(C,)``; ``None`` means 1 and 0.

    * ``training=True``: normalize with the statistics of this batch (so each channel of ``y``
      has mean ``beta`` and, up to eps, standard deviation ``gamma``). If running statistics are
      given they are updated *in place*, with the *unbiased* variance
      ``var * m / (m - 1)`` (``m = N*H*W``)::

          running_mean = (1 - momentum) * running_mean + momentum * mean
          running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

      With a single value per channel (``m = 1``) there is no variance to estimate: error.
    * ``training=False``: normalize with ``running_mean`` and ``running_var`` (required), which
      makes the layer a fixed per-channel affine map.
    """
    op = "batch_norm"
    x = _check_norm_input(input, op)
    training = _check_flag(training, op, "training")
    channels = x.shape[1]
    running_mean, running_var = _check_running_stats(op, running_mean, running_var, channels)
    weight = _check_param(weight, op, "weight", (channels,), "(C,)")
    bias = _check_param(bias, op, "bias", (channels,), "(C,)")
    momentum = _check_momentum(momentum, op)
    eps = _check_eps(eps, op, positive=training)

    if training:
        count = x.shape[0] * x.shape[2:].numel()  # m = N*H*W values per channel
        if count == 1:
            raise ValueError(
                f"{op}: Expected more than 1 value per channel when training, got input size "
                f"{tuple(x.shape)}. The variance of one value is undefined: use a batch of more "
                "than one sample (or more than one position), or training=False."
            )
        dims = (0, *range(2, x.dim()))  # every dimension except C
        mean = x.mean(dim=dims, keepdim=True)  # (1, C, 1, 1)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # (1, C, 1, 1), biased
        if running_mean is not None and running_var is not None:
            _update_running(running_mean, mean.flatten(), momentum)
            _update_running(running_var, var.flatten() * count / (count - 1), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                f"{op}: running_mean and running_var are required when training=False (eval "
                "mode normalizes with them); pass training=True to use the batch statistics."
            )
        mean = _per_channel(running_mean, x.dim())  # (1, C, 1, 1)
        var = _per_channel(running_var, x.dim())

    x_hat = (x - mean) / torch.sqrt(var + eps)  # (N, C, H, W)
    if weight is not None:
        x_hat = x_hat * _per_channel(weight, x.dim())
    if bias is not None:
        x_hat = x_hat + _per_channel(bias, x.dim())
    return x_hat


def layer_norm(
    input: torch.Tensor,
    normalized_shape: int | list[int] | tuple[int, ...] | torch.Size,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Layer normalization: every sample is normalized over its last dimensions.

    Same arguments and result as :func:`torch.nn.functional.layer_norm`. ``normalized_shape``
    must equal the last ``k`` dimensions of the input; those ``k`` dimensions share one mean and
    variance, separately for every index of the leading dimensions. For an image batch
    ``(N, C, H, W)`` with ``normalized_shape = (C, H, W)`` that is one pair per sample::

        mean[n] = mean_{c,h,w} x[n, c, h, w]
        var[n]  = mean_{c,h,w} (x[n, c, h, w] - mean[n])^2          (biased)
        y[n, c, h, w] = gamma[c, h, w] * (x[n, c, h, w] - mean[n]) / sqrt(var[n] + eps)
                        + beta[c, h, w]

    ``gamma = weight`` and ``beta = bias`` have shape ``normalized_shape`` (one value per
    element, not per channel); ``None`` means 1 and 0. No batch statistics are involved, so
    training and evaluation compute the same thing.
    """
    op = "layer_norm"
    x = _check_norm_input(input, op, min_dim=1)
    if isinstance(normalized_shape, int) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (list, tuple, torch.Size)) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in normalized_shape
    ):
        raise TypeError(
            f"{op}: normalized_shape must be an int or a sequence of ints, got "
            f"{normalized_shape!r}."
        )
    shape = tuple(normalized_shape)
    k = len(shape)
    if k == 0:
        raise ValueError(f"{op}: normalized_shape must have at least one dimension, got ().")
    if x.dim() < k or tuple(x.shape[-k:]) != shape:
        raise ValueError(
            f"{op}: normalized_shape {shape} must equal the last {k} dimension(s) of the input, "
            f"got input shape {tuple(x.shape)}."
        )
    weight = _check_param(weight, op, "weight", shape, "normalized_shape")
    bias = _check_param(bias, op, "bias", shape, "normalized_shape")
    eps = _check_eps(eps, op)

    dims = tuple(range(-k, 0))  # the last k dimensions, e.g. (C, H, W)
    mean = x.mean(dim=dims, keepdim=True)  # (N, 1, 1, 1)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # (N, 1, 1, 1), biased
    x_hat = (x - mean) / torch.sqrt(var + eps)  # (N, C, H, W)
    if weight is not None:
        x_hat = x_hat * weight  # (C, H, W) broadcasts over N
    if bias is not None:
        x_hat = x_hat + bias
    return x_hat


def instance_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Instance normalization: every channel of every sample is normalized over its positions.

    Same arguments and result as :func:`torch.nn.functional.instance_norm`. Input
    ``(N, C, L)`` or ``(N, C, H, W)`` (any ``(N, C, ...)``). The ``H*W`` values of channel ``c``
    in sample ``n`` share one mean and variance::

        mean[n, c] = mean_{h,w} x[n, c, h, w]
        var[n, c]  = mean_{h,w} (x[n, c, h, w] - mean[n, c])^2      (biased)
        y[n, c, h, w] = gamma[c] * (x[n, c, h, w] - mean[n, c]) / sqrt(var[n, c] + eps) + beta[c]

    ``gamma = weight`` and ``beta = bias`` have shape ``(C,)``; ``None`` means 1 and 0.

    * ``use_input_stats=True`` (the default, also what ``nn.InstanceNorm2d`` does in eval mode
      unless ``track_running_stats=True``): the statistics above. Needs more than one position.
      If running statistics are given they are updated in place, like :func:`batch_norm`, with
      the per-instance mean and unbiased variance (``var * m / (m - 1)``, ``m = H*W``) averaged
      over the batch::

          running_mean = (1 - momentum) * running_mean + momentum * mean_n mean[n, c]
          running_var  = (1 - momentum) * running_var  + momentum * mean_n var[n, c] * m / (m - 1)

    * ``use_input_stats=False``: normalize every sample with ``running_mean`` and
      ``running_var`` (required), like :func:`batch_norm` in eval mode.
    """
    op = "instance_norm"
    x = _check_norm_input(input, op)
    use_input_stats = _check_flag(use_input_stats, op, "use_input_stats")
    n, channels = x.shape[:2]
    running_mean, running_var = _check_running_stats(op, running_mean, running_var, channels)
    weight = _check_param(weight, op, "weight", (channels,), "(C,)")
    bias = _check_param(bias, op, "bias", (channels,), "(C,)")
    momentum = _check_momentum(momentum, op)
    eps = _check_eps(eps, op)

    if use_input_stats:
        count = x.shape[2:].numel()  # m = H*W values per sample and channel
        if count == 1:
            raise ValueError(
                f"{op}: Expected more than 1 spatial element when training, got input size "
                f"{tuple(x.shape)}. Instance norm needs an (N, C, L) or (N, C, H, W) input with "
                "more than one position (or use_input_stats=False with running statistics)."
            )
        dims = tuple(range(2, x.dim()))  # the positions: (H, W)
        mean = x.mean(dim=dims, keepdim=True)  # (N, C, 1, 1)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # (N, C, 1, 1), biased
        if running_mean is not None and running_var is not None:
            _update_running(running_mean, mean.reshape(n, channels).mean(dim=0), momentum)
            unbiased = var.reshape(n, channels) * count / (count - 1)
            _update_running(running_var, unbiased.mean(dim=0), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                f"{op}: running_mean and running_var are required when use_input_stats=False; "
                "pass use_input_stats=True to normalize with each instance's own statistics."
            )
        mean = _per_channel(running_mean, x.dim())  # (1, C, 1, 1)
        var = _per_channel(running_var, x.dim())

    x_hat = (x - mean) / torch.sqrt(var + eps)  # (N, C, H, W)
    if weight is not None:
        x_hat = x_hat * _per_channel(weight, x.dim())
    if bias is not None:
        x_hat = x_hat + _per_channel(bias, x.dim())
    return x_hat


def group_norm(
    input: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Group normalization: the channels of every sample are split into groups, each normalized.

    Same arguments and result as :func:`torch.nn.functional.group_norm`. Input ``(N, C)``,
    ``(N, C, L)`` or ``(N, C, H, W)``; ``G = num_groups`` must divide ``C``. Group ``g`` holds
    channels ``g*C/G .. (g+1)*C/G - 1``, and its ``C/G * H*W`` values in sample ``n`` share one
    mean and variance::

        mean[n, g] = mean_{c in g, h, w} x[n, c, h, w]
        var[n, g]  = mean_{c in g, h, w} (x[n, c, h, w] - mean[n, g])^2      (biased)
        y[n, c, h, w] = gamma[c] * (x[n, c, h, w] - mean[n, g]) / sqrt(var[n, g] + eps) + beta[c]

    ``gamma = weight`` and ``beta = bias`` have shape ``(C,)`` (per channel, not per group);
    ``None`` means 1 and 0. ``G = 1`` is layer norm over ``(C, H, W)`` with per-channel
    gamma/beta, ``G = C`` is instance norm. Like layer norm, it does not depend on the batch.
    """
    op = "group_norm"
    x = _check_norm_input(input, op)
    if isinstance(num_groups, bool) or not isinstance(num_groups, int):
        raise TypeError(f"{op}: num_groups must be an int, got {num_groups!r}.")
    n, channels = x.shape[:2]
    if num_groups < 1 or channels % num_groups != 0:
        raise ValueError(
            f"{op}: num_groups must be >= 1 and divide the number of channels C={channels}, "
            f"got num_groups={num_groups}."
        )
    weight = _check_param(weight, op, "weight", (channels,), "(C,)")
    bias = _check_param(bias, op, "bias", (channels,), "(C,)")
    eps = _check_eps(eps, op)

    xg = x.reshape(n, num_groups, channels // num_groups, *x.shape[2:])  # (N, G, C/G, H, W)
    dims = tuple(range(2, xg.dim()))  # (C/G, H, W)
    mean = xg.mean(dim=dims, keepdim=True)  # (N, G, 1, 1, 1)
    var = ((xg - mean) ** 2).mean(dim=dims, keepdim=True)  # (N, G, 1, 1, 1), biased
    x_hat = ((xg - mean) / torch.sqrt(var + eps)).reshape(x.shape)  # (N, C, H, W)
    if weight is not None:
        x_hat = x_hat * _per_channel(weight, x.dim())
    if bias is not None:
        x_hat = x_hat + _per_channel(bias, x.dim())
    return x_hat


def fold_batch_norm(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.nn.Conv2d:
    """A new convolution that computes ``bn(conv(x))`` with ``bn`` in eval mode, for inference.

    In eval mode batch norm is a fixed affine map per output channel ``o``. With
    ``s[o] = gamma[o] / sqrt(running_var[o] + eps)``::

        bn(conv(x))[o] = s[o] * (sum w[o] * x + b[o] - running_mean[o]) + beta[o]
                       = sum (w[o] * s[o]) * x + (b[o] - running_mean[o]) * s[o] + beta[o]

    so the folded convolution has ``w'[o] = w[o] * s[o]`` and
    ``b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o]`` (``b = 0`` if ``conv`` has no bias,
    ``gamma = 1, beta = 0`` if ``bn`` is not affine): one layer instead of two, same output.
    Stride, padding, dilation, groups and padding mode are copied; ``conv`` and ``bn`` are not
    changed. Only valid while the running statistics stay fixed: a batch norm in training mode
    normalizes with the statistics of each batch instead.
    """
    op = "fold_batch_norm"
    if not isinstance(conv, torch.nn.Conv2d):
        raise TypeError(f"{op}: conv must be an nn.Conv2d, got {type(conv).__name__}.")
    if not isinstance(bn, torch.nn.BatchNorm2d):
        raise TypeError(f"{op}: bn must be an nn.BatchNorm2d, got {type(bn).__name__}.")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            f"{op}: bn has no running statistics (track_running_stats=False), so it normalizes "
            "with the batch statistics even in eval mode and cannot be folded into the weights."
        )
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"{op}: bn.num_features={bn.num_features} must equal conv.out_channels="
            f"{conv.out_channels}."
        )

    folded = torch.nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        scale = 1 / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
        if bn.weight is not None:
            scale = scale * bn.weight  # s = gamma / sqrt(var + eps)
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        shift = (b - bn.running_mean) * scale  # (b - mean) * s
        if bn.bias is not None:
            shift = shift + bn.bias  # ... + beta
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))  # (C_out, C_in/g, kH, kW)
        folded.bias.copy_(shift)
    return folded
