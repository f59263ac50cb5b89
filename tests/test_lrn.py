"""Tests for dlcourse.lrn: the paper's local response normalization, by hand and against
torch.nn.LocalResponseNorm (which divides alpha by the window size)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlcourse.lrn import local_response_norm


def test_one_position_by_hand():
    # 3 channels at one pixel: a = (1, 2, 3); window of 3 channels centred on each channel
    a = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    k, alpha, beta = 2.0, 0.1, 0.75
    sums = [1 + 4, 1 + 4 + 9, 4 + 9]  # the ends have only two neighbours (zero padding)
    values = [1.0, 2.0, 3.0]
    expected = torch.tensor(
        [v / (k + alpha * s) ** beta for v, s in zip(values, sums, strict=True)]
    )
    out = local_response_norm(a, size=3, alpha=alpha, beta=beta, k=k)
    torch.testing.assert_close(out.flatten(), expected)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_equals_pytorch_with_alpha_times_size(size):
    g = torch.Generator().manual_seed(size)
    a = 5 * torch.randn(2, 9, 4, 3, generator=g)
    ours = local_response_norm(a, size=size, alpha=1e-3, beta=0.75, k=2.0)
    theirs = nn.LocalResponseNorm(size, alpha=size * 1e-3, beta=0.75, k=2.0)(a)
    torch.testing.assert_close(ours, theirs)


def test_pytorch_with_the_papers_alpha_differs():
    a = 30 * torch.randn(1, 8, 2, 2, generator=torch.Generator().manual_seed(0))
    ours = local_response_norm(a)  # the paper's k=2, n=5, alpha=1e-4, beta=0.75
    naive = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    assert (ours - naive).abs().max() > 1e-2


def test_other_shapes_and_gradient():
    a = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = local_response_norm(a, size=5, alpha=0.5)
    torch.testing.assert_close(out, nn.LocalResponseNorm(5, alpha=2.5, k=2.0)(a))
    out.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_alpha_zero_is_a_constant_scale():
    a = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(local_response_norm(a, alpha=0.0, k=2.0), a / 2.0**0.75)


def test_bad_input():
    with pytest.raises(TypeError, match="torch.Tensor"):
        local_response_norm([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        local_response_norm(torch.ones(5))
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        local_response_norm(torch.ones(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="size"):
        local_response_norm(torch.ones(1, 5), size=0)
    with pytest.raises(ValueError, match="k must be > 0"):
        local_response_norm(torch.ones(1, 5), k=0.0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        local_response_norm(torch.ones(1, 5), alpha=-1.0)
    with pytest.raises(TypeError, match="beta"):
        local_response_norm(torch.ones(1, 5), beta="0.75")
