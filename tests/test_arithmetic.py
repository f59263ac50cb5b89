"""Tests for dlcourse.arithmetic: every formula against PyTorch layers or a hand computation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dlcourse.arithmetic import (
    Layer,
    RFInfo,
    conv_macs,
    conv_output_size,
    conv_params,
    conv_transpose_output_size,
    depthwise_separable_macs,
    full_padding,
    linear_macs,
    linear_params,
    pool_output_size,
    receptive_field,
    receptive_field_size,
    same_padding,
    unread_pixels,
)


def _torch_size(layer: nn.Module, i: int) -> int | None:
    """Spatial output size of ``layer`` on a (1, 1, i, i) input; None if torch refuses or the
    output is empty."""
    try:
        out = layer(torch.zeros(1, 1, i, i))
    except RuntimeError:
        return None
    assert out.shape[-1] == out.shape[-2]
    return out.shape[-1] or None  # ConvTranspose2d returns an empty tensor for size 0


@pytest.fixture(autouse=True)
def _one_thread():
    """The tensors here are tiny: a thread pool only adds overhead (a lot on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ours(fn, *args, **kwargs) -> int | None:
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def _flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs that PyTorch's own counter attributes to ``module(x)`` (2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


# --------------------------------------------------------------------------------------------
# Output sizes against PyTorch
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def test_conv_output_size_matches_conv2d_on_a_grid():
    n_valid = 0
    for k, s, p, d in itertools.product(range(1, 6), range(1, 4), range(3), range(1, 4)):
        conv = nn.Conv2d(1, 1, k, s, p, d, bias=False)
        for i in range(1, 11):
            expected = _torch_size(conv, i)
            assert _ours(conv_output_size, i, k, s, p, d) == expected, (i, k, s, p, d)
            n_valid += expected is not None
    assert n_valid > 500  # the grid is mostly valid convolutions, not mostly errors


@torch.no_grad()
@settings(max_examples=40, deadline=None)
@given(
    i=st.integers(1, 300),
    k=st.integers(1, 12),
    s=st.integers(1, 8),
    p=st.integers(0, 6),
    d=st.integers(1, 5),
)
def test_conv_output_size_matches_conv1d_for_large_inputs(i, k, s, p, d):
    try:
        expected = F.conv1d(torch.zeros(1, 1, i), torch.zeros(1, 1, k), None, s, p, d).shape[-1]
    except RuntimeError:
        expected = None
    assert _ours(conv_output_size, i, k, s, p, d) == expected


@torch.no_grad()
def test_conv_transpose_output_size_matches_conv_transpose2d_on_a_grid():
    n_valid = 0
    for k, s, p, op, d in itertools.product(range(1, 5), range(1, 4), range(4), range(3), (1, 2)):
        conv = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d, bias=False)
        for i in range(1, 6):
            expected = _torch_size(conv, i)
            ours = _ours(conv_transpose_output_size, i, k, s, p, op, d)
            assert ours == expected, (i, k, s, p, op, d)
            n_valid += expected is not None
    assert n_valid > 500


def test_conv_transpose_undoes_the_size_change_of_a_conv():
    """For every conv there is an output_padding (the remainder the floor dropped) that makes
    the transposed conv give back the input size."""
    grid = itertools.product(range(1, 13), range(1, 5), range(1, 5), range(3), (1, 2))
    for i, k, s, p, d in grid:
        o = _ours(conv_output_size, i, k, s, p, d)
        if o is None:
            continue
        op = (i + 2 * p - d * (k - 1) - 1) % s
        assert conv_transpose_output_size(o, k, s, p, op, d) == i


@torch.no_grad()
@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
def test_pool_output_size_matches_maxpool2d(ceil_mode):
    n_valid = 0
    for k, s, p, d in itertools.product(range(1, 5), range(1, 5), range(3), range(1, 4)):
        pool = nn.MaxPool2d(k, s, p, d, ceil_mode=ceil_mode)
        for i in range(1, 10):
            expected = _torch_size(pool, i)
            assert _ours(pool_output_size, i, k, s, p, d, ceil_mode) == expected, (i, k, s, p, d)
            n_valid += expected is not None
    assert n_valid > 300


@torch.no_grad()
@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
def test_pool_output_size_matches_avgpool2d(ceil_mode):
    n_valid = 0
    for k, s, p in itertools.product(range(1, 6), range(1, 5), range(3)):
        pool = nn.AvgPool2d(k, s, p, ceil_mode=ceil_mode)
        for i in range(1, 12):
            expected = _torch_size(pool, i)
            assert _ours(pool_output_size, i, k, s, p, ceil_mode=ceil_mode) == expected
            n_valid += expected is not None
    assert n_valid > 300


def test_pool_output_size_by_hand():
    assert pool_output_size(4, 2) == 2  # stride defaults to the kernel size
    assert pool_output_size(5, 2) == 2  # the last pixel fits no window...
    assert pool_output_size(5, 2, ceil_mode=True) == 3  # ...unless a partial window is kept
    # i=6, k=3, s=2, p=1: the padded input spans indices -1..6. Windows -1..1, 1..3, 3..5 fit;
    # 5..7 sticks out: floor drops it, ceil keeps it because it starts inside the input.
    assert pool_output_size(6, 3, 2, 1) == 3
    assert pool_output_size(6, 3, 2, 1, ceil_mode=True) == 4
    # i=5, k=2, s=2, p=1: windows start at -1, 1, 3; ceil would add one starting at 5 = i,
    # which reads only right padding: dropped again.
    assert pool_output_size(5, 2, 2, 1) == 3
    assert pool_output_size(5, 2, 2, 1, ceil_mode=True) == 3


# --------------------------------------------------------------------------------------------
# Padding
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def test_same_padding_keeps_the_size_and_full_padding_grows_it():
    for i, k, d in itertools.product((5, 8, 13), (1, 3, 4, 5, 7), (1, 2, 3)):
        x = torch.zeros(1, 1, i, i)
        if (d * (k - 1) + 1) % 2 == 1:
            p = same_padding(k, d)
            assert 2 * p == d * (k - 1)
            assert nn.Conv2d(1, 1, k, padding=p, dilation=d)(x).shape[-1] == i
            assert nn.Conv2d(1, 1, k, padding="same", dilation=d)(x).shape[-1] == i
        else:
            with pytest.raises(ValueError, match="asymmetric padding"):
                same_padding(k, d)
        full = nn.Conv2d(1, 1, k, padding=full_padding(k, d), dilation=d)(x)
        assert full.shape[-1] == i + d * (k - 1)
    assert same_padding(3) == 1
    assert same_padding(5) == 2
    assert same_padding(3, d=2) == 2
    assert full_padding(3) == 2
    assert full_padding(3, d=2) == 4


# --------------------------------------------------------------------------------------------
# Unread pixels
# --------------------------------------------------------------------------------------------


def _zero_gradient_pixels(i: int, k: int, s: int, p: int, d: int) -> list[int]:
    """Pixels of a length-i input whose gradient of sum(conv(x)) is zero (all-ones kernel)."""
    x = torch.ones(1, 1, 1, i, requires_grad=True)
    w = torch.ones(1, 1, 1, k)
    F.conv2d(x, w, stride=(1, s), padding=(0, p), dilation=(1, d)).sum().backward()
    return torch.nonzero(x.grad[0, 0, 0] == 0).flatten().tolist()


def test_unread_pixels_matches_zero_gradients():
    n_with_unread = 0
    for i, k, s, p, d in itertools.product(
        range(1, 11), range(1, 5), range(1, 5), range(3), range(1, 4)
    ):
        if d * (k - 1) + 1 > i + 2 * p:
            continue
        expected = _zero_gradient_pixels(i, k, s, p, d)
        assert unread_pixels(i, k, s, p, d) == expected, (i, k, s, p, d)
        n_with_unread += bool(expected)
    assert n_with_unread > 100


def test_unread_pixels_by_hand():
    assert unread_pixels(6, 3, 2) == [5]  # windows 0-2, 2-4; pixel 5 fits no window
    assert unread_pixels(6, 3, 2, 1) == []  # padding 1: windows -1..1, 1..3, 3..5
    assert unread_pixels(7, 2, 4, d=2) == [1, 3, 5]  # taps 0, 2 and 4, 6: holes between
    assert unread_pixels(5, 3) == []  # stride 1 reads everything


# --------------------------------------------------------------------------------------------
# Parameters and cost
# --------------------------------------------------------------------------------------------


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "c_in, c_out, k, bias, groups",
    [
        (3, 16, 3, True, 1),
        (3, 16, 3, False, 1),
        (16, 32, (3, 5), True, 1),
        (16, 32, 1, False, 4),
        (8, 8, 3, True, 8),  # depthwise
        (8, 24, (5, 3), True, 8),  # depthwise with channel multiplier 3
    ],
)
def test_conv_params_matches_conv2d(c_in, c_out, k, bias, groups):
    conv = nn.Conv2d(c_in, c_out, k, bias=bias, groups=groups)
    assert conv_params(c_in, c_out, k, bias, groups) == _numel(conv)


@pytest.mark.parametrize("n_in, n_out, bias", [(1, 1, True), (784, 10, True), (512, 1000, False)])
def test_linear_params_and_macs_match_linear(n_in, n_out, bias):
    fc = nn.Linear(n_in, n_out, bias=bias)
    assert linear_params(n_in, n_out, bias) == _numel(fc)
    assert 2 * linear_macs(n_in, n_out) == _flops(fc, torch.zeros(1, n_in))


@torch.no_grad()
@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding, groups",
    [(3, 8, 3, 1, 1, 1), (4, 6, (3, 5), 2, 0, 2), (6, 6, 3, 1, 1, 6), (8, 4, 1, 1, 0, 1)],
)
def test_conv_macs_matches_torch_flop_counter(c_in, c_out, k, stride, padding, groups):
    conv = nn.Conv2d(c_in, c_out, k, stride, padding, groups=groups)
    out = conv(torch.zeros(1, c_in, 11, 9))
    h_out, w_out = out.shape[-2:]
    macs = conv_macs(h_out, w_out, c_in, c_out, k, groups)
    assert 2 * macs == _flops(conv, torch.zeros(1, c_in, 11, 9))


@torch.no_grad()
def test_depthwise_separable_macs_matches_torch_and_is_cheaper():
    c_in, c_out, k, size = 16, 32, 3, 10
    depthwise = nn.Conv2d(c_in, c_in, k, padding=1, groups=c_in, bias=False)
    pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
    x = torch.zeros(1, c_in, size, size)
    macs = depthwise_separable_macs(size, size, c_in, c_out, k)
    assert 2 * macs == _flops(nn.Sequential(depthwise, pointwise), x)
    standard = conv_macs(size, size, c_in, c_out, k)
    assert standard == size * size * k * k * c_in * c_out
    assert macs / standard == pytest.approx(1 / c_out + 1 / k**2)


# --------------------------------------------------------------------------------------------
# The lecture's worked numbers, checked by hand
# --------------------------------------------------------------------------------------------


def test_alexnet_conv1_from_the_paper():
    # 227 input, 96 filters 11x11x3, stride 4: (227 - 11)/4 + 1 = 55, 96 * (363 + 1) params.
    assert conv_output_size(227, 11, 4) == 55
    assert unread_pixels(227, 11, 4) == []  # 216 = 4 * 54: the windows tile the input
    assert conv_params(3, 96, 11) == 34_944
    # The paper's "224" gives (224 - 11)/4 + 1 = 54.25: not an integer. The floor keeps 54
    # windows and the last pixel (index 223) is never read.
    assert (224 - 11) / 4 + 1 == 54.25
    assert conv_output_size(224, 11, 4) == 54
    assert unread_pixels(224, 11, 4) == [223]


def test_torchvision_alexnet_conv1():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):  # shapes only: no memory, no random initialisation work
        conv1 = torchvision.models.alexnet(weights=None).features[0]
    assert (conv1.out_channels, conv1.kernel_size, conv1.stride, conv1.padding) == (
        64, (11, 11), (4, 4), (2, 2)
    )  # fmt: skip
    # (224 + 2*2 - 11)/4 + 1 = 55.25 -> 55; 64 * (11*11*3 + 1) = 23,296 parameters.
    assert conv_output_size(224, 11, 4, 2) == 55
    assert conv1(torch.zeros(1, 3, 224, 224, device="meta")).shape[-1] == 55
    assert conv_params(3, 64, 11) == 23_296 == _numel(conv1)


def test_1x1_bottleneck_cost():
    # 28x28x192 -> 28x28x32 with a 5x5 'same' conv.
    p = same_padding(5)
    assert conv_output_size(28, 5, 1, p) == 28
    assert conv_macs(28, 28, 192, 32, 5) == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    # A 1x1 conv down to 16 channels first, then the 5x5 conv: about a tenth of the cost.
    reduce = conv_macs(28, 28, 192, 16, 1)
    spatial = conv_macs(28, 28, 16, 32, 5)
    assert reduce == 28 * 28 * 16 * 192 == 2_408_448
    assert spatial == 28 * 28 * 32 * 5 * 5 * 16 == 10_035_200
    assert reduce + spatial == 12_443_648


# --------------------------------------------------------------------------------------------
# Receptive field
# --------------------------------------------------------------------------------------------


def test_receptive_field_classic_values():
    assert receptive_field_size([(3, 1)] * 2) == 5
    assert receptive_field_size([(3, 1)] * 3) == 7  # three 3x3 convs see as far as one 7x7
    resnet_stem = [Layer(7, 2, 3, name="conv1"), Layer(3, 2, 1, name="maxpool")]
    assert receptive_field(resnet_stem) == [
        RFInfo("conv1", 7, 2, 0.0),
        RFInfo("maxpool", 11, 4, 0.0),  # 7 + (3 - 1) * 2 = 11
    ]
    alexnet = receptive_field([(11, 4)])
    assert alexnet == [RFInfo("layer 1", 11, 4, 5.0)]  # first window covers 0..10, centre 5
    assert receptive_field([(3, 1, 0, 2)])[0].size == 5  # dilation 2: taps 0, 2, 4


def test_receptive_field_accepts_layers_and_tuples_alike():
    as_tuples = receptive_field([(3, 2, 1), (3, 1, 1, 2)])
    as_layers = receptive_field([Layer(3, 2, 1), Layer(3, 1, 1, 2)])
    assert as_tuples == as_layers
    assert [info.name for info in as_tuples] == ["layer 1", "layer 2"]


def _nonzero_span(layers: list[tuple], n: int = 48) -> tuple[list[int], int]:
    """Input rows on which one central output unit of an all-ones conv stack depends, and the
    index of that unit."""
    x = torch.ones(1, 1, n, n, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)
    o = y.shape[-1] // 2
    y[0, 0, o, o].backward()
    rows = torch.nonzero(x.grad[0, 0].sum(1)).flatten().tolist()
    return rows, o


@pytest.mark.parametrize(
    "layers, has_holes",
    [
        ([(3, 1, 0, 1)] * 3, False),
        ([(3, 2, 0, 1), (3, 1, 0, 1)], False),
        ([(3, 1, 0, 1), (3, 1, 0, 2)], False),  # dilation after a conv that fills the gaps
        ([(7, 2, 3, 1), (3, 2, 1, 1), (3, 1, 1, 1)], False),  # ResNet stem + a 3x3 conv
        ([(2, 2, 0, 1), (3, 1, 1, 1)], False),  # even kernel: half-integer start
        ([(3, 1, 1, 1), (5, 2, 2, 1), (3, 1, 0, 3)], False),
        ([(3, 1, 0, 2)], True),  # a lone dilated conv skips every other pixel
        ([(1, 2, 0, 1), (3, 1, 0, 1)], True),  # stride larger than the kernel
    ],
)
def test_receptive_field_matches_gradient_of_one_output(layers, has_holes):
    info = receptive_field(layers)[-1]
    rows, o = _nonzero_span(layers)
    centre = info.start + o * info.jump
    first, last = centre - (info.size - 1) / 2, centre + (info.size - 1) / 2
    assert first >= 0 and last < 48  # the window lies inside the input: nothing cut off
    assert (rows[0], rows[-1]) == (first, last)
    assert (len(rows) < info.size) == has_holes


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((5.0, 3), {}, TypeError, "input size i must be an int, got 5.0"),
        ((5, True), {}, TypeError, "kernel size k must be an int, got True"),
        ((5, 3), {"s": "2"}, TypeError, "stride s must be an int"),
        ((0, 3), {}, ValueError, "input size i must be >= 1, got 0"),
        ((5, 0), {}, ValueError, "kernel size k must be >= 1"),
        ((5, 3), {"s": 0}, ValueError, "stride s must be >= 1"),
        ((5, 3), {"p": -1}, ValueError, "padding p must be >= 0"),
        ((5, 3), {"d": 0}, ValueError, "dilation d must be >= 1"),
        (
            (5, 4),
            {"d": 2},
            ValueError,
            r"kernel \(dilated size 7\) is larger than the padded input \(5\): output would be "
            r"empty; allowed: d\*\(k-1\)\+1 <= i\+2p",
        ),
    ],
)
def test_conv_output_size_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        conv_output_size(*args, **kwargs)


def test_conv_transpose_output_size_rejects_bad_input():
    with pytest.raises(TypeError, match="output_padding must be an int"):
        conv_transpose_output_size(3, 3, 2, output_padding=0.5)
    with pytest.raises(ValueError, match="output_padding must be >= 0"):
        conv_transpose_output_size(3, 3, 2, output_padding=-1)
    with pytest.raises(ValueError, match=r"smaller than the stride \(2\) or the dilation \(1\)"):
        conv_transpose_output_size(3, 3, 2, output_padding=2)
    with pytest.raises(ValueError, match=r"output would be empty \(size -1\)"):
        conv_transpose_output_size(1, 1, p=1)
    with pytest.raises(ValueError, match="padding p must be >= 0"):
        conv_transpose_output_size(3, 3, p=-1)


def test_pool_output_size_rejects_bad_input():
    with pytest.raises(ValueError, match=r"more than half the kernel size k=3; allowed: p <= k//2"):
        pool_output_size(8, 3, p=2)
    with pytest.raises(ValueError, match=r"empty; allowed: d\*\(k-1\)\+1 <= i\+2p$"):
        pool_output_size(2, 3)
    with pytest.raises(ValueError, match=r"allowed: d\*\(k-1\)\+1 <= i\+2p\+s-1 with ceil"):
        pool_output_size(2, 3, 1, ceil_mode=True)
    with pytest.raises(TypeError, match="ceil_mode must be True or False"):
        pool_output_size(8, 2, ceil_mode=1)
    with pytest.raises(ValueError, match="stride s must be >= 1"):
        pool_output_size(8, 2, 0)


def test_padding_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"odd dilated kernel size d\*\(k-1\)\+1, got 4"):
        same_padding(4)
    with pytest.raises(ValueError, match="1 on one side, 2 on the other"):
        same_padding(4)
    with pytest.raises(ValueError, match="kernel size k must be >= 1"):
        full_padding(0)
    with pytest.raises(TypeError, match="dilation d must be an int"):
        same_padding(3, d=1.0)


def test_unread_pixels_rejects_bad_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        unread_pixels(2, 3)
    with pytest.raises(TypeError, match="stride s must be an int"):
        unread_pixels(6, 3, None)


def test_counts_reject_bad_input():
    with pytest.raises(ValueError, match="groups=4 must divide both c_in=6 and c_out=8"):
        conv_params(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="groups=3 must divide both c_in=6 and c_out=8"):
        conv_macs(4, 4, 6, 8, 3, groups=3)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        conv_params(6, 8, 3, groups=0)
    with pytest.raises(ValueError, match=r"kernel size k must be an int or a pair \(kH, kW\)"):
        conv_params(3, 8, (3, 3, 3))
    with pytest.raises(ValueError, match=r"kernel width k\[1\] must be >= 1"):
        conv_macs(4, 4, 3, 8, (3, 0))
    with pytest.raises(TypeError, match="bias must be True or False"):
        conv_params(3, 8, 3, bias=1)
    with pytest.raises(TypeError, match="bias must be True or False"):
        linear_params(3, 8, bias=None)
    with pytest.raises(ValueError, match="c_out must be >= 1"):
        conv_params(3, 0, 3)
    with pytest.raises(ValueError, match="n_in must be >= 1"):
        linear_macs(0, 10)
    with pytest.raises(ValueError, match="h_out must be >= 1"):
        depthwise_separable_macs(0, 4, 3, 8, 3)


def test_receptive_field_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one layer"):
        receptive_field([])
    with pytest.raises(ValueError, match="at least one layer"):
        receptive_field_size([])
    with pytest.raises(ValueError, match=r"layer 2: a tuple must be \(kernel, stride"):
        receptive_field([(3, 1), (3,)])
    with pytest.raises(TypeError, match="layer 1 must be a Layer or a tuple"):
        receptive_field([3])
    with pytest.raises(ValueError, match="stride must be >= 1"):
        receptive_field([(3, 0)])
    with pytest.raises(ValueError, match="kernel must be >= 1"):
        Layer(0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        Layer(3, padding=-1)
    with pytest.raises(TypeError, match="dilation must be an int"):
        Layer(3, dilation=1.5)
    with pytest.raises(TypeError, match="name must be a str"):
        Layer(3, name=None)
