"""Tests for the pooling layers and the hand-written backward passes in dlcourse.layers.

Forward results are compared with torch.nn.functional, backward results with autograd of the
same PyTorch functions, and the backward passes are also checked numerically with
torch.autograd.gradcheck (finite differences) through small autograd.Function wrappers.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.layers import (
    avg_pool2d,
    avg_pool2d_backward,
    conv2d_backward,
    conv2d_im2col,
    conv2d_input_grad_flipped,
    max_pool2d,
    max_pool2d_backward,
)


def _distinct(shape: tuple[int, ...], seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """A tensor whose values are all different (a shuffled ramp), so every max is unique."""
    gen = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    return (torch.randperm(n, generator=gen).to(dtype) / n - 0.5).reshape(shape)


def _randn(shape: tuple[int, ...], seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Forward: max_pool2d and avg_pool2d against torch.nn.functional
# ---------------------------------------------------------------------------------------------

# (id, input shape, kernel, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    ("k2_default_stride", (2, 3, 8, 8), 2, None, 0, 1, False),
    ("k2_s1", (1, 2, 5, 6), 2, 1, 0, 1, False),
    ("k3_s2_p1", (2, 2, 9, 9), 3, 2, 1, 1, False),
    ("k3_s1_p1_same_size", (1, 3, 6, 5), 3, 1, 1, 1, False),
    ("k3_s3_not_tiling", (1, 2, 10, 11), 3, 3, 0, 1, False),
    ("k3_s3_not_tiling_ceil", (1, 2, 10, 11), 3, 3, 0, 1, True),
    ("k2_s2_odd_ceil", (2, 1, 7, 9), 2, 2, 0, 1, True),
    ("k3_s2_p1_ceil", (1, 2, 8, 7), 3, 2, 1, 1, True),
    # Ceil mode whose extra window would start in the right padding: PyTorch drops it.
    ("ceil_dropped_window", (1, 1, 5, 5), 2, 2, 1, 1, True),
    ("k2_dilation2", (1, 2, 9, 8), 2, 1, 0, 2, False),
    ("k3_dilation2_p1_s2", (2, 1, 11, 10), 3, 2, 1, 2, True),
    ("nonsquare_kernel", (2, 2, 7, 9), (3, 2), (2, 1), (1, 0), 1, False),
    ("nonsquare_all", (1, 3, 9, 12), (2, 3), (3, 2), (1, 1), (2, 1), True),
    ("unbatched_3d", (3, 7, 6), 3, 2, 1, 1, False),
    ("kernel_equals_input", (1, 2, 4, 5), (4, 5), 1, 0, 1, False),
]
POOL_PARAMS = [pytest.param(*case[1:], id=case[0]) for case in POOL_CASES]
# avg_pool2d has no dilation and only ceil_mode=False: the cases that fit, as (shape, k, s, p).
AVG_POOL_PARAMS = [
    pytest.param(*case[1:5], id=case[0]) for case in POOL_CASES if case[5] == 1 and not case[6]
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", POOL_PARAMS)
def test_max_pool2d_matches_torch(shape, kernel, stride, padding, dilation, ceil_mode):
    x = _distinct(shape)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    expected, expected_idx = F.max_pool2d(x, kernel, return_indices=True, **kwargs)
    got, got_idx = max_pool2d(x, kernel, return_indices=True, **kwargs)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)  # a max picks an existing value: exact equality
    assert got_idx.dtype == torch.int64
    assert torch.equal(got_idx, expected_idx)
    assert torch.equal(max_pool2d(x, kernel, **kwargs), expected)


def test_max_pool2d_positional_arguments_and_ties():
    # Many ties (integers in a small range): the first tap in row-major order wins, as in torch.
    x = torch.randint(0, 3, (2, 2, 7, 8), generator=torch.Generator().manual_seed(0)).float()
    got = max_pool2d(x, 3, 2, 1, 1, True, True)
    expected = F.max_pool2d(x, 3, 2, 1, 1, True, True)
    assert torch.equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1])


def test_max_pool2d_integer_input():
    x = torch.randint(-50, 50, (1, 2, 6, 7), generator=torch.Generator().manual_seed(1))
    got, got_idx = max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    expected, expected_idx = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    assert got.dtype == torch.int64
    assert torch.equal(got, expected)
    assert torch.equal(got_idx, expected_idx)


def test_max_pool2d_by_hand():
    """2x2 windows, stride 2, on a 4x4 plane holding 0..15: the max is each bottom-right corner."""
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert torch.equal(out, torch.tensor([[[[5.0, 7.0], [13.0, 15.0]]]]))
    assert torch.equal(idx, torch.tensor([[[[5, 7], [13, 15]]]]))


@pytest.mark.parametrize("shape, kernel, stride, padding", AVG_POOL_PARAMS)
def test_avg_pool2d_matches_torch(shape, kernel, stride, padding):
    x = _randn(shape, seed=2)
    expected = F.avg_pool2d(x, kernel, stride, padding)
    got = avg_pool2d(x, kernel, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_avg_pool2d_by_hand():
    """Padding zeros count in the mean: the top-left 2x2 window at padding 1 sees one value."""
    x = torch.full((1, 1, 2, 2), 4.0)
    # Windows (stride 2) over the 4x4 padded plane each hold one 4 and three padding zeros.
    assert torch.equal(avg_pool2d(x, 2, padding=1), torch.full((1, 1, 2, 2), 1.0))


@st.composite
def pool_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    # Mostly valid padding (<= kernel // 2); sometimes one too many, which must be rejected.
    padding = tuple(
        draw(st.integers(0, k // 2 + 1))
        if draw(st.integers(0, 5)) == 0
        else draw(st.integers(0, k // 2))
        for k in kernel
    )
    return dict(
        shape=(
            draw(st.integers(1, 2)),
            draw(st.integers(1, 2)),
            draw(st.integers(1, 9)),
            draw(st.integers(1, 9)),
        ),
        kernel=kernel,
        stride=draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3)))),
        padding=padding,
        dilation=draw(st.sampled_from([(1, 1), (1, 1), (1, 2), (2, 1), (2, 2)])),
        ceil_mode=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=40, deadline=None)
@given(pool_configs())
def test_random_pool_configs_match_torch(cfg):
    """Ours accepts exactly the configurations PyTorch accepts, and then gives its result."""
    x = _distinct(cfg["shape"], seed=cfg["seed"]).requires_grad_(True)
    kernel, stride, padding = cfg["kernel"], cfg["stride"], cfg["padding"]
    kwargs = dict(stride=stride, padding=padding, dilation=cfg["dilation"])
    try:
        expected, expected_idx = F.max_pool2d(
            x, kernel, return_indices=True, ceil_mode=cfg["ceil_mode"], **kwargs
        )
    except RuntimeError:
        with pytest.raises(ValueError, match="max_pool2d: "):
            max_pool2d(x, kernel, ceil_mode=cfg["ceil_mode"], **kwargs)
        return
    got, got_idx = max_pool2d(x, kernel, return_indices=True, ceil_mode=cfg["ceil_mode"], **kwargs)
    assert torch.equal(got, expected)
    # A window that sees only padding (dilation) outputs -inf; its index is not meaningful.
    seen = torch.isfinite(expected)
    assert torch.equal(got_idx[seen], expected_idx[seen])

    if seen.all():
        upstream = _randn(tuple(expected.shape), seed=cfg["seed"] + 1)
        (expected_grad,) = torch.autograd.grad(expected, x, upstream)
        got_grad = max_pool2d_backward(upstream, got_idx, x.shape)
        torch.testing.assert_close(got_grad, expected_grad)

    if cfg["dilation"] == (1, 1) and not cfg["ceil_mode"]:
        try:
            expected_avg = F.avg_pool2d(x, kernel, stride, padding)
        except RuntimeError:
            with pytest.raises(ValueError, match="avg_pool2d: "):
                avg_pool2d(x, kernel, stride, padding)
            return
        torch.testing.assert_close(avg_pool2d(x, kernel, stride, padding), expected_avg)
        upstream = _randn(tuple(expected_avg.shape), seed=cfg["seed"] + 2)
        (expected_grad,) = torch.autograd.grad(expected_avg, x, upstream)
        got_grad = avg_pool2d_backward(upstream, x.shape, kernel, stride, padding)
        torch.testing.assert_close(got_grad, expected_grad)


# ---------------------------------------------------------------------------------------------
# Backward passes against autograd
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", POOL_PARAMS)
def test_max_pool2d_backward_matches_autograd(shape, kernel, stride, padding, dilation, ceil_mode):
    x = _distinct(shape, seed=3).requires_grad_(True)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    y, idx = F.max_pool2d(x, kernel, return_indices=True, **kwargs)
    upstream = _randn(tuple(y.shape), seed=4)
    y.backward(upstream)
    torch.testing.assert_close(max_pool2d_backward(upstream, idx, x.shape), x.grad)
    _, our_idx = max_pool2d(x.detach(), kernel, return_indices=True, **kwargs)
    torch.testing.assert_close(max_pool2d_backward(upstream, our_idx, tuple(shape)), x.grad)


def test_max_pool2d_backward_shared_argmax_accumulates():
    """All four overlapping 2x2 windows of a 3x3 plane pick the centre: it gets the sum."""
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    _, idx = max_pool2d(x, 2, stride=1, return_indices=True)
    assert torch.equal(idx, torch.full((1, 1, 2, 2), 4))
    upstream = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = torch.zeros(1, 1, 3, 3)
    expected[0, 0, 1, 1] = 1.0 + 2.0 + 3.0 + 4.0
    assert torch.equal(max_pool2d_backward(upstream, idx, x.shape), expected)


@pytest.mark.parametrize("shape, kernel, stride, padding", AVG_POOL_PARAMS)
def test_avg_pool2d_backward_matches_autograd(shape, kernel, stride, padding):
    x = _randn(shape, seed=5).requires_grad_(True)
    y = F.avg_pool2d(x, kernel, stride, padding)
    upstream = _randn(tuple(y.shape), seed=6)
    y.backward(upstream)
    got = avg_pool2d_backward(upstream, x.shape, kernel, stride, padding)
    assert got.shape == x.shape
    torch.testing.assert_close(got, x.grad)


def test_avg_pool2d_backward_by_hand():
    """Non-overlapping 2x2 windows: each input gets a quarter of its window's gradient."""
    upstream = torch.tensor([[[[4.0, 8.0], [-4.0, 12.0]]]])
    expected = torch.tensor(
        [
            [1.0, 1.0, 2.0, 2.0],
            [1.0, 1.0, 2.0, 2.0],
            [-1.0, -1.0, 3.0, 3.0],
            [-1.0, -1.0, 3.0, 3.0],
        ]
    ).reshape(1, 1, 4, 4)
    assert torch.equal(avg_pool2d_backward(upstream, (1, 1, 4, 4), 2), expected)


# (id, n, c_in, (H, W), c_out, (kH, kW), stride, padding, dilation, groups)
CONV_CASES = [
    ("basic", 2, 3, (6, 7), 4, (3, 3), 1, 0, 1, 1),
    ("padding1", 1, 2, (5, 5), 3, (3, 3), 1, 1, 1, 1),
    ("stride2_padding1", 2, 3, (9, 8), 4, (3, 3), 2, 1, 1, 1),
    # (10 - 3) % 3 = 1: the last row/column is never seen, its gradient is zero.
    ("stride3_not_tiling", 1, 2, (10, 11), 3, (3, 3), 3, 0, 1, 1),
    ("stride_pair_not_tiling", 2, 2, (11, 9), 3, (4, 2), (3, 4), (1, 0), 1, 1),
    ("dilation2", 1, 2, (10, 9), 3, (3, 3), 1, 1, 2, 1),
    ("dilation_stride", 2, 2, (11, 12), 2, (3, 2), 2, (2, 1), (2, 3), 1),
    ("groups2", 2, 4, (7, 7), 6, (3, 3), 1, 1, 1, 2),
    ("depthwise_stride2", 1, 3, (8, 8), 6, (3, 3), 2, 1, 1, 3),
    ("everything", 2, 6, (11, 10), 4, (3, 2), (2, 1), (1, 2), (2, 1), 2),
    ("1x1_kernel", 2, 4, (5, 6), 8, (1, 1), 2, 0, 1, 1),
]


@pytest.mark.parametrize(
    "n, c_in, size, c_out, kernel, stride, padding, dilation, groups",
    [pytest.param(*case[1:], id=case[0]) for case in CONV_CASES],
)
def test_conv2d_backward_matches_autograd(
    n, c_in, size, c_out, kernel, stride, padding, dilation, groups
):
    x = _randn((n, c_in, *size), seed=7).requires_grad_(True)
    w = _randn((c_out, c_in // groups, *kernel), seed=8).requires_grad_(True)
    b = _randn((c_out,), seed=9).requires_grad_(True)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = F.conv2d(x, w, b, **kwargs)
    upstream = _randn(tuple(y.shape), seed=10)
    y.backward(upstream)

    grad_input, grad_weight, grad_bias = conv2d_backward(upstream, x.detach(), w.detach(), **kwargs)
    assert grad_input.shape == x.shape
    assert grad_weight.shape == w.shape
    assert grad_bias.shape == b.shape
    torch.testing.assert_close(grad_input, x.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(grad_weight, w.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(grad_bias, b.grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize(
    "size, kernel, padding",
    [
        pytest.param((6, 7), (3, 3), 0, id="valid"),
        pytest.param((5, 5), (3, 3), 1, id="same"),
        pytest.param((6, 5), (2, 3), (1, 2), id="nonsquare"),
        pytest.param((4, 4), (1, 1), 0, id="1x1"),
        pytest.param((3, 4), (3, 4), 0, id="kernel_equals_input"),
    ],
)
def test_conv2d_input_grad_flipped_matches_autograd(size, kernel, padding):
    x = _randn((2, 3, *size), seed=11).requires_grad_(True)
    w = _randn((4, 3, *kernel), seed=12)
    y = F.conv2d(x, w, padding=padding)
    upstream = _randn(tuple(y.shape), seed=13)
    y.backward(upstream)
    got = conv2d_input_grad_flipped(upstream, w, x.shape, padding=padding)
    assert got.shape == x.shape
    torch.testing.assert_close(got, x.grad, atol=1e-4, rtol=1e-5)
    # Both views, full correlation with the flipped kernel and transposed convolution, agree.
    transposed, _, _ = conv2d_backward(upstream, x.detach(), w, padding=padding)
    torch.testing.assert_close(got, transposed, atol=1e-4, rtol=1e-5)


def test_conv2d_input_grad_flipped_by_hand():
    """1x1 grad_output, 2x2 kernel, no padding: grad_input is the kernel times the gradient."""
    w = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    got = conv2d_input_grad_flipped(torch.tensor([[[[10.0]]]]), w, (1, 1, 2, 2))
    assert torch.equal(got, 10.0 * w)


# ---------------------------------------------------------------------------------------------
# gradcheck: the hand-written backward is the derivative of the forward, numerically
# ---------------------------------------------------------------------------------------------


class MaxPoolFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        out, idx = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, True)
        ctx.save_for_backward(idx)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (idx,) = ctx.saved_tensors
        return max_pool2d_backward(grad_output, idx, ctx.input_shape), None, None, None, None, None


class AvgPoolFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        ctx.args = (x.shape, kernel_size, stride, padding)
        return avg_pool2d(x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, grad_output):
        return avg_pool2d_backward(grad_output, *ctx.args), None, None, None


class ConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.args = (stride, padding, dilation, groups)
        return conv2d_im2col(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        grad_input, grad_weight, grad_bias = conv2d_backward(grad_output, x, w, *ctx.args)
        return grad_input, grad_weight, grad_bias, None, None, None, None


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation, ceil_mode",
    [
        pytest.param(2, None, 0, 1, False, id="k2"),
        pytest.param(3, 1, 1, 1, False, id="k3_overlapping"),
        pytest.param((3, 2), (2, 1), (1, 1), (1, 2), True, id="everything"),
    ],
)
def test_max_pool_gradcheck(kernel, stride, padding, dilation, ceil_mode):
    # Values 1/numel apart, far more than gradcheck's step of 1e-6: the argmax never flips.
    x = _distinct((1, 2, 5, 6), seed=14, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(
        MaxPoolFn.apply, (x, kernel, stride, padding, dilation, ceil_mode)
    )


@pytest.mark.parametrize(
    "kernel, stride, padding",
    [pytest.param(2, None, 0, id="k2"), pytest.param((3, 2), (1, 2), (1, 1), id="overlapping")],
)
def test_avg_pool_gradcheck(kernel, stride, padding):
    x = _randn((1, 2, 5, 6), seed=15, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(AvgPoolFn.apply, (x, kernel, stride, padding))


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [
        pytest.param(1, 0, 1, 1, id="basic"),
        pytest.param(2, 1, 1, 1, id="stride2"),
        pytest.param((2, 3), (1, 0), (2, 1), 2, id="everything"),
    ],
)
def test_conv_gradcheck(stride, padding, dilation, groups):
    x = _randn((2, 2, 5, 4), seed=16, dtype=torch.float64).requires_grad_(True)
    w = _randn((2, 2 // groups, 3, 2), seed=17, dtype=torch.float64).requires_grad_(True)
    b = _randn((2,), seed=18, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(ConvFn.apply, (x, w, b, stride, padding, dilation, groups))


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

X = torch.zeros(1, 2, 6, 6)


@pytest.mark.parametrize("pool", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        pytest.param(
            (X.tolist(), 2), {}, TypeError, r"pool2d: input must be a torch.Tensor", id="list"
        ),
        pytest.param(
            (X[0, 0], 2), {}, ValueError, r"input must be 3-D \(C, H, W\) .* got 2-D", id="2d"
        ),
        pytest.param((X[None], 2), {}, ValueError, r"or 4-D \(N, C, H, W\), got 5-D", id="5d"),
        pytest.param(
            (X, 2.0), {}, TypeError, r"pool2d: kernel_size must be an int or a pair", id="k_float"
        ),
        pytest.param(
            (X, (2, 2, 2)), {}, TypeError, r"kernel_size must be an int or a pair", id="k3"
        ),
        pytest.param((X, 0), {}, ValueError, r"kernel_size must be >= 1 .* got \(0, 0\)", id="k0"),
        pytest.param((X, (2, -1)), {}, ValueError, r"kernel_size must be >= 1", id="k_neg"),
        pytest.param(
            (X, 2), {"stride": 0}, ValueError, r"stride must be >= 1 .* \(0, 0\)", id="s0"
        ),
        pytest.param(
            (X, 2), {"stride": True}, TypeError, r"stride must be an int or a pair", id="s_bool"
        ),
        pytest.param((X, 2), {"padding": -1}, ValueError, r"padding must be >= 0", id="p_neg"),
        pytest.param(
            (X, 3),
            {"padding": 2},
            ValueError,
            r"padding must be <= kernel_size // 2 .* got padding=2 for kernel_size=3 along height",
            id="p_too_big",
        ),
        pytest.param(
            (X, (4, 2)),
            {"padding": (1, 2)},
            ValueError,
            r"padding=2 for kernel_size=2 along width",
            id="p_too_big_width",
        ),
        pytest.param(
            (X, (7, 2)),
            {},
            ValueError,
            r"along height, pooling window \(dilated size 7\) is larger than the padded "
            r"input \(6\)",
            id="kernel_too_big",
        ),
    ],
)
def test_pool_errors(pool, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        pool(*args, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"dilation": 0}, ValueError, r"dilation must be >= 1", id="dilation0"),
        pytest.param(
            {"dilation": 4}, ValueError, r"window \(dilated size 9\) is larger", id="dilation_big"
        ),
        pytest.param({"ceil_mode": 1}, TypeError, r"ceil_mode must be True or False", id="ceil"),
        pytest.param(
            {"return_indices": "yes"}, TypeError, r"return_indices must be True or False", id="ri"
        ),
    ],
)
def test_max_pool2d_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        max_pool2d(X, 3, **kwargs)


def test_pool_dtype_errors():
    with pytest.raises(TypeError, match=r"max_pool2d: input must be a real floating point or"):
        max_pool2d(X.bool(), 2)
    with pytest.raises(TypeError, match=r"avg_pool2d: input must be a floating-point tensor"):
        avg_pool2d(X.long(), 2)


def test_backward_errors():
    g = torch.zeros(1, 2, 3, 3)
    idx = torch.zeros(1, 2, 3, 3, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"input_shape must be a tuple or torch.Size of ints"):
        max_pool2d_backward(g, idx, "1x2x6x6")
    with pytest.raises(ValueError, match=r"input_shape must be 3-D .* got 2-D shape \(6, 6\)"):
        max_pool2d_backward(g, idx, (6, 6))
    with pytest.raises(TypeError, match=r"indices must be int64"):
        max_pool2d_backward(g, idx.int(), (1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"indices must have shape \(1, 3\) \+ \(H_out, W_out\)"):
        max_pool2d_backward(g, idx, (1, 3, 6, 6))
    with pytest.raises(ValueError, match=r"grad_output must have the shape .* \(1, 2, 3, 3\)"):
        max_pool2d_backward(g[..., :2], idx, (1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H\*W\) = \[0, 36\)"):
        max_pool2d_backward(g, idx - 1, (1, 2, 6, 6))
    with pytest.raises(
        ValueError, match=r"avg_pool2d_backward: grad_output must have the shape .* \(1, 2, 3, 3\)"
    ):
        avg_pool2d_backward(g[..., :2], (1, 2, 6, 6), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d_backward: padding must be <= kernel_size"):
        avg_pool2d_backward(g, (1, 2, 6, 6), 2, padding=2)

    x, w = torch.zeros(1, 2, 6, 6), torch.zeros(3, 2, 3, 3)
    with pytest.raises(
        ValueError, match=r"conv2d_backward: grad_output must have the shape .* \(1, 3, 4, 4\)"
    ):
        conv2d_backward(torch.zeros(1, 3, 6, 6), x, w)
    with pytest.raises(ValueError, match=r"conv2d: stride must be >= 1"):
        conv2d_backward(torch.zeros(1, 3, 4, 4), x, w, stride=0)
    with pytest.raises(
        ValueError, match=r"weight must be 4-D \(C_out, C_in, kH, kW\) with C_in = 2"
    ):
        conv2d_input_grad_flipped(torch.zeros(1, 3, 4, 4), torch.zeros(3, 1, 3, 3), x.shape)
    with pytest.raises(ValueError, match=r"grad_output must have the shape .* \(1, 3, 6, 6\)"):
        conv2d_input_grad_flipped(torch.zeros(1, 3, 4, 4), w, x.shape, padding=1)
