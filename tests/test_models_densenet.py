"""DenseNet blocks against torchvision's ``_DenseLayer``, ``_DenseBlock`` and ``_Transition``."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import densenet as tv

from dlcourse.arithmetic import conv_params
from dlcourse.models.densenet import DenseBlock, DenseLayer, Transition, densenet28

torch.set_num_threads(1)


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    """Random weights and BN statistics, so equal outputs are not an accident of the init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_dense_layer_equals_torchvision():
    ref = tv._DenseLayer(20, growth_rate=8, bn_size=4, drop_rate=0.0).eval()
    _randomize(ref)
    ours = DenseLayer(20, 8, bn_size=4).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 20, 6, 6, generator=torch.Generator().manual_seed(1))
    out = ours(x)
    assert out.shape == (2, 8, 6, 6)
    torch.testing.assert_close(out, ref(x.clone()))
    # BN (2 per channel) + 1x1 (20 -> 32) + BN + 3x3 (32 -> 8), no biases
    expected = (
        2 * 20 + conv_params(20, 32, 1, bias=False) + 2 * 32 + conv_params(32, 8, 3, bias=False)
    )
    assert _params(ours) == _params(ref) == expected == 40 + 640 + 64 + 2304


def test_dense_block_equals_torchvision_and_grows_linearly():
    ref = tv._DenseBlock(
        num_layers=3, num_input_features=10, bn_size=4, growth_rate=6, drop_rate=0.0
    ).eval()
    _randomize(ref, 2)
    ours = DenseBlock(3, 10, 6, bn_size=4).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 10, 5, 5, generator=torch.Generator().manual_seed(3))
    out = ours(x)
    assert out.shape == (2, 10 + 3 * 6, 5, 5) and ours.out_channels == 28
    torch.testing.assert_close(out, ref(x.clone()))
    torch.testing.assert_close(out[:, :10], x)  # the input is passed on unchanged
    assert _params(ours) == _params(ref)
    in_channels = [layer.conv1.in_channels for layer in ours.children()]
    assert in_channels == [10, 16, 22]


def test_transition_equals_torchvision():
    ref = tv._Transition(16, 8).eval()
    _randomize(ref, 4)
    ours = Transition(16, 8).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(5))
    out = ours(x)
    assert out.shape == (2, 8, 3, 3)
    torch.testing.assert_close(out, ref(x.clone()))
    assert _params(ours) == _params(ref) == 2 * 16 + 16 * 8


def test_densenet28_shapes_and_channels():
    model = densenet28(growth_rate=12, block_config=(4, 4, 4), num_init_features=24).eval()
    # 24 + 4*12 = 72 -> 36; 36 + 48 = 84 -> 42; 42 + 48 = 90
    assert model.fc.in_features == 90
    assert model.transition1.conv.out_channels == 36 and model.transition2.conv.out_channels == 42
    out = model(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10)


def test_dropout_only_in_training():
    layer = DenseLayer(4, 4, drop_rate=0.5)
    x = torch.randn(8, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    torch.manual_seed(0)
    assert (layer(x) == 0).float().mean() > 0.3


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (lambda: DenseLayer(0, 4), ValueError),
        (lambda: DenseLayer(4, 4, drop_rate=1.0), ValueError),
        (lambda: DenseLayer(4, 2.5), TypeError),
        (lambda: DenseBlock(0, 4, 4), ValueError),
        (lambda: Transition(4, 0), ValueError),
        (lambda: densenet28(block_config=()), ValueError),
        (lambda: densenet28(block_config=(2, 0)), ValueError),
    ],
)
def test_bad_arguments(factory, error):
    with pytest.raises(error):
        factory()
