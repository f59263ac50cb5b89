"""Tests for dlcourse.models.alexnet: layer sizes and parameter counts by hand (the paper, the
CS231n lecture), the two-GPU grouping, and torchvision's AlexNet with the same weights."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from dlcourse.models.alexnet import alexnet
from dlcourse.summary import summarize


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    return (k * k * c_in // groups + 1) * c_out


def fc(n_in: int, n_out: int) -> int:
    return (n_in + 1) * n_out


PAPER_FC = fc(9216, 4096) + fc(4096, 4096) + fc(4096, 1000)


def test_paper_parameters_by_hand():
    convs = conv(3, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3)
    convs += conv(384, 256, 3)
    assert conv(3, 96, 11) == 34_944  # CS231n: conv1 has 35K parameters
    assert n_params(alexnet("paper")) == convs + PAPER_FC == 62_378_344


def test_paper_grouped_parameters_by_hand():
    convs = conv(3, 96, 11) + conv(96, 256, 5, 2) + conv(256, 384, 3) + conv(384, 384, 3, 2)
    convs += conv(384, 256, 3, 2)
    model = alexnet("paper", grouped=True)
    assert n_params(model) == convs + PAPER_FC == 60_965_224  # the paper: "60 million"
    assert [getattr(model, name).groups for name in ("conv2", "conv4", "conv5")] == [2, 2, 2]


def test_paper_output_sizes_on_227():
    with torch.device("meta"):
        model = alexnet("paper")
    rows = {r.name: r.output_shape for r in summarize(model, (1, 3, 227, 227)).rows}
    assert rows["conv1"] == (1, 96, 55, 55)  # (227 - 11) / 4 + 1
    assert rows["pool1"] == (1, 96, 27, 27)  # (55 - 3) / 2 + 1
    assert rows["pool2"] == (1, 256, 13, 13)
    assert rows["pool5"] == (1, 256, 6, 6)
    assert rows["fc8"] == (1, 1000)
    assert isinstance(model.norm1, nn.LocalResponseNorm) and model.norm1.alpha == 5e-4


def test_paper_rejects_224():
    with torch.device("meta"):
        model = alexnet("paper")
    with pytest.raises(ValueError, match="does not fit"):
        summarize(model, (1, 3, 224, 224))  # 54 -> 26 -> 12 -> 5: 6400 inputs, not 9216


def test_torchvision_variant_equals_torchvision():
    torch.manual_seed(0)
    reference = torchvision.models.alexnet(weights=None).eval()
    ours = alexnet("torchvision").eval()
    assert n_params(ours) == n_params(reference) == 61_100_840
    ours.load_state_dict(dict(zip(ours.state_dict(), reference.state_dict().values(), strict=True)))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


def test_num_classes_and_dropout():
    model = alexnet("torchvision", num_classes=10, dropout=0.2)
    assert model.fc8.out_features == 10 and model.drop6.p == 0.2
    assert n_params(model) == 61_100_840 - fc(4096, 1000) + fc(4096, 10)


def test_bad_input():
    with pytest.raises(ValueError, match="allowed: paper, torchvision"):
        alexnet("vgg")
    with pytest.raises(ValueError, match="num_classes"):
        alexnet(num_classes=0)
    with pytest.raises(ValueError, match="dropout"):
        alexnet(dropout=1.0)
    with pytest.raises(ValueError, match="only for variant='paper'"):
        alexnet("torchvision", grouped=True)
    with pytest.raises(TypeError, match="grouped"):
        alexnet("paper", grouped=2)
