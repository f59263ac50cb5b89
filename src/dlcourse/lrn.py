"""Local response normalization (LRN) as written in the AlexNet paper (Krizhevsky, Sutskever and
Hinton, 2012, "ImageNet classification with deep convolutional neural networks", Section 3.3).

Each activation is divided by a power of the sum of squares of the activations at the same
position in ``size`` neighbouring channels:

    b_i = a_i / (k + alpha * sum_{j=i-size//2}^{i+(size-1)//2} a_j^2) ** beta

with channels outside ``0 .. C-1`` left out of the sum (zeros). The paper uses k = 2, size n = 5,
alpha = 1e-4 and beta = 0.75. ``torch.nn.LocalResponseNorm`` computes the same thing except that
it multiplies the sum by ``alpha / size``: with the paper's ``alpha`` it equals
``nn.LocalResponseNorm(size, alpha=size * alpha, beta=beta, k=k)``.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = ["local_response_norm"]


def _number(name: str, value: object, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not positive and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def local_response_norm(
    a: torch.Tensor,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
) -> torch.Tensor:
    """The paper's LRN across channels of ``a``, shape ``(N, C, ...)`` (e.g. ``(N, C, H, W)``).

    ``b_i = a_i / (k + alpha * S_i) ** beta`` where ``S_i`` is the sum of ``a_j ** 2`` over the
    channels ``j`` from ``i - size // 2`` to ``i + (size - 1) // 2`` that exist (for odd
    ``size`` a window centred on ``i``; PyTorch's window for even ``size``). ``alpha`` multiplies
    the *sum*, as in the paper; PyTorch's layer multiplies the *mean over size channels*.
    """
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"a must be a torch.Tensor, got {type(a).__name__}")
    if a.dim() < 2 or not a.is_floating_point():
        raise ValueError(
            f"a must be a floating-point tensor of shape (N, C, ...), got {a.dim()} dimensions "
            f"of dtype {a.dtype}"
        )
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive int (the number of channels), got {size!r}")
    alpha = _number("alpha", alpha, positive=False)
    beta = _number("beta", beta, positive=False)
    k = _number("k", k, positive=True)

    channels = a.shape[1]
    before, after = int(size) // 2, (int(size) - 1) // 2
    squares = a.square()
    rest = a.shape[2:]  # () for (N, C), (H, W) for images
    # missing channels at both ends contribute nothing: pad with zero squares
    padded = torch.cat(
        [
            squares.new_zeros((a.shape[0], before, *rest)),
            squares,
            squares.new_zeros((a.shape[0], after, *rest)),
        ],
        dim=1,
    )  # (N, before + C + after, ...)
    # window_sum[:, i] = padded[:, i] + ... + padded[:, i + size - 1]
    #                  = squares of channels i - before .. i + after
    window_sum = sum(padded[:, j : j + channels] for j in range(int(size)))
    return a / (k + alpha * window_sum).pow(beta)
