"""Architectures side by side: our counts against torchvision's documented numbers.

Every torchvision weight enum carries metadata that needs no download:
``meta["num_params"]`` (parameters), ``meta["_ops"]`` (what torchvision's tables call
"GFLOPS", although it counts multiply-accumulates: see :mod:`dlcourse.summary`),
``meta["_metrics"]["ImageNet-1K"]["acc@1"]`` (top-1 accuracy in percent on the ImageNet
validation set) and ``meta["recipe"]`` (where the training recipe is described); its
``transforms()`` give the evaluation resolution (``crop_size``) and the resize before the crop.

:func:`documented` reads these numbers; :func:`count` builds the model with ``weights=None``
(nothing is downloaded) and counts parameters and MACs with :func:`dlcourse.summary.summarize`
at the documented resolution; :func:`params_agree` and :func:`gmacs_agree` compare the two.
:data:`ARCHITECTURES` lists the models compared in the book, oldest first, and
:func:`pareto_front` finds those that no other model beats on both cost and accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torchvision import models

from dlcourse.summary import summarize

__all__ = [
    "ARCHITECTURES",
    "V2_RECIPE",
    "Architecture",
    "Counted",
    "Documented",
    "architecture",
    "count",
    "documented",
    "gmacs_agree",
    "params_agree",
    "pareto_front",
    "weight_names",
]

#: torchvision rounds ``meta["_ops"]`` to this many decimals (GMACs).
OPS_DECIMALS = 3


@dataclass(frozen=True)
class Architecture:
    """One torchvision model as the book compares it.

    ``builder`` is the name of torchvision's builder (``torchvision.models.get_model``);
    ``builder_kwargs`` are passed to it, so that the model built with ``weights=None`` is the
    one the released weights describe; ``year`` and ``paper`` (a BibTeX key) are those of the
    paper that introduced the architecture; ``chapter`` names the chapter of the book that
    explains it; ``recipe`` says in a few words how its ``IMAGENET1K_V1`` weights were
    obtained (from torchvision's reference training scripts).
    """

    builder: str
    label: str
    year: int
    paper: str
    chapter: str
    recipe: str
    builder_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "builder_kwargs", MappingProxyType(dict(self.builder_kwargs)))


# Short notes on how each model's IMAGENET1K_V1 weights were obtained, from torchvision's
# classification reference scripts (references/classification/README.md), which
# ``meta["recipe"]`` points to. "ep" = epochs over ImageNet's 1.28M training images.
_SGD90 = "trained by torchvision: 90 ep SGD, step decay"
_PORTED = "ported from the paper's own weights"
_PR = "contributed; recipe in its pull request"
_MBV3 = "trained by torchvision: 600 ep RMSProp, AutoAugment"
_TIMM = "ported from timm"

#: The recipe of the IMAGENET1K_V2 weights: torchvision's 2021 "new recipe" (pytorch/vision
#: issue 3995), tuned per model, and evaluation after a resize to 232 px instead of 256.
V2_RECIPE = (
    "torchvision's 2021 recipe, tuned per model: longer training, stronger augmentation "
    "and regularization"
)

#: The models of the comparison, in the order their papers appeared.
ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        "alexnet", "AlexNet", 2012, "krizhevsky2012imagenet", "LeNet-5 and AlexNet", _SGD90
    ),
    Architecture("vgg16", "VGG-16", 2015, "simonyan2015very", "VGG", _SGD90),
    # The released GoogLeNet weights keep only the main classifier: torchvision's builder
    # drops the two auxiliary classifiers after loading them, so the documented count lacks
    # them. Built without weights, the model has them unless aux_logits=False.
    Architecture(
        "googlenet",
        "GoogLeNet",
        2015,
        "szegedy2015going",
        "GoogLeNet and Inception",
        _PORTED,
        {"aux_logits": False, "init_weights": True},
    ),
    # Inception-v3's released weights keep their auxiliary classifier (and it is counted).
    Architecture(
        "inception_v3",
        "Inception-v3",
        2016,
        "szegedy2016rethinking",
        "GoogLeNet and Inception",
        _PORTED,
        {"init_weights": True},
    ),
    Architecture("resnet18", "ResNet-18", 2016, "he2016deep", "ResNet", _SGD90),
    Architecture("resnet34", "ResNet-34", 2016, "he2016deep", "ResNet", _SGD90),
    Architecture("resnet50", "ResNet-50", 2016, "he2016deep", "ResNet", _SGD90),
    Architecture("resnet101", "ResNet-101", 2016, "he2016deep", "ResNet", _SGD90),
    Architecture(
        "wide_resnet50_2", "WRN-50-2", 2016, "zagoruyko2016wide", "Wider, denser, grouped", _PR
    ),
    Architecture(
        "resnext50_32x4d",
        "ResNeXt-50",
        2017,
        "xie2017aggregated",
        "Wider, denser, grouped",
        "trained by torchvision: 100 ep SGD, step decay",
    ),
    Architecture(
        "densenet121", "DenseNet-121", 2017, "huang2017densely", "Wider, denser, grouped", _PR
    ),
    Architecture(
        "mobilenet_v2",
        "MobileNetV2",
        2018,
        "sandler2018mobilenetv2",
        "MobileNet",
        "trained by torchvision: 300 ep SGD, decay per epoch",
    ),
    Architecture(
        "mobilenet_v3_small", "MobileNetV3-S", 2019, "howard2019searching", "MobileNet", _MBV3
    ),
    Architecture(
        "mobilenet_v3_large", "MobileNetV3-L", 2019, "howard2019searching", "MobileNet", _MBV3
    ),
    Architecture(
        "efficientnet_b0", "EfficientNet-B0", 2019, "tan2019efficientnet", "MobileNet", _TIMM
    ),
    Architecture(
        "efficientnet_b3", "EfficientNet-B3", 2019, "tan2019efficientnet", "MobileNet", _TIMM
    ),
    Architecture(
        "regnet_y_1_6gf",
        "RegNetY-1.6GF",
        2020,
        "radosavovic2020designing",
        "Wider, denser, grouped",
        "trained by torchvision: 100 ep SGD, cosine",
    ),
    Architecture(
        "convnext_tiny",
        "ConvNeXt-T",
        2022,
        "liu2022convnet",
        "ConvNeXt",
        "trained by torchvision: 600 ep AdamW, modern recipe",
    ),
    Architecture(
        "convnext_small",
        "ConvNeXt-S",
        2022,
        "liu2022convnet",
        "ConvNeXt",
        "trained by torchvision: 600 ep AdamW, modern recipe",
    ),
)


def architecture(builder: str) -> Architecture:
    """The entry of :data:`ARCHITECTURES` for torchvision's ``builder`` name."""
    for arch in ARCHITECTURES:
        if arch.builder == builder:
            return arch
    known = ", ".join(a.builder for a in ARCHITECTURES)
    raise ValueError(f"unknown architecture {builder!r}; known: {known}")


# --- the documented numbers -----------------------------------------------------------------


@dataclass(frozen=True)
class Documented:
    """What torchvision documents for one set of weights (no download needed).

    ``gmacs`` is ``meta["_ops"]``, rounded by torchvision to 3 decimals; ``top1`` is in
    percent; ``input_size`` is the side of the centre crop the accuracy was measured on, after
    resizing the shorter side to ``resize_size``.
    """

    builder: str
    weights: str
    top1: float
    params: int
    gmacs: float
    input_size: int
    resize_size: int
    recipe: str


def _weights_enum(builder: str) -> Any:
    if not isinstance(builder, str):
        raise TypeError(f"builder must be a torchvision model name (str), got {builder!r}")
    try:
        return models.get_model_weights(builder)
    except (ValueError, KeyError) as err:
        raise ValueError(f"torchvision has no model builder named {builder!r}") from err


def weight_names(builder: str) -> list[str]:
    """Names of ``builder``'s weights with an ImageNet-1K top-1 accuracy, e.g. ``IMAGENET1K_V1``.

    Weights without a classification accuracy (VGG-16's ``IMAGENET1K_FEATURES``, trained for
    detection) are left out.
    """
    names = []
    for weights in _weights_enum(builder):
        top1 = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        if top1 is not None and not math.isnan(top1):
            names.append(weights.name)
    return names


def documented(builder: str, weights: str = "IMAGENET1K_V1") -> Documented:
    """Top-1, parameters, GMACs, resolution and recipe of torchvision's ``builder`` weights."""
    enum = _weights_enum(builder)
    available = weight_names(builder)
    if weights not in available:
        raise ValueError(
            f"{builder} has no ImageNet-1K weights named {weights!r}; available: {available}"
        )
    entry = enum[weights]
    meta = entry.meta
    transforms = entry.transforms()
    return Documented(
        builder=builder,
        weights=weights,
        top1=float(meta["_metrics"]["ImageNet-1K"]["acc@1"]),
        params=int(meta["num_params"]),
        gmacs=float(meta["_ops"]),
        input_size=int(transforms.crop_size[0]),
        resize_size=int(transforms.resize_size[0]),
        recipe=str(meta.get("recipe", "")),
    )


# --- our counts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """Parameters and MACs of one model at ``input_size`` x ``input_size``, batch 1."""

    builder: str
    params: int
    macs: int
    input_size: int

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count(arch: Architecture | str, input_size: int | None = None) -> Counted:
    """Build ``arch`` with ``weights=None`` and count it with :func:`summarize`.

    ``input_size`` defaults to the documented crop size of its ``IMAGENET1K_V1`` weights
    (224 for most, 299 for Inception-v3, 300 for EfficientNet-B3). One forward pass on zeros
    of shape ``(1, 3, input_size, input_size)`` runs on the CPU in eval mode, so auxiliary
    classifiers, which run only in training mode, add parameters but no MACs.
    """
    if isinstance(arch, str):
        arch = architecture(arch)
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an Architecture or a builder name, got {arch!r}")
    if input_size is None:
        input_size = documented(arch.builder).input_size
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"input_size must be an int >= 32 (pixels), got {input_size!r}")
    model = models.get_model(arch.builder, weights=None, **arch.builder_kwargs)
    summary = summarize(model, (1, 3, input_size, input_size), device="cpu")
    return Counted(arch.builder, summary.total_params, summary.total_macs, input_size)


def params_agree(counted: Counted, doc: Documented) -> bool:
    """True when the parameter counts are equal: torchvision documents them exactly."""
    return counted.params == doc.params


def gmacs_agree(counted: Counted, doc: Documented) -> bool:
    """True when our MACs, in billions, round to the documented ``_ops`` (3 decimals).

    Allowed: ``|macs / 1e9 - _ops| <= 0.5e-3``, half a unit of the last documented digit.
    """
    if counted.input_size != doc.input_size:
        raise ValueError(
            f"counted at {counted.input_size} px but documented at {doc.input_size} px: "
            "MACs grow with the number of pixels, count at the documented size"
        )
    return abs(counted.gmacs - doc.gmacs) <= 0.5 * 10.0**-OPS_DECIMALS + 1e-12


# --- the efficient frontier ---------------------------------------------------------------


def pareto_front(cost: Sequence[float], score: Sequence[float]) -> list[int]:
    """Indices of the points that no other point beats, in order of increasing ``cost``.

    Point ``j`` beats point ``i`` when ``cost[j] <= cost[i]`` and ``score[j] >= score[i]``
    with at least one inequality strict: it is at least as cheap and at least as good. The
    points left form the *Pareto front* (for models: the best accuracy at each budget).
    """
    cost, score = list(cost), list(score)
    if len(cost) != len(score):
        raise ValueError(f"got {len(cost)} costs for {len(score)} scores")
    for name, values in (("cost", cost), ("score", score)):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"every {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"every {name} must be finite, got {value!r}")

    def beaten(i: int) -> bool:
        return any(
            cost[j] <= cost[i]
            and score[j] >= score[i]
            and (cost[j] < cost[i] or score[j] > score[i])
            for j in range(len(cost))
        )

    return sorted((i for i in range(len(cost)) if not beaten(i)), key=lambda i: (cost[i], i))
