"""Tests for dlcourse.compress: pruning masks against torch.nn.utils.prune, sizes against the
bytes per value, batch-norm folding against the unfolded model, int8 against float."""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import pytest
import torch
import torch.nn.utils.prune as prune
from torch import nn

from dlcourse.compress import (
    apply_masks,
    fold_bn_model,
    fusion_groups,
    magnitude_prune,
    model_size_bytes,
    prunable_weights,
    quantize_int8,
    sparsity,
)
from dlcourse.models import randomize_batch_norm, small_cnn
from dlcourse.models.mobilenet import DepthwiseSeparable


def tiny(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 4, 3, padding=1),
            bn1=nn.BatchNorm2d(4),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False),
            bn2=nn.BatchNorm2d(8),
            relu2=nn.ReLU(),
            flatten=nn.Flatten(),
            fc=nn.Linear(8 * 4 * 4, 5),
        )
    )


def with_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random batch-norm parameters and running statistics, then eval mode."""
    return randomize_batch_norm(model, torch.Generator().manual_seed(seed)).eval()


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_layer_pruning_matches_l1_unstructured(amount):
    ours, ref = tiny(), tiny()
    masks = magnitude_prune(ours, amount, scope="layer")
    for name in ("conv1", "conv2", "fc"):
        prune.l1_unstructured(getattr(ref, name), "weight", amount)
        torch.testing.assert_close(masks[f"{name}.weight"], getattr(ref, name).weight_mask)
        torch.testing.assert_close(getattr(ours, name).weight, getattr(ref, name).weight)


@pytest.mark.parametrize("amount", [0.25, 0.8])
def test_global_pruning_matches_global_unstructured(amount):
    ours, ref = tiny(), tiny()
    masks = magnitude_prune(ours, amount, scope="global")
    pairs = [(ref.conv1, "weight"), (ref.conv2, "weight"), (ref.fc, "weight")]
    prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=amount)
    for name in ("conv1", "conv2", "fc"):
        torch.testing.assert_close(masks[f"{name}.weight"], getattr(ref, name).weight_mask)
    n = sum(w.numel() for w in prunable_weights(ours).values())
    assert sparsity(ours) == round(amount * n) / n


def test_global_pruning_differs_per_layer_and_extends_earlier_masks():
    model = tiny()
    with torch.no_grad():
        model.fc.weight.mul_(1e-4)  # the linear layer's weights are now the smallest
    masks = magnitude_prune(model, 0.6)  # 578 of the 36 + 288 + 640 weights
    per_layer = sparsity(model, per_layer=True)
    assert per_layer == {"conv1.weight": 0.0, "conv2.weight": 0.0, "fc.weight": 578 / 640}
    more = magnitude_prune(model, 0.7)
    assert all(bool((more[k] <= masks[k]).all()) for k in masks)  # pruned stay pruned


def test_apply_masks_keeps_pruned_weights_at_zero_during_training():
    model = tiny()
    masks = magnitude_prune(model, 0.6, scope="layer")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 5, (16,))
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        assert sparsity(model) < 0.6  # the optimizer moved pruned weights
        apply_masks(model, masks)
        assert sparsity(model) == pytest.approx(0.6, abs=0.01)


def test_model_size_counts_four_bytes_per_float():
    small = nn.Linear(10, 10)
    big = nn.Linear(1000, 1000)
    extra = 1000 * 1000 + 1000 - (10 * 10 + 10)
    # torch.save aligns each tensor's record to 64 bytes: a few bytes more or less
    assert abs(model_size_bytes(big) - model_size_bytes(small) - 4 * extra) < 2 * 64


def test_fold_bn_model_same_outputs_fewer_modules():
    model = with_statistics(tiny())
    folded = fold_bn_model(model)
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert list(dict(folded.named_children())) == [
        "conv1",
        "relu1",
        "conv2",
        "relu2",
        "flatten",
        "fc",
    ]
    assert len(list(folded.modules())) == len(list(model.modules())) - 2
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # original unchanged


def test_fold_bn_model_nested_blocks():
    model = nn.Sequential(DepthwiseSeparable(3, 8, stride=2), DepthwiseSeparable(8, 8))
    model = with_statistics(model, seed=3)
    folded = fold_bn_model(model)
    x = torch.randn(2, 3, 12, 12)
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 0
    assert folded[0].depthwise.conv.groups == 3  # the depthwise convolution stays depthwise


def test_fusion_groups_of_small_cnn():
    assert fusion_groups(small_cnn()) == [
        ["conv1", "bn1", "relu1"],
        ["conv2", "bn2", "relu2"],
        ["conv3", "bn3", "relu3"],
        ["fc1", "relu4"],
    ]


def test_quantize_int8_close_to_float_and_four_times_smaller():
    model = small_cnn()
    g = torch.Generator().manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # give the batch norms running statistics
            model(torch.randn(32, 1, 28, 28, generator=g))
    model.eval()
    batches = [torch.randn(32, 1, 28, 28, generator=g) for _ in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the helper silences torch.ao's deprecation warnings
        quantized = quantize_int8(model, batches)
    x = torch.randn(64, 1, 28, 28, generator=g)
    with torch.no_grad():
        ref, out = model(x), quantized(x)
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert (out.argmax(1) == ref.argmax(1)).float().mean() > 0.8
    ratio = model_size_bytes(model) / model_size_bytes(quantized)
    assert 3.0 < ratio < 4.0  # 4 bytes -> 1 per weight, plus scales and headers
    assert next(model.parameters()).dtype == torch.float32  # the original is untouched


def test_bad_inputs():
    with pytest.raises(ValueError, match="amount"):
        magnitude_prune(tiny(), 1.5)
    with pytest.raises(TypeError, match="amount"):
        magnitude_prune(tiny(), "half")
    with pytest.raises(ValueError, match="scope"):
        magnitude_prune(tiny(), 0.5, scope="channel")
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        magnitude_prune(nn.Sequential(nn.ReLU()), 0.5)
    with pytest.raises(ValueError, match="no parameter"):
        apply_masks(tiny(), {"conv9.weight": torch.ones(1)})
    with pytest.raises(ValueError, match="shape"):
        apply_masks(tiny(), {"conv1.weight": torch.ones(3)})
    with pytest.raises(TypeError):
        fold_bn_model("model")
    with pytest.raises(ValueError, match="backend"):
        quantize_int8(tiny(), [torch.zeros(1, 1, 8, 8)], backend="tpu")
    with pytest.raises(ValueError, match="calibration"):
        quantize_int8(copy.deepcopy(tiny()).eval(), [])
