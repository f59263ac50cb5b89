"""Tests for dlcourse.summary: hand-computed tables, torchvision's documented counts, and
FlopCounterMode as an independent count of the MACs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision import models

from dlcourse.summary import (
    Row,
    _attention_macs,
    _conv_macs,
    _linear_macs,
    flop_counter_macs,
    summarize,
)

# --- a model small enough to count by hand -----------------------------------------------------


def _small() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # (2, 3, 8, 8) -> (2, 8, 8, 8)
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> (2, 8, 4, 4)
        nn.Flatten(),  # -> (2, 128)
        nn.Linear(8 * 4 * 4, 10),  # -> (2, 10)
    )


def test_small_model_by_hand():
    summary = summarize(_small(), (2, 3, 8, 8))
    conv_out = 2 * 8 * 8 * 8  # N * C_out * H * W
    expected = [
        # 8 kernels of 3*3*3 weights plus one bias each; each output sums 3*3*3 products.
        Row("0", "Conv2d", (2, 8, 8, 8), 8 * (27 + 1), conv_out, conv_out * 27),
        Row("1", "ReLU", (2, 8, 8, 8), 0, conv_out, 0),
        Row("2", "MaxPool2d", (2, 8, 4, 4), 0, 2 * 8 * 4 * 4, 0),
        Row("3", "Flatten", (2, 128), 0, 2 * 128, 0),
        # 128 * 10 weights plus 10 biases; 2 samples * 10 outputs * 128 products.
        Row("4", "Linear", (2, 10), 128 * 10 + 10, 2 * 10, 2 * 128 * 10),
    ]
    assert summary.rows == expected
    assert summary.total_params == 224 + 1290
    assert summary.trainable_params == 224 + 1290
    assert summary.total_macs == 2 * 8 * 8 * 8 * 27 + 2 * 128 * 10
    assert summary.total_activations == 1024 + 1024 + 256 + 256 + 20
    assert summary.input_size == (2, 3, 8, 8)


def test_small_model_agrees_with_flop_counter():
    model = _small()
    assert flop_counter_macs(model, (2, 3, 8, 8)) == summarize(model, (2, 3, 8, 8)).total_macs


def test_frozen_parameters_are_not_trainable():
    model = _small()
    model[0].requires_grad_(False)
    summary = summarize(model, (2, 3, 8, 8))
    assert summary.total_params == 224 + 1290
    assert summary.trainable_params == 1290


# --- reuse and sharing -------------------------------------------------------------------------


class _Reuse(nn.Module):
    """One Linear and one ReLU instance, each called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 4)
        return self.act(self.lin(self.act(self.lin(x))))


def test_module_called_twice_gives_two_rows_and_counts_parameters_once():
    summary = summarize(_Reuse(), (3, 4))
    assert [row.name for row in summary.rows] == ["lin", "act", "lin", "act"]
    assert [row.params for row in summary.rows] == [4 * 4 + 4, 0, 0, 0]
    assert [row.macs for row in summary.rows] == [3 * 4 * 4, 0, 3 * 4 * 4, 0]
    assert [row.activations for row in summary.rows] == [12, 12, 12, 12]
    assert summary.total_params == 20


def test_tied_weight_counted_once():
    first, second = nn.Linear(5, 5), nn.Linear(5, 5)
    second.weight = first.weight
    model = nn.Sequential(first, second)
    summary = summarize(model, (1, 5))
    assert [row.params for row in summary.rows] == [25 + 5, 5]
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 35


class _Scaled(nn.Module):
    """A parameter of a module with children, like ConvNeXt's layer scale."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1)
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * self.conv(x)


def test_parameters_of_non_leaf_modules_get_their_own_row():
    summary = summarize(_Scaled(), (1, 2, 3, 3))
    assert summary.rows == [
        Row("conv", "Conv2d", (1, 4, 3, 3), 4 * 2 + 4, 36, 36 * 2),
        Row("", "_Scaled", (1, 4, 3, 3), 4, 36, 0),
    ]
    assert summary.total_params == 16


# --- other layer types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, size",
    [
        (nn.Conv1d(4, 6, 5, stride=2, padding=1, groups=2), (2, 4, 17)),
        (nn.Conv2d(4, 8, (3, 2), stride=(2, 1), dilation=2, groups=4), (1, 4, 11, 9)),
        (nn.Conv3d(3, 5, (3, 2, 1), padding=1), (2, 3, 4, 5, 6)),
        (nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (2, 4, 5, 5)),
        (nn.ConvTranspose1d(3, 2, 4, stride=3), (2, 3, 7)),
        (nn.Linear(6, 7), (2, 3, 4, 6)),
    ],
    ids=["conv1d", "conv2d", "conv3d", "conv_transpose2d", "conv_transpose1d", "linear_4d"],
)
def test_layer_macs_match_flop_counter(layer, size):
    assert summarize(layer, size).total_macs == flop_counter_macs(layer, size)


def test_conv_transpose_by_hand():
    # Every one of the 2*4*5*5 input elements meets 6/2 kernels of 3*3 taps.
    summary = summarize(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (2, 4, 5, 5))
    assert summary.rows[0].output_shape == (2, 6, 11, 11)  # (5 - 1) * 2 + 3
    assert summary.total_macs == 2 * 4 * 5 * 5 * 3 * 9


def test_formula_functions():
    assert _conv_macs(2 * 8 * 8 * 8, 3, 1, (3, 3)) == 2 * 8 * 8 * 8 * 27
    assert _conv_macs(100, 8, 8, (3, 3)) == 100 * 9  # depthwise: one channel per output
    assert _linear_macs(2 * 10, 128, 10) == 2 * 128 * 10
    # Self-attention, N=2, L=S=5, E=8: 4 projections of L*E*E and 2 products of L*S*E.
    assert _attention_macs(2, 5, 5, 8, 8, 8) == 2 * (4 * 5 * 8 * 8 + 2 * 5 * 5 * 8)
    with pytest.raises(ValueError, match="divide"):
        _conv_macs(10, 3, 2, (3, 3))
    with pytest.raises(ValueError, match="non-negative int"):
        _linear_macs(-1, 3, 1)


class _Attention(nn.Module):
    def __init__(self, batch_first: bool, **kwargs) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(query=x, key=x, value=x)[0]


@pytest.mark.parametrize(
    "batch_first, kwargs, extra_keys",
    [(True, {}, 0), (False, {}, 0), (False, {"add_bias_kv": True, "add_zero_attn": True}, 2)],
)
def test_multihead_attention(batch_first, kwargs, extra_keys):
    model = _Attention(batch_first, **kwargs)
    size = (3, 5, 8)
    n, length = (3, 5) if batch_first else (5, 3)
    summary = summarize(model, size)
    (row,) = summary.rows
    assert (row.name, row.type, row.output_shape) == ("attn", "MultiheadAttention", size)
    # The out_proj child is never called, its parameters belong to the attention row.
    assert row.params == summary.total_params == sum(p.numel() for p in model.parameters())
    e = 8
    by_hand = n * (4 * length * e * e + 2 * length * (length + extra_keys) * e)
    assert row.macs == by_hand
    assert flop_counter_macs(model, size) == by_hand


def test_small_vision_transformer():
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    summary = summarize(vit, (2, 3, 32, 32))
    # Class token (root) and position embedding (encoder) sit outside leaf modules.
    own = {row.name: row.params for row in summary.rows if row.type != "Linear"}
    assert own[""] == 16
    assert own["encoder"] == (16 + 1) * 16
    assert sum(row.params for row in summary.rows) == summary.total_params
    assert summary.total_params == sum(p.numel() for p in vit.parameters())
    assert summary.total_macs == flop_counter_macs(vit, (2, 3, 32, 32))


# --- outputs that are not one tensor -----------------------------------------------------------


class _DictOut(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"first": x[:, :1], "second": x}


def test_first_tensor_of_structured_outputs():
    lstm = summarize(nn.LSTM(4, 8, batch_first=True), (2, 5, 4))
    (row,) = lstm.rows
    assert row.output_shape == (2, 5, 8)  # output of (output, (h, c))
    assert row.activations == 2 * 5 * 8
    assert row.params == 4 * 8 * (4 + 8 + 2)  # 4 gates: W_ih, W_hh, two biases
    (row,) = summarize(_DictOut(), (2, 3)).rows
    assert (row.output_shape, row.activations) == ((2, 1), 2)


# --- modes, device, hooks ----------------------------------------------------------------------


class _Spy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bool, bool, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled(), x.dtype))
        return x


def test_runs_in_eval_without_grad_and_restores_modes():
    spy = _Spy()
    model = nn.Sequential(spy, nn.Dropout(0.5), nn.BatchNorm1d(3)).double()
    model.train()
    model[2].eval()  # a mixed state must come back as it was
    summarize(model, (4, 3), device="cpu", dtype=torch.float64)
    assert spy.seen == [(False, False, torch.float64)]
    assert [m.training for m in model.modules()] == [True, True, True, False]
    assert all(not m._forward_hooks for m in model.modules())


def test_bad_arguments():
    for bad in [[1, 3, 8, 8], (), (1, 0, 8, 8), (1, -3), (1, 3.0), (True, 3), "1, 3", None]:
        with pytest.raises(ValueError, match="input_size must be"):
            summarize(_small(), bad)
    with pytest.raises(TypeError, match="nn.Module"):
        summarize(lambda x: x, (1, 3))
    with pytest.raises(TypeError, match="nn.Module"):
        flop_counter_macs("resnet18", (1, 3))


def test_input_that_does_not_fit():
    model = _small()
    model.train()
    with pytest.raises(RuntimeError) as original:
        model(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"input_size \(2, 4, 8, 8\) does not fit") as err:
        summarize(model, (2, 4, 8, 8))
    assert str(original.value) in str(err.value)
    assert isinstance(err.value.__cause__, RuntimeError)
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="does not fit"):
        flop_counter_macs(model, (2, 3, 10, 10))  # pools to 5x5: 200 features, not 128


# --- the table as text and HTML ----------------------------------------------------------------


def test_text_and_html():
    summary = summarize(_Reuse(), (3, 4))
    text = str(summary)
    assert text == summary.to_text()
    lines = text.splitlines()
    for name, type_ in [("lin", "Linear"), ("act", "ReLU")]:
        assert sum(line.split()[:2] == [name, type_] for line in lines) == 2
    (total,) = [line for line in lines if line.startswith("Total ") and "MACs" not in line]
    assert total.split() == ["Total", "20", "48", "96"]  # params, activations, MACs
    big = summarize(_small(), (2, 3, 8, 8))
    assert "30,208" in str(big) and "1,514" in str(big)  # thousands separators
    page = big._repr_html_()
    assert page.startswith("<table>") and page.endswith("</table>")
    assert page.count("<tr>") == len(big.rows) + 2  # header + rows + totals
    assert "<td style=\"text-align:right\">27,648</td>" in page


# --- torchvision models, against their documented parameter counts and operations -------------

# (builder, weights enum, parameters from torchvision's documentation)
TORCHVISION = {
    "alexnet": (models.alexnet, models.AlexNet_Weights.IMAGENET1K_V1, 61_100_840),
    "vgg16": (models.vgg16, models.VGG16_Weights.IMAGENET1K_V1, 138_357_544),
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1, 11_689_512),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V1, 25_557_032),
    "mobilenet_v2": (models.mobilenet_v2, models.MobileNet_V2_Weights.IMAGENET1K_V1, 3_504_872),
    "convnext_tiny": (models.convnext_tiny, models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1, 28_589_128),
}
SIZE = (1, 3, 224, 224)


@pytest.fixture(scope="module", params=list(TORCHVISION))
def counted(request):
    """One model per name (weights=None), summarized and flop-counted once."""
    build, weights, documented = TORCHVISION[request.param]
    model = build(weights=None)
    return model, weights.meta, documented, summarize(model, SIZE), flop_counter_macs(model, SIZE)


def test_torchvision_parameters(counted):
    model, meta, documented, summary, _ = counted
    assert meta["num_params"] == documented
    assert summary.total_params == documented
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert sum(row.params for row in summary.rows) == documented  # every parameter in a row


def test_torchvision_macs(counted):
    _, meta, _, summary, flop_macs = counted
    assert summary.total_macs / 1e9 == pytest.approx(meta["_ops"], rel=0.01)
    # These models do all their products in Conv2d and Linear layers: the counts agree exactly.
    assert summary.total_macs == flop_macs


@pytest.mark.parametrize("counted", ["resnet18"], indirect=True)
def test_resnet18_rows_by_hand(counted):
    *_, summary, _ = counted
    conv1, bn1, relu, maxpool = summary.rows[:4]
    # 7x7 stride-2 conv, 3 -> 64 channels, no bias: 224 -> 112.
    out = 64 * 112 * 112
    assert conv1 == Row("conv1", "Conv2d", (1, 64, 112, 112), 64 * 3 * 49, out, out * 3 * 49)
    assert (bn1.name, bn1.params, bn1.macs) == ("bn1", 2 * 64, 0)
    assert relu.output_shape == (1, 64, 112, 112)
    assert maxpool.output_shape == (1, 64, 56, 56)
    assert summary.rows[-1] == Row("fc", "Linear", (1, 1000), 512 * 1000 + 1000, 1000, 512_000)
