"""Tests for dlcourse.models.vgg: the paper's parameter counts, torchvision's VGGs layer for layer
(same outputs with the same weights), the 1x1 convs of configuration C, and clear errors."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from dlcourse.models.common import randomize_batch_norm
from dlcourse.models.vgg import VGG_CONFIGS, make_features, vgg

TORCHVISION = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(build, *args, **kwargs) -> nn.Module:
    """Build a model with shapes only (no memory, no initialization time)."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def by_hand(config: list) -> int:
    """Parameters of a VGG for 224x224 ImageNet from its config, with the textbook formulas."""
    total, c_in, size = 0, 3, 224
    for entry in config:
        if entry == "M":
            size //= 2
        elif entry != "LRN":
            c_out, k = entry if isinstance(entry, tuple) else (entry, 3)
            total += (k * k * c_in + 1) * c_out
            c_in = c_out
    n_in = size * size * c_in
    for n_out in (4096, 4096, 1000):
        total += (n_in + 1) * n_out
        n_in = n_out
    return total


def test_parameter_counts_are_those_of_table_2_of_the_paper():
    # Simonyan & Zisserman (2015), Table 2: 133, 133, 133, 134, 138, 144 million.
    paper = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
    for name, millions in paper.items():
        count = n_params(on_meta(vgg, name))
        assert count == by_hand(VGG_CONFIGS[name])
        assert round(count / 1e6) == millions, (name, count)
    assert n_params(on_meta(vgg, "D")) == 138_357_544  # torchvision's documented vgg16 count


@pytest.mark.parametrize("name", sorted(TORCHVISION))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_same_layers_and_parameters_as_torchvision(name, batch_norm):
    builder = getattr(torchvision.models, TORCHVISION[name] + ("_bn" if batch_norm else ""))
    ours = on_meta(vgg, name, batch_norm=batch_norm)
    theirs = on_meta(builder, weights=None)
    # Same modules with the same hyper-parameters in the same order, and the same names.
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert n_params(ours) == n_params(theirs)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_same_outputs_as_torchvision_vgg11_with_the_same_weights(batch_norm):
    torch.manual_seed(0)
    ours = vgg("A", batch_norm=batch_norm).eval()
    if batch_norm:  # non-trivial statistics, so the norm layers matter
        randomize_batch_norm(ours, torch.Generator().manual_seed(1))
    builder = torchvision.models.vgg11_bn if batch_norm else torchvision.models.vgg11
    theirs = on_meta(builder, weights=None)
    theirs.load_state_dict(ours.state_dict(), assign=True)
    theirs.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_configuration_c_has_1x1_convs_in_the_last_three_stages():
    features = make_features("C")
    kernels = [m.kernel_size for m in features if isinstance(m, nn.Conv2d)]
    assert kernels == [(3, 3)] * 6 + [(1, 1)] + [(3, 3)] * 2 + [(1, 1)] + [(3, 3)] * 2 + [(1, 1)]
    assert all(m.padding == (0, 0) for m in features if getattr(m, "kernel_size", None) == (1, 1))
    # C = D with three 3x3 convs replaced by 1x1 ones: 8 * C_in * C_out weights fewer each.
    saved = 8 * 256 * 256 + 2 * 8 * 512 * 512
    assert n_params(on_meta(vgg, "D")) - n_params(on_meta(vgg, "C")) == saved


def test_a_lrn_adds_one_parameter_free_layer_after_the_first_conv():
    layers = list(make_features("A-LRN"))
    assert isinstance(layers[2], nn.LocalResponseNorm)
    assert [type(m) for m in layers[:4]] == [nn.Conv2d, nn.ReLU, nn.LocalResponseNorm, nn.MaxPool2d]


def test_every_stage_halves_the_size_and_the_output_shape():
    features = make_features("E")
    x = torch.zeros(1, 3, 64, 64)
    sizes = []
    for m in features:
        x = m(x)
        if isinstance(m, nn.MaxPool2d):
            sizes.append((x.shape[1], x.shape[2]))
    assert sizes == [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)]


def test_small_vgg_for_grey_28x28_images():
    model = vgg(
        [8, "M", 16, "M"],
        num_classes=3,
        batch_norm=True,
        in_channels=1,
        hidden=5,
        pool_size=7,
        dropout=0.0,
    )
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    convs = (9 * 1 + 1) * 8 + (9 * 8 + 1) * 16
    norms = 2 * (8 + 16)
    fcs = (16 * 7 * 7 + 1) * 5 + (5 + 1) * 5 + (5 + 1) * 3
    assert n_params(model) == convs + norms + fcs


@pytest.mark.parametrize(
    "config, error",
    [
        ("F", ValueError),
        (["M"], ValueError),
        ([64, "X"], ValueError),
        ([(64, 2)], ValueError),
        ([0], ValueError),
        ([True], ValueError),
        (64, TypeError),
    ],
)
def test_bad_configs_raise_clear_errors(config, error):
    with pytest.raises(error):
        make_features(config)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="dropout"):
        on_meta(vgg, "A", dropout=1.0)
    with pytest.raises(TypeError, match="batch_norm"):
        make_features("A", batch_norm="yes")
    with pytest.raises(ValueError, match="num_classes"):
        on_meta(vgg, "A", num_classes=0)
