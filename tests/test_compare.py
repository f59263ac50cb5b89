"""Tests for dlcourse.compare: torchvision's documented numbers, our counts, the Pareto front."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision import models

from dlcourse.compare import (
    ARCHITECTURES,
    V2_RECIPE,
    Architecture,
    Counted,
    Documented,
    architecture,
    count,
    documented,
    gmacs_agree,
    params_agree,
    pareto_front,
    weight_names,
)
from dlcourse.summary import flop_counter_macs

torch.set_num_threads(1)

# --- documented numbers ------------------------------------------------------------------------


def test_documented_resnet50_matches_torchvision_tables():
    # torchvision's model table: ResNet50_Weights.IMAGENET1K_V1 76.13 / V2 80.858 top-1,
    # 25.6M parameters, 4.09 GFLOPS (multiply-adds), 224 px crop after a 256 (V1) / 232 (V2) resize.
    v1 = documented("resnet50")
    v2 = documented("resnet50", "IMAGENET1K_V2")
    assert (v1.top1, v2.top1) == (76.13, 80.858)
    assert v1.params == v2.params == 25_557_032
    assert v1.gmacs == v2.gmacs == 4.089
    assert (v1.input_size, v1.resize_size) == (224, 256)
    assert (v2.input_size, v2.resize_size) == (224, 232)
    assert "3995" in v2.recipe and "3995" not in v1.recipe


def test_documented_reads_the_enum_metadata():
    meta = models.Inception_V3_Weights.IMAGENET1K_V1.meta
    doc = documented("inception_v3")
    assert doc == Documented(
        "inception_v3",
        "IMAGENET1K_V1",
        meta["_metrics"]["ImageNet-1K"]["acc@1"],
        meta["num_params"],
        meta["_ops"],
        299,
        342,
        meta["recipe"],
    )


def test_weight_names_leave_out_weights_without_accuracy():
    assert weight_names("vgg16") == ["IMAGENET1K_V1"]  # IMAGENET1K_FEATURES has no top-1
    assert weight_names("resnet50") == ["IMAGENET1K_V1", "IMAGENET1K_V2"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: documented("resnet50", "IMAGENET1K_V9"), ValueError, "available"),
        (lambda: documented("vgg16", "IMAGENET1K_FEATURES"), ValueError, "no ImageNet-1K"),
        (lambda: documented("resnet5"), ValueError, "no model builder"),
        (lambda: documented(50), TypeError, "builder must be"),
        (lambda: architecture("vit_b_16"), ValueError, "unknown architecture"),
        (lambda: count(3.5), TypeError, "arch must be"),
        (lambda: count("resnet18", 8), ValueError, "input_size"),
        (lambda: count("resnet18", True), ValueError, "input_size"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- our counts ----------------------------------------------------------------------------------


def test_count_resnet18_against_independent_counts():
    counted = count("resnet18")
    model = models.resnet18(weights=None)
    assert counted.params == sum(p.numel() for p in model.parameters())
    assert counted.macs == flop_counter_macs(model, (1, 3, 224, 224))
    assert counted.input_size == 224


def test_count_at_another_resolution():
    small = count("resnet18", 112)
    assert small.macs == flop_counter_macs(models.resnet18(weights=None), (1, 3, 112, 112))
    assert small.params == count("resnet18").params  # parameters do not depend on the size


def test_count_uses_the_documented_resolution():
    # EfficientNet-B3 is evaluated at 300 px (its compound scaling raises the resolution).
    counted = count("efficientnet_b3")
    assert counted.input_size == 300
    assert counted.macs == flop_counter_macs(models.efficientnet_b3(weights=None), (1, 3, 300, 300))


def test_googlenet_documented_count_lacks_the_auxiliary_classifiers():
    default = models.googlenet(weights=None, init_weights=True)  # aux_logits=True
    aux = sum(p.numel() for name in ("aux1", "aux2") for p in getattr(default, name).parameters())
    all_params = sum(p.numel() for p in default.parameters())
    doc = documented("googlenet")
    assert all_params - aux == doc.params == count("googlenet").params
    assert all_params != doc.params


@pytest.mark.parametrize(
    "builder",
    ["alexnet", "googlenet", "inception_v3", "densenet121", "mobilenet_v3_small", "regnet_y_1_6gf"],
)
def test_counts_agree_with_torchvision(builder):
    counted, doc = count(builder), documented(builder)
    assert params_agree(counted, doc)
    assert gmacs_agree(counted, doc)


def test_gmacs_agree_within_half_a_unit_of_the_last_digit():
    doc = documented("mobilenet_v3_small")  # documented 0.057 GMACs at 224 px
    assert doc.gmacs == 0.057

    def counted(macs: int) -> Counted:
        return Counted("mobilenet_v3_small", 1, macs, 224)

    assert gmacs_agree(counted(56_500_000), doc)  # rounds to 0.057 (half up)
    assert gmacs_agree(counted(57_499_999), doc)
    assert not gmacs_agree(counted(56_499_000), doc)
    assert not gmacs_agree(counted(57_501_000), doc)
    assert not params_agree(counted(56_510_400), doc)
    with pytest.raises(ValueError, match="documented size"):
        gmacs_agree(Counted("mobilenet_v3_small", 1, 56_510_400, 256), doc)


# --- the list --------------------------------------------------------------------------------


def test_architectures_are_consistent():
    builders = [a.builder for a in ARCHITECTURES]
    assert len(set(builders)) == len(builders)
    assert [a.year for a in ARCHITECTURES] == sorted(a.year for a in ARCHITECTURES)
    assert ARCHITECTURES[0].builder == "alexnet" and ARCHITECTURES[-1].label.startswith("ConvNeXt")
    for arch in ARCHITECTURES:
        assert "IMAGENET1K_V1" in weight_names(arch.builder)
        assert arch.recipe and arch.chapter and arch.paper
    assert architecture("resnet50").label == "ResNet-50"
    assert "2021" in V2_RECIPE


def test_builder_kwargs_are_read_only():
    arch = Architecture("googlenet", "G", 2015, "k", "c", "r", {"aux_logits": False})
    with pytest.raises(TypeError):
        arch.builder_kwargs["aux_logits"] = True  # type: ignore[index]


# --- the Pareto front --------------------------------------------------------------------------


def test_pareto_front_by_hand():
    #        0    1    2    3    4
    cost = [1.0, 2.0, 3.0, 4.0, 0.5]
    score = [70, 60, 80, 80, 50]
    # 1 is beaten by 0 (cheaper and better); 3 by 2 (cheaper, equally good).
    assert pareto_front(cost, score) == [4, 0, 2]


def test_pareto_front_keeps_exact_duplicates_and_single_points():
    assert pareto_front([1, 1], [5, 5]) == [0, 1]  # neither beats the other
    assert pareto_front([3], [1]) == [0]
    assert pareto_front([], []) == []


def test_pareto_front_models():
    docs = [documented(b) for b in ("alexnet", "vgg16", "mobilenet_v2", "resnet50")]
    front = pareto_front([d.gmacs for d in docs], [d.top1 for d in docs])
    # MobileNetV2 beats AlexNet (fewer MACs, higher top-1) and VGG-16 (same).
    assert front == [2, 3]


@pytest.mark.parametrize(
    ("cost", "score", "error"),
    [([1, 2], [1], ValueError), ([1, math.nan], [1, 2], ValueError), (["a"], [1], TypeError)],
)
def test_pareto_front_bad_input(cost, score, error):
    with pytest.raises(error):
        pareto_front(cost, score)
