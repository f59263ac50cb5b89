"""Tests for the normalization layers in dlcourse.layers.

Outputs, updated running statistics and gradients are compared with PyTorch's own functions
(``torch.nn.functional.*``) and modules (``nn.BatchNorm2d``, ``nn.LayerNorm``, ...); a few small
cases are worked out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.layers import (
    batch_norm,
    fold_batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
)

ATOL = 1e-5


def _randn(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Values with a non-zero mean and a non-unit scale, so normalizing changes them."""
    gen = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(shape, generator=gen) + 1.5


def _affine(channels: int | tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A gamma far from 1 and a beta far from 0."""
    shape = (channels,) if isinstance(channels, int) else channels
    gen = torch.Generator().manual_seed(seed)
    return 1.0 + torch.rand(shape, generator=gen), torch.randn(shape, generator=gen)


def _running(channels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-trivial running statistics: mean != 0, var != 1 (and > 0)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(channels, generator=gen), 0.5 + torch.rand(channels, generator=gen)


def _grads(fn, tensors: list[torch.Tensor | None], grad_out: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of sum(fn(*leaves) * grad_out) with respect to every non-None tensor."""
    leaves = [t.clone().requires_grad_(True) if t is not None else None for t in tensors]
    out = fn(*leaves)
    (out * grad_out).sum().backward()
    return [leaf.grad for leaf in leaves if leaf is not None]


def _assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=ATOL)


# ---------------------------------------------------------------------------------------------
# batch_norm
# ---------------------------------------------------------------------------------------------


def test_batch_norm_by_hand():
    # One channel holding 1 and 3: mean 2, biased var 1, unbiased var 2.
    x = torch.tensor([[1.0], [3.0]])
    running_mean, running_var = torch.zeros(1), torch.ones(1)
    y = batch_norm(x, running_mean, running_var, training=True, momentum=0.1, eps=1e-5)
    _assert_close(y, torch.tensor([[-1.0], [1.0]]) / math.sqrt(1 + 1e-5))
    _assert_close(running_mean, torch.tensor([0.9 * 0 + 0.1 * 2]))
    _assert_close(running_var, torch.tensor([0.9 * 1 + 0.1 * 2]))
    # Eval mode uses the running statistics: (3 - 0.2) / sqrt(1.1 + eps) * 2 + 1.
    y = batch_norm(
        torch.tensor([[3.0]]), running_mean, running_var, torch.tensor([2.0]), torch.tensor([1.0])
    )
    _assert_close(y, torch.tensor([[2.8 / math.sqrt(1.1 + 1e-5) * 2 + 1]]))


# (input shape, training, affine, running statistics given): every valid combination for
# (N, C, H, W), a train and an eval case for (N, C) and (N, C, L). Eval mode without running
# statistics is an error (test_batch_norm_errors).
BATCH_NORM_CASES = [
    *[
        ((2, 3, 5, 4), training, affine, with_running)
        for training in (True, False)
        for affine in (True, False)
        for with_running in (True, False)
        if training or with_running
    ],
    ((8, 3), True, True, True),
    ((8, 3), False, False, True),
    ((4, 3, 7), True, False, False),
    ((4, 3, 7), False, True, True),
]


@pytest.mark.parametrize("shape, training, affine, with_running", BATCH_NORM_CASES, ids=str)
def test_batch_norm_matches_functional(shape, training, affine, with_running):
    c = shape[1]
    x = _randn(shape, 0)
    weight, bias = _affine(c, 1) if affine else (None, None)
    mean0, var0 = _running(c, 2) if with_running else (None, None)
    ours_stats = (mean0.clone(), var0.clone()) if with_running else (None, None)
    ref_stats = (mean0.clone(), var0.clone()) if with_running else (None, None)

    ours = batch_norm(x, *ours_stats, weight, bias, training=training, momentum=0.3)
    ref = F.batch_norm(x, *ref_stats, weight, bias, training=training, momentum=0.3)
    _assert_close(ours, ref)
    if with_running:
        _assert_close(ours_stats[0], ref_stats[0])
        _assert_close(ours_stats[1], ref_stats[1])
        changed = not torch.allclose(ours_stats[0], mean0)
        assert changed == training  # updated in place in training mode only

    grad_out = _randn(shape, 3)

    def ours_fn(x, w, b):
        stats = (mean0.clone(), var0.clone()) if with_running else (None, None)
        return batch_norm(x, *stats, w, b, training=training)

    def ref_fn(x, w, b):
        stats = (mean0.clone(), var0.clone()) if with_running else (None, None)
        return F.batch_norm(x, *stats, w, b, training=training)

    for g_ours, g_ref in zip(
        _grads(ours_fn, [x, weight, bias], grad_out),
        _grads(ref_fn, [x, weight, bias], grad_out),
        strict=True,
    ):
        _assert_close(g_ours, g_ref)


@pytest.mark.parametrize(
    "module_cls, shape",
    [(nn.BatchNorm1d, (6, 4)), (nn.BatchNorm1d, (3, 4, 9)), (nn.BatchNorm2d, (3, 4, 5, 6))],
    ids=["bn1d_NC", "bn1d_NCL", "bn2d"],
)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_matches_module_over_training_steps(module_cls, shape, affine):
    c = shape[1]
    module = module_cls(c, momentum=0.2, affine=affine)
    if affine:
        with torch.no_grad():
            module.weight.copy_(_affine(c, 10)[0])
            module.bias.copy_(_affine(c, 10)[1])
    weight = module.weight.detach() if affine else None
    bias = module.bias.detach() if affine else None
    running_mean, running_var = torch.zeros(c), torch.ones(c)  # the module's initial buffers

    module.train()
    for step in range(4):
        x = _randn(shape, 20 + step) * (step + 1)  # batches with different statistics
        ours = batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=0.2)
        _assert_close(ours, module(x))
        _assert_close(running_mean, module.running_mean)
        _assert_close(running_var, module.running_var)
    assert not torch.allclose(running_var, torch.ones(c))

    module.eval()
    x = _randn(shape, 30)
    _assert_close(batch_norm(x, running_mean, running_var, weight, bias), module(x))

    # Gradients in training mode: input, weight and bias against autograd through the module.
    module.train()
    x = _randn(shape, 31)
    grad_out = _randn(shape, 32)
    x_ref = x.clone().requires_grad_(True)
    (module(x_ref) * grad_out).sum().backward()
    grads = _grads(
        lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
        [x, weight, bias],
        grad_out,
    )
    _assert_close(grads[0], x_ref.grad)
    if affine:
        _assert_close(grads[1], module.weight.grad)
        _assert_close(grads[2], module.bias.grad)


def test_batch_norm_without_running_stats_matches_module():
    # track_running_stats=False: the module uses the batch statistics even in eval mode.
    module = nn.BatchNorm2d(3, track_running_stats=False).eval()
    x = _randn((2, 3, 4, 4), 40)
    _assert_close(batch_norm(x, None, None, module.weight, module.bias, training=True), module(x))


def test_batch_norm_training_output_is_standardized():
    x = _randn((5, 3, 4, 4), 41)
    y = batch_norm(x, None, None, training=True, eps=1e-12)
    _assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3))
    _assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3))


def test_batch_norm_single_sample_allowed_in_eval():
    x = _randn((1, 3), 42)
    mean, var = _running(3, 43)
    _assert_close(batch_norm(x, mean, var), F.batch_norm(x, mean, var))


def test_batch_norm_errors():
    x = _randn((4, 3, 2, 2), 50)
    mean, var = _running(3, 51)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        batch_norm(_randn((1, 3), 52), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        batch_norm(_randn((1, 3, 1, 1), 52), mean.clone(), var.clone(), training=True)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(C,\) = \(3,\)"):
        batch_norm(x, torch.zeros(4), var)
    with pytest.raises(ValueError, match=r"running_var must have shape \(C,\) = \(3,\)"):
        batch_norm(x, mean, torch.ones(3, 1), training=True)
    with pytest.raises(ValueError, match="both running_mean and running_var or neither"):
        batch_norm(x, mean, None, training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"weight must have shape \(C,\) = \(3,\), got \(2,\)"):
        batch_norm(x, mean, var, weight=torch.ones(2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        batch_norm(torch.ones(3), None, None, training=True)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        batch_norm(x, mean, var, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be > 0"):
        batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(TypeError, match="floating-point"):
        batch_norm(torch.ones(4, 3, dtype=torch.int64), None, None, training=True)


# ---------------------------------------------------------------------------------------------
# layer_norm
# ---------------------------------------------------------------------------------------------

# (input shape, normalized_shape, affine)
LAYER_NORM_CASES = [
    ((4, 10), 10, True),
    ((4, 10), 10, False),
    ((2, 3, 5, 4), (3, 5, 4), True),
    ((2, 3, 5, 4), (3, 5, 4), False),
    ((2, 3, 5, 4), (5, 4), True),
    ((2, 3, 5, 4), [4], True),
    ((3, 6, 7), torch.Size([6, 7]), False),
]


def test_layer_norm_by_hand():
    # One sample (1, 2, 3, 6): mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5.
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    expected = (x - 3.0) / math.sqrt(3.5 + 1e-5)
    _assert_close(layer_norm(x, 4), expected)


@pytest.mark.parametrize("shape, normalized_shape, affine", LAYER_NORM_CASES, ids=str)
def test_layer_norm_matches_functional_and_module(shape, normalized_shape, affine):
    x = _randn(shape, 60)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    weight, bias = _affine(ns, 61) if affine else (None, None)
    ours = layer_norm(x, normalized_shape, weight, bias)
    _assert_close(ours, F.layer_norm(x, ns, weight, bias))

    module = nn.LayerNorm(ns, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    _assert_close(ours, module(x))

    grad_out = _randn(shape, 62)
    for g_ours, g_ref in zip(
        _grads(lambda x, w, b: layer_norm(x, normalized_shape, w, b), [x, weight, bias], grad_out),
        _grads(lambda x, w, b: F.layer_norm(x, ns, w, b), [x, weight, bias], grad_out),
        strict=True,
    ):
        _assert_close(g_ours, g_ref)


def test_layer_norm_errors():
    x = _randn((2, 3, 4, 5), 63)
    with pytest.raises(ValueError, match=r"normalized_shape \(3, 4\) must equal the last 2"):
        layer_norm(x, (3, 4))
    with pytest.raises(ValueError, match=r"normalized_shape \(6,\) must equal the last 1"):
        layer_norm(x, 6)
    with pytest.raises(ValueError, match="must equal the last 5 dimension"):
        layer_norm(x, (1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="at least one dimension"):
        layer_norm(x, ())
    with pytest.raises(ValueError, match=r"weight must have shape normalized_shape = \(4, 5\)"):
        layer_norm(x, (4, 5), weight=torch.ones(5))
    with pytest.raises(TypeError, match="normalized_shape must be an int or a sequence of ints"):
        layer_norm(x, 5.0)


# ---------------------------------------------------------------------------------------------
# instance_norm
# ---------------------------------------------------------------------------------------------


# (input shape, affine, running statistics given)
INSTANCE_NORM_CASES = [
    ((4, 3, 7), True, True),
    ((4, 3, 7), False, False),
    ((2, 3, 5, 4), True, False),
    ((2, 3, 5, 4), False, True),
    ((1, 2, 3, 3), True, True),
]


@pytest.mark.parametrize("shape, affine, with_running", INSTANCE_NORM_CASES, ids=str)
def test_instance_norm_matches_functional(shape, affine, with_running):
    c = shape[1]
    x = _randn(shape, 70)
    weight, bias = _affine(c, 71) if affine else (None, None)
    mean0, var0 = _running(c, 72) if with_running else (None, None)
    ours_stats = (mean0.clone(), var0.clone()) if with_running else (None, None)
    ref_stats = (mean0.clone(), var0.clone()) if with_running else (None, None)

    ours = instance_norm(x, *ours_stats, weight, bias, momentum=0.3)
    _assert_close(ours, F.instance_norm(x, *ref_stats, weight, bias, momentum=0.3))
    if with_running:
        _assert_close(ours_stats[0], ref_stats[0])
        _assert_close(ours_stats[1], ref_stats[1])
        assert not torch.allclose(ours_stats[1], var0)
        # use_input_stats=False normalizes with the running statistics.
        _assert_close(
            instance_norm(x, *ours_stats, weight, bias, use_input_stats=False),
            F.instance_norm(x, *ref_stats, weight, bias, use_input_stats=False),
        )

    grad_out = _randn(shape, 73)
    for g_ours, g_ref in zip(
        _grads(lambda x, w, b: instance_norm(x, None, None, w, b), [x, weight, bias], grad_out),
        _grads(lambda x, w, b: F.instance_norm(x, None, None, w, b), [x, weight, bias], grad_out),
        strict=True,
    ):
        _assert_close(g_ours, g_ref)


@pytest.mark.parametrize(
    "module_cls, shape",
    [(nn.InstanceNorm1d, (3, 4, 9)), (nn.InstanceNorm2d, (3, 4, 5, 6))],
    ids=["in1d", "in2d"],
)
def test_instance_norm_matches_module_with_running_stats(module_cls, shape):
    c = shape[1]
    module = module_cls(c, affine=True, track_running_stats=True, momentum=0.2)
    weight, bias = _affine(c, 80)
    with torch.no_grad():
        module.weight.copy_(weight)
        module.bias.copy_(bias)
    running_mean, running_var = torch.zeros(c), torch.ones(c)
    module.train()
    for step in range(3):
        x = _randn(shape, 81 + step) * (step + 1)
        ours = instance_norm(x, running_mean, running_var, weight, bias, momentum=0.2)
        _assert_close(ours, module(x))
        _assert_close(running_mean, module.running_mean)
        _assert_close(running_var, module.running_var)

    module.eval()  # with tracked statistics, eval mode uses the running statistics
    x = _randn(shape, 90)
    ours = instance_norm(x, running_mean, running_var, weight, bias, use_input_stats=False)
    _assert_close(ours, module(x))


def test_instance_norm_is_per_sample_and_channel():
    # Every (n, c) plane of the output has mean 0 and biased variance ~1.
    y = instance_norm(_randn((3, 4, 5, 6), 91), eps=1e-12)
    _assert_close(y.mean(dim=(2, 3)), torch.zeros(3, 4))
    _assert_close(y.var(dim=(2, 3), unbiased=False), torch.ones(3, 4))


def test_instance_norm_errors():
    x = _randn((2, 3, 4, 4), 92)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        instance_norm(_randn((2, 3, 1, 1), 93))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        instance_norm(_randn((2, 3), 93))
    with pytest.raises(ValueError, match="required when use_input_stats=False"):
        instance_norm(x, use_input_stats=False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(C,\) = \(3,\)"):
        instance_norm(x, torch.zeros(2), torch.ones(3))
    with pytest.raises(ValueError, match=r"bias must have shape \(C,\) = \(3,\)"):
        instance_norm(x, bias=torch.zeros(3, 1))


# ---------------------------------------------------------------------------------------------
# group_norm
# ---------------------------------------------------------------------------------------------

# (input shape, num_groups, affine)
GROUP_NORM_CASES = [
    ((4, 6), 2, True),
    ((3, 6, 7), 3, False),
    ((2, 6, 4, 5), 1, True),
    ((2, 6, 4, 5), 2, True),
    ((2, 6, 4, 5), 2, False),
    ((2, 6, 4, 5), 6, True),
]


@pytest.mark.parametrize("shape, num_groups, affine", GROUP_NORM_CASES, ids=str)
def test_group_norm_matches_functional_and_module(shape, num_groups, affine):
    c = shape[1]
    x = _randn(shape, 100)
    weight, bias = _affine(c, 101) if affine else (None, None)
    ours = group_norm(x, num_groups, weight, bias)
    _assert_close(ours, F.group_norm(x, num_groups, weight, bias))

    module = nn.GroupNorm(num_groups, c, affine=affine)
    if affine:
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    _assert_close(ours, module(x))

    grad_out = _randn(shape, 102)
    for g_ours, g_ref in zip(
        _grads(lambda x, w, b: group_norm(x, num_groups, w, b), [x, weight, bias], grad_out),
        _grads(lambda x, w, b: F.group_norm(x, num_groups, w, b), [x, weight, bias], grad_out),
        strict=True,
    ):
        _assert_close(g_ours, g_ref)


def test_group_norm_special_cases():
    # G = 1 is layer norm over (C, H, W); G = C is instance norm.
    x = _randn((2, 4, 3, 5), 103)
    _assert_close(group_norm(x, 1), layer_norm(x, (4, 3, 5)))
    _assert_close(group_norm(x, 4), instance_norm(x))


def test_group_norm_errors():
    x = _randn((2, 6, 3, 3), 104)
    with pytest.raises(ValueError, match="divide the number of channels C=6, got num_groups=4"):
        group_norm(x, 4)
    with pytest.raises(ValueError, match="num_groups must be >= 1"):
        group_norm(x, 0)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        group_norm(x, 2.0)
    with pytest.raises(ValueError, match=r"weight must have shape \(C,\) = \(6,\), got \(2,\)"):
        group_norm(x, 2, weight=torch.ones(2))


# ---------------------------------------------------------------------------------------------
# fold_batch_norm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conv_kwargs",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, bias=False),
        dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, bias=True),
        dict(in_channels=4, out_channels=6, kernel_size=(3, 1), groups=2, dilation=2, bias=True),
    ],
    ids=["no_bias", "bias_stride2", "groups_dilation"],
)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_fold_batch_norm_matches_conv_then_eval_bn(conv_kwargs, affine):
    with torch.random.fork_rng():  # seeded initial weights, global RNG state left as it was
        torch.manual_seed(0)
        conv = nn.Conv2d(**conv_kwargs)
    c_out = conv.out_channels
    bn = nn.BatchNorm2d(c_out, affine=affine, eps=1e-3)
    # Non-trivial statistics: a few training steps on shifted, scaled inputs, then set gamma/beta.
    bn.train()
    with torch.no_grad():
        for step in range(3):
            bn(conv(_randn((4, conv.in_channels, 8, 8), 110 + step) * (step + 2)))
        if affine:
            bn.weight.copy_(_affine(c_out, 113)[0])
            bn.bias.copy_(_affine(c_out, 113)[1])
    assert bn.running_mean.abs().min() > 0 and (bn.running_var - 1).abs().min() > 0.01
    bn.eval()
    weight_before = conv.weight.detach().clone()

    folded = fold_batch_norm(conv, bn)
    x = _randn((2, conv.in_channels, 9, 10), 114)
    with torch.no_grad():
        _assert_close(folded(x), bn(conv(x)))
    assert folded is not conv and folded.bias is not None
    assert (folded.stride, folded.padding, folded.dilation, folded.groups) == (
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )
    assert torch.equal(conv.weight, weight_before)  # the original conv is unchanged


def test_fold_batch_norm_errors():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        fold_batch_norm(conv, nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="bn.num_features=5 must equal conv.out_channels=4"):
        fold_batch_norm(conv, nn.BatchNorm2d(5))
    with pytest.raises(TypeError, match="bn must be an nn.BatchNorm2d"):
        fold_batch_norm(conv, nn.BatchNorm1d(4))
    with pytest.raises(TypeError, match="conv must be an nn.Conv2d"):
        fold_batch_norm(nn.Linear(3, 4), nn.BatchNorm2d(4))
