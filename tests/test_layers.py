"""Tests for the from-scratch convolutions in dlcourse.layers, checked against F.conv2d."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlcourse.layers import conv2d_im2col, conv2d_naive

IMPLEMENTATIONS = [
    pytest.param(conv2d_naive, id="naive"),
    pytest.param(conv2d_im2col, id="im2col"),
]

ATOL = 1e-5
RTOL = 1e-5


def _make(
    n: int,
    c_in: int,
    size: tuple[int, int],
    c_out: int,
    kernel: tuple[int, int],
    groups: int,
    with_bias: bool,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, *size, generator=gen)
    w = torch.randn(c_out, c_in // groups, *kernel, generator=gen)
    b = torch.randn(c_out, generator=gen) if with_bias else None
    return x, w, b


# (id, n, c_in, (H, W), c_out, (kH, kW), stride, padding, dilation, groups, bias)
CASES = [
    ("defaults", 1, 3, (8, 8), 4, (3, 3), 1, 0, 1, 1, False),
    ("defaults_bias", 1, 3, (8, 8), 4, (3, 3), 1, 0, 1, 1, True),
    ("pair_args_all_ones", 2, 3, (7, 9), 5, (3, 3), (1, 1), (0, 0), (1, 1), 1, True),
    ("stride2", 2, 3, (9, 9), 4, (3, 3), 2, 1, 1, 1, True),
    ("stride_2_1", 1, 2, (8, 7), 3, (3, 3), (2, 1), 0, 1, 1, False),
    ("padding_1_2", 2, 3, (6, 5), 4, (3, 3), 1, (1, 2), 1, 1, True),
    ("dilation2", 1, 2, (10, 11), 3, (3, 3), 1, 0, 2, 1, True),
    ("dilation_pair", 1, 2, (10, 11), 3, (3, 2), 1, 1, (2, 3), 1, False),
    ("groups2", 2, 4, (7, 7), 6, (3, 3), 1, 1, 1, 2, True),
    ("depthwise", 2, 4, (7, 6), 4, (3, 3), 1, 1, 1, 4, True),
    ("depthwise_multiplier", 1, 3, (6, 6), 6, (3, 3), 2, 1, 1, 3, False),
    ("nonsquare_kernel", 2, 3, (8, 9), 4, (2, 5), 1, 0, 1, 1, True),
    ("nonsquare_kernel_1x3", 1, 3, (5, 8), 2, (1, 3), 1, (0, 1), 1, 1, False),
    ("batch4", 4, 3, (6, 6), 5, (3, 3), 1, 1, 1, 1, True),
    # 10 + 2*0 - 3 = 7 is not a multiple of 3: the last input row/col is never used.
    ("stride_not_tiling", 2, 2, (10, 10), 3, (3, 3), 3, 0, 1, 1, True),
    ("stride_not_tiling_pair", 1, 2, (11, 9), 3, (4, 2), (3, 4), (1, 0), 1, 1, True),
    ("kernel_equals_input", 1, 2, (4, 5), 3, (4, 5), 1, 0, 1, 1, True),
    ("1x1_kernel_stride2", 2, 4, (5, 5), 8, (1, 1), 2, 0, 1, 2, True),
    ("everything", 2, 6, (11, 10), 4, (3, 2), (2, 1), (1, 2), (2, 1), 2, True),
]


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "n, c_in, size, c_out, kernel, stride, padding, dilation, groups, with_bias",
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_matches_torch(
    conv, n, c_in, size, c_out, kernel, stride, padding, dilation, groups, with_bias
):
    x, w, b = _make(n, c_in, size, c_out, kernel, groups, with_bias)
    expected = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
def test_positional_arguments(conv):
    x, w, b = _make(2, 4, (7, 8), 6, (3, 2), 2, True)
    expected = F.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2)
    torch.testing.assert_close(
        conv(x, w, b, (2, 1), (1, 0), (1, 2), 2), expected, atol=ATOL, rtol=RTOL
    )


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # Randomly use the int form when both dimensions agree.
    as_int = draw(st.booleans())

    def arg(a: int, b: int) -> int | tuple[int, int]:
        return a if (as_int and a == b) else (a, b)

    return dict(
        n=n,
        c_in=c_in,
        size=(h, w),
        c_out=c_out,
        kernel=(kh, kw),
        groups=groups,
        with_bias=draw(st.booleans()),
        stride=arg(sh, sw),
        padding=arg(ph, pw),
        dilation=arg(dh, dw),
        seed=draw(st.integers(0, 2**16)),
    )


def _pairify(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


@settings(max_examples=40, deadline=None)
@given(conv_configs())
def test_random_configs_match_torch(cfg):
    (h, w), (kh, kw) = cfg["size"], cfg["kernel"]
    (ph, pw), (dh, dw) = _pairify(cfg["padding"]), _pairify(cfg["dilation"])
    # Skip configurations whose output would be empty (our functions reject them).
    assume(h + 2 * ph >= dh * (kh - 1) + 1)
    assume(w + 2 * pw >= dw * (kw - 1) + 1)

    x, wt, b = _make(
        cfg["n"],
        cfg["c_in"],
        cfg["size"],
        cfg["c_out"],
        cfg["kernel"],
        cfg["groups"],
        cfg["with_bias"],
        cfg["seed"],
    )
    kwargs = dict(
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
    )
    expected = F.conv2d(x, wt, b, **kwargs)
    for conv in (conv2d_im2col, conv2d_naive):
        got = conv(x, wt, b, **kwargs)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation, groups, with_bias",
    [
        pytest.param((3, 3), 1, 1, 1, 1, True, id="basic"),
        pytest.param((3, 2), (2, 1), (1, 2), (2, 1), 2, True, id="everything"),
        pytest.param((3, 3), 2, 1, 1, 4, False, id="depthwise_nobias"),
    ],
)
def test_im2col_gradients_match_torch(kernel, stride, padding, dilation, groups, with_bias):
    x, w, b = _make(2, 4, (9, 8), 8, kernel, groups, with_bias, seed=1)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    def grads(conv):
        leaves = [t.clone().requires_grad_(True) for t in (x, w) + ((b,) if with_bias else ())]
        xi, wi = leaves[0], leaves[1]
        bi = leaves[2] if with_bias else None
        out = conv(xi, wi, bi, **kwargs)
        # A non-uniform upstream gradient, so that every output element matters differently.
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
        out.backward(upstream)
        return [t.grad for t in leaves]

    for got, expected in zip(grads(conv2d_im2col), grads(F.conv2d), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)


def test_naive_gradients_match_torch():
    """The naive version is differentiable too (autograd records each slice assignment)."""
    x, w, b = _make(1, 2, (5, 5), 2, (3, 3), 1, True, seed=3)
    leaves_ours = [t.clone().requires_grad_(True) for t in (x, w, b)]
    leaves_ref = [t.clone().requires_grad_(True) for t in (x, w, b)]
    conv2d_naive(*leaves_ours, stride=2, padding=1).sum().backward()
    F.conv2d(*leaves_ref, stride=2, padding=1).sum().backward()
    for ours, ref in zip(leaves_ours, leaves_ref, strict=True):
        torch.testing.assert_close(ours.grad, ref.grad, atol=1e-4, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

X = torch.zeros(1, 4, 5, 5)
W = torch.zeros(6, 4, 3, 3)


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        pytest.param((X.tolist(), W), {}, "input must be a torch.Tensor", id="input_list"),
        pytest.param((X.numpy(), W), {}, "input must be a torch.Tensor", id="input_numpy"),
        pytest.param((X, W.tolist()), {}, "weight must be a torch.Tensor", id="weight_list"),
        pytest.param((X, W, [0.0] * 6), {}, "bias must be a torch.Tensor or None", id="bias"),
        pytest.param((X, W), {"stride": 1.0}, "stride must be an int or a pair", id="stride_float"),
        pytest.param((X, W), {"stride": True}, "stride must be an int or a pair", id="stride_bool"),
        pytest.param(
            (X, W), {"stride": (1, True)}, "stride must be an int or a pair", id="stride_pair_bool"
        ),
        pytest.param(
            (X, W), {"stride": (1, 1, 1)}, "stride must be an int or a pair", id="stride_triple"
        ),
        pytest.param((X, W), {"padding": "same"}, "padding must be an int or a pair", id="pad_str"),
        pytest.param(
            (X, W), {"padding": (1, 1.5)}, "padding must be an int or a pair", id="pad_pair_float"
        ),
        pytest.param(
            (X, W), {"dilation": None}, "dilation must be an int or a pair", id="dil_none"
        ),
        pytest.param(
            (X, W), {"dilation": False}, "dilation must be an int or a pair", id="dil_bool"
        ),
        pytest.param((X, W), {"groups": 1.0}, "groups must be an int", id="groups_float"),
    ],
)
def test_type_errors(conv, args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        conv(*args, **kwargs)


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        pytest.param((X[0], W), {}, r"input must be 4-D \(N, C_in, H, W\), got 3-D", id="input_3d"),
        pytest.param(
            (X[None], W), {}, r"input must be 4-D \(N, C_in, H, W\), got 5-D", id="input_5d"
        ),
        pytest.param((X, W[0]), {}, r"weight must be 4-D .* got 3-D", id="weight_3d"),
        pytest.param((X, W), {"stride": 0}, r"stride must be >= 1 .* got \(0, 0\)", id="stride0"),
        pytest.param(
            (X, W), {"stride": (1, -1)}, r"stride must be >= 1 .* got \(1, -1\)", id="stride_neg"
        ),
        pytest.param((X, W), {"dilation": 0}, r"dilation must be >= 1", id="dilation0"),
        pytest.param((X, W), {"dilation": (2, 0)}, r"dilation must be >= 1", id="dilation_pair0"),
        pytest.param((X, W), {"padding": -1}, r"padding must be >= 0 .* got \(-1, -1\)", id="pad"),
        pytest.param((X, W), {"padding": (0, -2)}, r"padding must be >= 0", id="pad_pair"),
        pytest.param((X, W), {"groups": 0}, r"groups must be >= 1, got 0", id="groups0"),
        pytest.param(
            (X, torch.zeros(6, 1, 3, 3)),
            {"groups": 3},
            r"C_in=4 are not divisible by groups=3",
            id="c_in_not_divisible",
        ),
        pytest.param(
            (X, torch.zeros(6, 1, 3, 3)),
            {"groups": 4},
            r"C_out=6 .* not divisible by\s+groups=4",
            id="c_out_not_divisible",
        ),
        pytest.param(
            (X, torch.zeros(6, 3, 3, 3)),
            {},
            r"weight.shape\[1\] must equal C_in/groups = 4/1 = 4",
            id="weight_channels",
        ),
        pytest.param(
            (X, W),
            {"groups": 2},
            r"weight.shape\[1\] must equal C_in/groups = 4/2 = 2",
            id="weight_channels_groups",
        ),
        pytest.param(
            (X, W, torch.zeros(5)), {}, r"bias must have shape \(C_out,\) = \(6,\)", id="bias_len"
        ),
        pytest.param(
            (X, W, torch.zeros(1, 6)), {}, r"bias must have shape .* got \(1, 6\)", id="bias_2d"
        ),
        pytest.param(
            (X, torch.zeros(6, 4, 7, 3)),
            {},
            r"kernel \(dilated size 7\) is larger than the padded input \(5\) along height",
            id="kernel_too_tall",
        ),
        pytest.param(
            (X, W),
            {"dilation": (1, 3)},
            r"kernel \(dilated size 7\) is larger than the padded input \(5\) along width",
            id="dilated_kernel_too_wide",
        ),
        pytest.param(
            (torch.zeros(1, 4, 2, 2), W),
            {"padding": (1, 0)},
            r"padded input \(2\) along width; output size would be 0",
            id="padding_only_height",
        ),
    ],
)
def test_value_errors(conv, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv(*args, **kwargs)


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
def test_exact_fit_after_padding_is_allowed(conv):
    """A dilated kernel exactly as large as the padded input gives a 1x1 output."""
    x = torch.randn(1, 2, 3, 3)
    w = torch.randn(2, 2, 3, 3)
    got = conv(x, w, padding=1, dilation=2)
    torch.testing.assert_close(got, F.conv2d(x, w, padding=1, dilation=2), atol=ATOL, rtol=RTOL)
    assert got.shape == (1, 2, 1, 1)
