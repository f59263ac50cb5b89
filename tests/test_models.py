"""Tests for dlcourse.models: output shapes, parameter counts by hand, the blocks each option
builds, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlcourse.models import (
    ACTIVATIONS,
    NORMS,
    activation_layer,
    lenet5,
    norm_layer,
    plain_cnn,
    small_cnn,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def blocks(model: nn.Sequential) -> list[nn.Sequential]:
    return [m for name, m in model.named_children() if name.startswith("block")]


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_lenet5_shapes_and_parameter_count(images):
    model = lenet5()
    assert model(images).shape == (3, 10)
    conv1 = 6 * (1 * 5 * 5 + 1)  # 156
    conv2 = 16 * (6 * 5 * 5 + 1)  # 2416
    fc1 = 16 * 5 * 5 * 120 + 120  # 48120
    fc2 = 120 * 84 + 84  # 10164
    fc3 = 84 * 10 + 10  # 850
    assert conv1 + conv2 + fc1 + fc2 + fc3 == 61_706
    assert n_params(model) == 61_706
    assert n_params(lenet5(num_classes=3)) == 61_706 - 850 + 84 * 3 + 3


def test_lenet5_feature_map_sizes_are_the_classic_ones(images):
    expected = {
        "conv1": (6, 28, 28),
        "pool1": (6, 14, 14),
        "conv2": (16, 10, 10),
        "pool2": (16, 5, 5),
        "fc1": (120,),
        "fc2": (84,),
        "fc3": (10,),
    }
    x, seen = images, {}
    for name, layer in lenet5().named_children():
        x = layer(x)
        seen[name] = tuple(x.shape[1:])
    assert {k: seen[k] for k in expected} == expected


def test_lenet5_pools_with_max_and_uses_the_activation():
    model = lenet5(activation="relu")
    assert isinstance(model.pool1, nn.MaxPool2d) and isinstance(model.pool2, nn.MaxPool2d)
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.Tanh) for m in lenet5().modules()) == 4


@pytest.mark.parametrize("depth", [1, 2, 3, 8, 9])
def test_plain_cnn_output_shape(depth, images):
    assert plain_cnn(depth=depth, width=8, groups=4)(images).shape == (3, 10)


def test_plain_cnn_downsamples_at_the_start_of_the_second_and_third_thirds(images):
    # depth 8: thirds floor(3i/8) = 0,0,0,1,1,1,2,2 -> stride 2 at blocks 4 and 7 (1-based)
    model = plain_cnn(depth=8, width=8)
    strides = [b.conv.stride for b in blocks(model)]
    assert strides == [(1, 1)] * 3 + [(2, 2)] + [(1, 1)] * 2 + [(2, 2)] + [(1, 1)]
    x = images
    for block in blocks(model):
        x = block(x)
    assert x.shape == (3, 8, 7, 7)  # 28 -> 14 -> 7
    # depth 9: thirds of three blocks each
    strides9 = [b.conv.stride[0] for b in blocks(plain_cnn(depth=9, width=8))]
    assert strides9 == [1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert [b.conv.stride[0] for b in blocks(plain_cnn(depth=1, width=8))] == [1]


def test_plain_cnn_parameter_count_without_norm():
    depth, width = 4, 16
    first = width * (1 * 9 + 1)
    others = (depth - 1) * width * (width * 9 + 1)
    fc = width * 10 + 10
    assert n_params(plain_cnn(depth=depth, width=width)) == first + others + fc


@pytest.mark.parametrize(
    "norm, kind, num_groups",
    [("batch", nn.BatchNorm2d, None), ("group", nn.GroupNorm, 4), ("layer", nn.GroupNorm, 1),
     ("instance", nn.GroupNorm, 16)],
)  # fmt: skip
def test_plain_cnn_norms(norm, kind, num_groups, images):
    model = plain_cnn(depth=3, width=16, norm=norm, groups=4)
    for block in blocks(model):
        assert [type(m) for m in block] == [nn.Conv2d, kind, nn.ReLU]
        assert block.conv.bias is None  # the norm's shift replaces it
        if num_groups is not None:
            assert block.norm.num_groups == num_groups and block.norm.affine
    assert model(images).shape == (3, 10)


def test_plain_cnn_without_norm_has_biases_and_no_norm_layers():
    model = plain_cnn(depth=3, width=8, activation="gelu")
    for block in blocks(model):
        assert [type(m) for m in block] == [nn.Conv2d, nn.GELU]
        assert block.conv.bias is not None
    assert [type(m) for m in list(model)[-3:]] == [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear]


def test_every_activation_name_builds_its_module():
    expected = {
        "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU,
    }  # fmt: skip
    assert set(ACTIVATIONS) == set(expected)
    for name, cls in expected.items():
        assert type(activation_layer(name)) is cls
        assert type(blocks(plain_cnn(depth=1, width=8, activation=name))[0].act) is cls


def test_instance_norm_option_matches_torch_instance_norm():
    x = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(1))
    ours = norm_layer("instance", 8)
    ref = nn.InstanceNorm2d(8, affine=True)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    layer = norm_layer("layer", 8)
    ref = nn.LayerNorm([8, 5, 5], elementwise_affine=False)
    torch.testing.assert_close(layer(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"norm": "weight"}, ValueError, "unknown norm 'weight'; allowed: None, 'batch'"),
        ({"activation": "swish"}, ValueError, "unknown activation 'swish'; allowed: relu"),
        ({"norm": "group", "width": 12, "groups": 8}, ValueError, "divisible by groups"),
        ({"depth": 0}, ValueError, "depth must be a positive int"),
        ({"width": 8.0}, TypeError, "width must be an int"),
        ({"num_classes": True}, TypeError, "num_classes must be an int"),
        ({"in_channels": -1}, ValueError, "in_channels must be a positive int"),
    ],
)
def test_plain_cnn_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        plain_cnn(**kwargs)


def test_lenet5_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        lenet5(activation="softmax")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        lenet5(num_classes=0)
    assert NORMS == ("batch", "group", "layer", "instance")


def test_small_cnn_shapes_names_and_parameter_count():
    model = small_cnn()
    # conv: (9 c_in + 1) c_out; bn: 2 c; fc1: (3136 + 1) 64; fc2: (64 + 1) 10
    expected = (
        (9 * 1 + 1) * 16 + 2 * 16
        + (9 * 16 + 1) * 32 + 2 * 32
        + (9 * 32 + 1) * 64 + 2 * 64
        + (64 * 7 * 7 + 1) * 64
        + (64 + 1) * 10
    )  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == expected == 224_938
    names = [name for name, _ in model.named_children()]
    assert names == [
        "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2",
        "conv3", "bn3", "relu3", "flatten", "fc1", "relu4", "fc2",
    ]  # fmt: skip
    x = torch.randn(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model[:-1](x).shape == (3, 64)  # the penultimate features
    assert small_cnn(num_classes=5).fc2.out_features == 5


def test_small_cnn_rejects_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        small_cnn(num_classes=0)


def test_randomize_batch_norm_gives_reproducible_non_trivial_statistics():
    from dlcourse.models import randomize_batch_norm

    def stats(model: nn.Module) -> list[torch.Tensor]:
        bn = model[1]
        return [bn.running_mean, bn.running_var, bn.weight, bn.bias]

    make = lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8))  # noqa: E731
    a = randomize_batch_norm(make(), torch.Generator().manual_seed(0))
    b = randomize_batch_norm(make(), torch.Generator().manual_seed(0))
    mean, var, weight, bias = stats(a)
    assert not torch.equal(mean, torch.zeros(8)) and not torch.equal(var, torch.ones(8))
    assert ((var >= 0.5) & (var <= 2.0)).all() and ((weight >= 0.5) & (weight <= 1.5)).all()
    assert not torch.equal(bias, torch.zeros(8))
    for x, y in zip(stats(a), stats(b), strict=True):
        assert torch.equal(x, y)
    model = make()
    conv_before = model[0].weight.detach().clone()
    randomize_batch_norm(model, torch.Generator().manual_seed(1))
    assert torch.equal(model[0].weight, conv_before)  # only the norm layers change
    with pytest.raises(TypeError, match="torch.Generator"):
        randomize_batch_norm(make(), 0)
