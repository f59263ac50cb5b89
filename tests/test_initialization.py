"""Tests for dlcourse.initialization: the variance rule by Monte Carlo, the schemes on real
layers, the symmetry of a constant init, and the classic deep-network experiment checked
against the lecture's pictures and against an independent mean-field computation.

The mean-field prediction follows each layer's second moment ``q = E[h^2]`` through the
variance rule: the pre-activation of layer l is ``N(0, D Var(w) q_{l-1})`` and
``q_l = E[act(pre)^2]``, integrated by Gauss-Hermite quadrature (closed form for ReLU:
``E[relu(s Z)] = s / sqrt(2 pi)``, ``E[relu(s Z)^2] = s^2 / 2``). It ignores the finite width,
so the margins below allow for the fluctuations of one 16 x width batch.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss
from torch import nn

from dlcourse.initialization import (
    ACTIVATIONS,
    SCHEMES,
    LayerStats,
    backward_stats,
    forward_stats,
    init_std,
    init_weights,
    module_fan_in,
)

#: The lecture's network: 6 layers of 4096 units, a batch of 16.
DEPTH, WIDTH = 6, 4096
#: Xavier and Kaiming do not depend on the width by construction (D Var(w) is fixed), so those
#: cases run at a quarter of the width, 16 times cheaper; "normal" needs the lecture's width.
SMALL = 1024

_NODES, _WEIGHTS = hermegauss(100)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)  # E[f(Z)] = sum(w * f(nodes)), Z ~ N(0, 1)


def mean_field_std(activation: str, gain: float, depth: int = DEPTH) -> np.ndarray:
    """Predicted std of each layer's activations; ``gain = D Var(w)``."""
    q, out = 1.0, []
    for _ in range(depth):
        s = math.sqrt(gain * q)
        if activation == "relu":
            mean, q = s / math.sqrt(2 * math.pi), s * s / 2
        else:
            h = np.tanh(s * _NODES)
            mean, q = _WEIGHTS @ h, _WEIGHTS @ (h * h)
        out.append(math.sqrt(q - mean * mean))
    return np.array(out)


@cache
def run(activation: str, scheme: str, scale: float, width: int) -> tuple[LayerStats, ...]:
    """forward_stats with the default seeded generator, computed once per test session."""
    return tuple(forward_stats(DEPTH, width, activation, scheme, scale))


def stds(stats) -> np.ndarray:
    return np.array([s.std for s in stats])


# ------------------------------------------------------------------------------------------
# The variance rule and the schemes
# ------------------------------------------------------------------------------------------


def test_init_std_formulas():
    assert init_std("normal", 4096, 0.01) == 0.01
    assert init_std("xavier", 400) == pytest.approx(1 / 20)
    assert init_std("xavier", 400, 2.0) == pytest.approx(2 / 20)
    assert init_std("kaiming", 8) == pytest.approx(0.5)  # sqrt(2/8)
    assert init_std("kaiming", 72, 3.0) == pytest.approx(3 / 6)  # 3 * sqrt(2/72)
    assert init_std("constant", 10) == 0.0
    assert SCHEMES == ("normal", "xavier", "kaiming", "constant")


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("he", 10), ValueError, "unknown scheme 'he'; allowed: normal, xavier, kaiming"),
        (("xavier", 0), ValueError, "fan_in must be a positive int, got 0"),
        (("xavier", 2.5), TypeError, "fan_in must be an int"),
        (("normal", 10, 0.0), ValueError, "scale must be positive"),
        (("normal", 10, float("nan")), ValueError, "scale must be finite"),
    ],
)
def test_init_std_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        init_std(*args)


@pytest.mark.parametrize("dist", ["normal", "uniform/rademacher"])
def test_variance_rule_by_monte_carlo(dist):
    """Var(y) = D_in Var(w) Var(x) for y = sum_i w_i x_i: only independence and zero means
    matter, not the distributions."""
    gen = torch.Generator().manual_seed(1)
    d_in, d_out, n = 256, 64, 4096
    std_w, std_x = 0.3, 2.0
    if dist == "normal":
        w = torch.randn(d_in, d_out, generator=gen) * std_w
        x = torch.randn(n, d_in, generator=gen) * std_x
    else:  # uniform on [-a, a] has variance a^2 / 3; +-1 signs have variance 1
        w = (torch.rand(d_in, d_out, generator=gen) * 2 - 1) * std_w * math.sqrt(3)
        x = (torch.randint(0, 2, (n, d_in), generator=gen) * 2 - 1).float() * std_x
    layer = nn.Linear(d_in, d_out, bias=False)
    with torch.no_grad():
        layer.weight.copy_(w.T)
        y = layer(x)  # (n, d_out)
    expected = d_in * std_w**2 * std_x**2  # 92.16
    assert float(y.var()) == pytest.approx(expected, rel=0.04)


def test_relu_halves_the_second_moment_which_kaiming_gives_back():
    """After a ReLU, E[x^2] = Var(z) / 2, so Var(y) = D_in Var(w) Var(z) / 2: with Kaiming's
    Var(w) = 2 / D_in the variance is kept."""
    gen = torch.Generator().manual_seed(2)
    d_in, d_out, n = 256, 4096, 1024
    z = torch.randn(n, d_in, generator=gen) * 1.5
    x = torch.relu(z)  # not zero-mean: E[x^2] counts, not Var(x)
    assert float(x.pow(2).mean()) == pytest.approx(1.5**2 / 2, rel=0.02)
    # many output columns: the spread of their means (x has a mean) averages out
    w = torch.randn(d_in, d_out, generator=gen) * init_std("kaiming", d_in)
    assert float((x @ w).var()) == pytest.approx(1.5**2, rel=0.04)


def test_module_fan_in():
    assert module_fan_in(nn.Linear(300, 10)) == 300
    assert module_fan_in(nn.Conv2d(16, 32, 3)) == 9 * 16
    assert module_fan_in(nn.Conv2d(16, 32, 3, groups=4)) == 9 * 4
    assert module_fan_in(nn.Conv2d(8, 8, (3, 5))) == 15 * 8
    assert module_fan_in(nn.Conv1d(4, 4, 7)) == 28
    with pytest.raises(TypeError, match="needs an nn.Linear or nn.Conv1d/2d/3d, got ReLU"):
        module_fan_in(nn.ReLU())


@pytest.mark.parametrize(
    "scheme, scale, expected_conv, expected_linear",
    [
        ("kaiming", 1.0, math.sqrt(2 / (9 * 64 / 2)), math.sqrt(2 / 512)),
        ("xavier", 1.0, 1 / math.sqrt(9 * 64 / 2), 1 / math.sqrt(512)),
        ("normal", 0.05, 0.05, 0.05),
    ],
)
def test_init_weights_sets_the_std_of_every_weight(scheme, scale, expected_conv, expected_linear):
    model = nn.Sequential(
        nn.Conv2d(64, 128, 3, groups=2), nn.BatchNorm2d(128), nn.ReLU(), nn.Linear(512, 256)
    )
    gen = torch.Generator().manual_seed(3)
    assert init_weights(model, scheme, scale, generator=gen) is model
    conv, norm, linear = (m.requires_grad_(False) for m in (model[0], model[1], model[3]))
    # 36864 and 131072 weights: the sample std is within ~1% (3 sigma) of the true one
    assert float(conv.weight.std()) == pytest.approx(expected_conv, rel=0.03)
    assert float(linear.weight.std()) == pytest.approx(expected_linear, rel=0.03)
    assert abs(float(conv.weight.mean())) < 0.03 * expected_conv
    assert torch.all(conv.bias == 0) and torch.all(linear.bias == 0)
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)  # untouched


def test_init_weights_default_changes_nothing_and_is_repeatable():
    model = nn.Sequential(nn.Linear(6, 5), nn.Conv1d(2, 3, 3))
    before = [p.clone() for p in model.parameters()]
    init_weights(model, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    a = init_weights(nn.Linear(6, 5), "xavier", generator=torch.Generator().manual_seed(0))
    b = init_weights(nn.Linear(6, 5), "xavier", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.weight, b.weight)


def test_constant_init_keeps_every_unit_identical():
    """The symmetry problem: same weights -> same outputs -> same gradients -> same update."""
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    init_weights(model, "constant", constant=0.1)
    first = model[0].weight
    assert torch.all(first == 0.1) and torch.all(model[0].bias == 0)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(4))
    hidden = model[1](model[0](x))  # (5, 8)
    assert torch.allclose(hidden, hidden[:, :1].expand_as(hidden))  # all units alike
    model(x).pow(2).sum().backward()
    assert torch.allclose(first.grad, first.grad[:1].expand_as(first.grad))  # identical rows
    with torch.no_grad():
        first -= 0.5 * first.grad
    assert torch.allclose(first, first[:1].expand_as(first))  # and they stay identical
    assert not torch.allclose(first, first[:, :1].expand_as(first))  # inputs still differ


def test_init_weights_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown scheme 'orthogonal'; allowed: .*default"):
        init_weights(nn.Linear(2, 2), "orthogonal")
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        init_weights(torch.zeros(2), "xavier")
    with pytest.raises(ValueError, match="constant must be finite"):
        init_weights(nn.Linear(2, 2), "constant", constant=float("inf"))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        init_weights(nn.Linear(2, 2), "xavier", generator=0)


# ------------------------------------------------------------------------------------------
# The classic experiment: forward
# ------------------------------------------------------------------------------------------


def test_small_normal_init_collapses_with_tanh():
    """Lecture: std 0.01 -> activations tend to zero. Each layer multiplies the std by about
    sqrt(4096) * 0.01 = 0.64, so after 6 layers it is ~0.05 (not smaller: tanh is linear there)."""
    stats = run("tanh", "normal", 0.01, WIDTH)
    s = stds(stats)
    assert s[-1] < 0.1
    assert np.all(np.diff(s) < 0)
    assert s[-3:] / s[-4:-1] == pytest.approx(np.full(3, 0.64), rel=0.03)  # tanh(z) ~ z there
    np.testing.assert_allclose(s, mean_field_std("tanh", WIDTH * 0.01**2), rtol=0.05)
    assert [s.layer for s in stats] == list(range(1, DEPTH + 1))


def test_larger_normal_init_saturates_tanh():
    """Lecture: std 0.05 -> the tanh saturates, most values near -1 or +1."""
    stats = run("tanh", "normal", 0.05, WIDTH)
    saturated = [float((s.values.abs() > 0.9).float().mean()) for s in stats]
    # mean field: pre-activation std 3.2 * 0.85, P(|tanh| > 0.9) = P(|Z| > 0.545) = 0.59
    assert min(saturated[1:]) > 0.5
    np.testing.assert_allclose(stds(stats), mean_field_std("tanh", WIDTH * 0.05**2), rtol=0.05)


def test_xavier_with_tanh_shrinks_slowly():
    s = stds(run("tanh", "xavier", 1.0, SMALL))
    assert np.all((s > 0.2) & (s < 0.7))  # 0.63 .. 0.29
    assert np.all(np.diff(s) < 0) and s[-1] / s[0] > 0.4
    np.testing.assert_allclose(s, mean_field_std("tanh", 1.0), rtol=0.05)


def test_xavier_with_relu_halves_the_variance_every_layer():
    """Lecture: roughly 0.58 at layer 1 down to about 0.10 at layer 6: each ReLU halves
    E[h^2], so the std falls by sqrt(2) per layer."""
    s = stds(run("relu", "xavier", 1.0, SMALL))
    assert s[0] == pytest.approx(0.58, abs=0.03)
    assert s[-1] == pytest.approx(0.10, abs=0.02)
    assert s[-1] < s[0] / 4 and np.all(np.diff(s) < 0)
    np.testing.assert_allclose(s, mean_field_std("relu", 1.0), rtol=0.15)


def test_kaiming_with_relu_keeps_the_std():
    """std of relu(N(0, 2)) is sqrt(1 - 1/pi) = 0.826 at every layer."""
    s = stds(run("relu", "kaiming", 1.0, SMALL))
    assert np.all((s > 0.6) & (s < 1.0))
    np.testing.assert_allclose(s, math.sqrt(1 - 1 / math.pi), rtol=0.15)


def test_keep_subsamples_the_same_values_without_changing_the_statistics():
    full = forward_stats(depth=3, width=64, activation="relu", scheme="kaiming", scale=1.0)
    kept = forward_stats(
        depth=3, width=64, activation="relu", scheme="kaiming", scale=1.0, keep=100
    )
    assert all(s.values.shape == (16 * 64,) for s in full)
    for f, k in zip(full, kept, strict=True):
        assert k.values.shape == (100,)
        assert (f.mean, f.std) == (k.mean, k.std)  # from all values
        assert torch.isin(k.values, f.values).all()
        assert f.std == pytest.approx(float(f.values.std(correction=0)), rel=1e-5)
        assert f.mean == pytest.approx(float(f.values.mean()), abs=1e-6)
    big = forward_stats(depth=1, width=8, batch=2, keep=1000)
    assert big[0].values.shape == (16,)  # keep larger than everything: all values


def test_generator_makes_runs_repeatable():
    a = forward_stats(depth=2, width=32, generator=torch.Generator().manual_seed(0))
    b = forward_stats(depth=2, width=32)  # the default generator is seeded with 0
    c = forward_stats(depth=2, width=32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[1].values, b[1].values)
    assert not torch.equal(a[1].values, c[1].values)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_matches_a_hand_computation(activation):
    """Layer 1 of the experiment, recomputed from the same draws: x first, then W_1."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 8, generator=gen)
    w = torch.randn(8, 8, generator=gen) * init_std("xavier", 8)
    pre = x @ w
    expected = {
        "tanh": torch.tanh(pre), "relu": pre.clamp(min=0), "sigmoid": 1 / (1 + torch.exp(-pre)),
        "linear": pre, "leaky_relu": torch.where(pre > 0, pre, 0.01 * pre),
        "gelu": 0.5 * pre * (1 + torch.erf(pre / math.sqrt(2))),
    }[activation]  # fmt: skip
    stats = forward_stats(1, 8, activation, "xavier", 1.0, batch=4, generator=gen.manual_seed(5))
    torch.testing.assert_close(stats[0].values, expected.reshape(-1))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"activation": "swish"}, ValueError, "unknown activation 'swish'; allowed: tanh, relu"),
        ({"scheme": "constant"}, ValueError, "draws random weights.*init_weights"),
        ({"scheme": "he"}, ValueError, "unknown scheme 'he'; allowed: normal, xavier, kaiming"),
        ({"depth": 0}, ValueError, "depth must be a positive int"),
        ({"width": 10.0}, TypeError, "width must be an int"),
        ({"batch": -1}, ValueError, "batch must be a positive int"),
        ({"scale": -0.1}, ValueError, "scale must be positive"),
        ({"keep": 0}, ValueError, "keep must be a positive int"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
@pytest.mark.parametrize("fn", [forward_stats, backward_stats])
def test_experiment_rejects_bad_arguments(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(**{"depth": 2, "width": 8, **kwargs})


# ------------------------------------------------------------------------------------------
# The classic experiment: backward
# ------------------------------------------------------------------------------------------


def test_kaiming_relu_keeps_the_gradient_std():
    """Backwards, dL/dx = W (dL/dh * relu'), Var = D Var(w) Var(dL/dh) / 2 = Var(dL/dh), and
    dL/dh_last = v has unit variance."""
    stats = backward_stats(DEPTH, SMALL, "relu", "kaiming", 1.0)
    np.testing.assert_allclose(stds(stats), 1.0, rtol=0.1)
    assert [s.layer for s in stats] == list(range(1, DEPTH + 1))


def test_xavier_relu_halves_the_gradient_variance_per_layer_backwards():
    stats = backward_stats(DEPTH, SMALL, "relu", "xavier", 1.0, keep=50)
    expected = [2 ** (-(DEPTH - layer + 1) / 2) for layer in range(1, DEPTH + 1)]  # .125 .. .707
    np.testing.assert_allclose(stds(stats), expected, rtol=0.1)
    assert all(s.values.shape == (50,) for s in stats)


def test_backward_stats_match_autograd_on_a_tiny_network():
    """The same draws as forward_stats (x, then W_1 .. W_depth, then v), differentiated by hand:
    for a linear network L = sum((x W1 W2) * v), so dL/dx = v W2^T W1^T and dL/dh1 = v W2^T."""
    gen = torch.Generator().manual_seed(6)
    torch.randn(3, 5, generator=gen)  # x: a linear network's input gradient does not need it
    w1, w2 = (torch.randn(5, 5, generator=gen) * 0.5 for _ in range(2))
    v = torch.randn(3, 5, generator=gen)
    stats = backward_stats(2, 5, "linear", "normal", 0.5, batch=3, generator=gen.manual_seed(6))
    torch.testing.assert_close(stats[1].values, (v @ w2.T).reshape(-1))
    torch.testing.assert_close(stats[0].values, (v @ w2.T @ w1.T).reshape(-1))
