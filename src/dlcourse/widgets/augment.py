"""Data augmentation you can see: a grid of random augmentations of one photo.

:func:`build_transform` turns a state (which transformations, how strong) into a torchvision
``transforms.v2`` pipeline; :func:`augment_samples` draws samples from it reproducibly (a seed,
the global random state left untouched); :func:`render_augment` draws them in a grid, the photo
itself first; :func:`augment_widget` wraps that in controls.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from matplotlib.figure import Figure
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from dlcourse.data import photo_tensor
from dlcourse.widgets.static import StaticViewBox

__all__ = [
    "AUG_PHOTOS",
    "AUG_RANGES",
    "AUG_DEFAULTS",
    "AUG_SIZE",
    "augment_photo",
    "build_transform",
    "augment_samples",
    "render_augment",
    "augment_widget",
]

#: Colour photos the widget offers.
AUG_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
#: Side of the square photo the transformations act on, in pixels.
AUG_SIZE = 80
#: Allowed range ``(low, high)`` of every numeric setting (the widget's slider ranges).
AUG_RANGES: dict[str, tuple[float, float]] = {
    "crop_scale": (0.08, 1.0),  # smallest area fraction of a random resized crop; 1 = off
    "brightness": (0.0, 1.0),
    "contrast": (0.0, 1.0),
    "saturation": (0.0, 1.0),
    "hue": (0.0, 0.5),
    "degrees": (0.0, 180.0),
    "translate": (0.0, 0.5),  # fraction of the side
    "scale": (0.0, 0.5),  # zoom by a factor in [1 - scale, 1 + scale]
    "shear": (0.0, 45.0),  # degrees
    "samples": (2, 16),
    "seed": (0, 2**31 - 1),
}
#: The widget's starting point, and the values :func:`render_augment` uses for missing keys:
#: a flip, a random resized crop and a mild colour jitter.
AUG_DEFAULTS: dict[str, Any] = {
    "photo": "chelsea",
    "flip": True,
    "crop_scale": 0.5,
    "brightness": 0.3,
    "contrast": 0.3,
    "saturation": 0.3,
    "hue": 0.0,
    "degrees": 0.0,
    "translate": 0.0,
    "scale": 0.0,
    "shear": 0.0,
    "samples": 8,
    "seed": 0,
}
_INT_KEYS = ("samples", "seed")


def _check_state(state: object) -> dict[str, Any]:
    """``state`` merged with :data:`AUG_DEFAULTS`, every value checked."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    unknown = set(state) - set(AUG_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown state keys {sorted(unknown)}; allowed: {list(AUG_DEFAULTS)}")
    st = {**AUG_DEFAULTS, **state}
    if st["photo"] not in AUG_PHOTOS:
        raise ValueError(f"photo must be one of {', '.join(AUG_PHOTOS)}, got {st['photo']!r}")
    if not isinstance(st["flip"], bool):
        raise TypeError(f"flip must be True or False, got {st['flip']!r}")
    for name, (low, high) in AUG_RANGES.items():
        value = st[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        if name in _INT_KEYS and not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return st


@functools.lru_cache(maxsize=len(AUG_PHOTOS))
def augment_photo(name: str) -> torch.Tensor:
    """The photo ``name`` as a square ``(3, AUG_SIZE, AUG_SIZE)`` tensor in [0, 1]: shorter side
    resized to :data:`AUG_SIZE`, then the centre cut out. Cached; do not modify in place."""
    if name not in AUG_PHOTOS:
        raise ValueError(f"photo must be one of {', '.join(AUG_PHOTOS)}, got {name!r}")
    return TF.center_crop(photo_tensor(name, size=AUG_SIZE), [AUG_SIZE, AUG_SIZE])


def build_transform(state: dict) -> v2.Compose:
    """The pipeline of ``state`` (keys of :data:`AUG_DEFAULTS`), in the usual order:

    1. ``RandomResizedCrop(scale=(crop_scale, 1))`` back to the same size, if ``crop_scale < 1``;
    2. ``RandomHorizontalFlip(0.5)`` if ``flip``;
    3. ``RandomAffine(degrees, translate, scale=(1 - scale, 1 + scale), shear)`` if any is > 0;
    4. ``ColorJitter(brightness, contrast, saturation, hue)`` if any is > 0.

    A transformation at strength 0 is left out; with none left the pipeline is ``v2.Identity``.
    """
    st = _check_state(state)
    steps: list[torch.nn.Module] = []
    if st["crop_scale"] < 1.0:
        steps.append(v2.RandomResizedCrop(AUG_SIZE, scale=(st["crop_scale"], 1.0), antialias=True))
    if st["flip"]:
        steps.append(v2.RandomHorizontalFlip(0.5))
    if any(st[k] > 0 for k in ("degrees", "translate", "scale", "shear")):
        steps.append(
            v2.RandomAffine(
                degrees=st["degrees"],
                translate=(st["translate"], st["translate"]) if st["translate"] > 0 else None,
                scale=(1 - st["scale"], 1 + st["scale"]) if st["scale"] > 0 else None,
                shear=st["shear"] if st["shear"] > 0 else None,
            )
        )
    if any(st[k] > 0 for k in ("brightness", "contrast", "saturation", "hue")):
        steps.append(v2.ColorJitter(st["brightness"], st["contrast"], st["saturation"], st["hue"]))
    return v2.Compose(steps or [v2.Identity()])


def augment_samples(image: torch.Tensor, state: dict) -> torch.Tensor:
    """``state["samples"]`` draws of :func:`build_transform` applied to ``image`` ``(3, H, W)``,
    as ``(samples, 3, H, W)``. The draws depend only on ``state["seed"]``: torchvision's
    transforms use the global random state, which is forked and restored around them."""
    st = _check_state(state)
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or not image.is_floating_point():
        raise ValueError("image must be a float tensor (C, H, W) in [0, 1]")
    transform = build_transform(st)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(st["seed"])
        return torch.stack([transform(image) for _ in range(st["samples"])]).clamp(0.0, 1.0)


def render_augment(state: dict) -> Figure:
    """The photo and ``samples - 1`` augmentations of it in a grid of up to 8 columns."""
    st = _check_state(state)
    photo = augment_photo(st["photo"])
    samples = augment_samples(photo, {**st, "samples": st["samples"] - 1})
    images = [photo, *samples]
    ncols = min(8, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.1 * nrows + 0.4),
                             squeeze=False)  # fmt: skip
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(img.permute(1, 2, 0).numpy(), vmin=0, vmax=1)
        ax.set_title("original" if i == 0 else f"sample {i}", fontsize=8)
    fig.suptitle(_describe(st), fontsize=9)
    fig.tight_layout()
    return fig


def _describe(st: dict) -> str:
    parts = []
    if st["crop_scale"] < 1:
        parts.append(f"crop ≥ {st['crop_scale']:.0%} area")
    if st["flip"]:
        parts.append("flip")
    for key, fmt in (("degrees", "rotate ±{:g}°"), ("translate", "shift ±{:.0%}"),
                     ("scale", "zoom ±{:.0%}"), ("shear", "shear ±{:g}°")):  # fmt: skip
        if st[key] > 0:
            parts.append(fmt.format(st[key]))
    jitter = [f"{k} {st[k]:g}" for k in ("brightness", "contrast", "saturation", "hue") if st[k]]
    if jitter:
        parts.append("jitter " + ", ".join(jitter))
    return " · ".join(parts) if parts else "no augmentation"


def augment_widget(**state: Any) -> widgets.VBox:
    """Controls for every key of :data:`AUG_DEFAULTS` (starting from ``state``); every change
    redraws with :func:`render_augment`. Returns a
    :class:`~dlcourse.widgets.static.StaticViewBox` that also carries ``controls`` (name ->
    widget), ``state()`` and ``figure`` (the figure shown last), for use from code."""
    st = _check_state(state)

    def slider(name: str, step: float, fmt: str = ".2f") -> widgets.FloatSlider:
        low, high = AUG_RANGES[name]
        return widgets.FloatSlider(
            value=st[name], min=low, max=high, step=step, description=name,
            readout_format=fmt, continuous_update=False,
        )  # fmt: skip

    controls: dict[str, Any] = {
        "photo": widgets.Dropdown(options=AUG_PHOTOS, value=st["photo"], description="photo"),
        "flip": widgets.Checkbox(value=st["flip"], description="horizontal flip"),
        "crop_scale": slider("crop_scale", 0.01),
        "brightness": slider("brightness", 0.05),
        "contrast": slider("contrast", 0.05),
        "saturation": slider("saturation", 0.05),
        "hue": slider("hue", 0.01),
        "degrees": slider("degrees", 5.0, ".0f"),
        "translate": slider("translate", 0.05),
        "scale": slider("scale", 0.05),
        "shear": slider("shear", 5.0, ".0f"),
        "samples": widgets.IntSlider(value=st["samples"], min=2, max=16, description="samples",
                                     continuous_update=False),
        "seed": widgets.BoundedIntText(value=st["seed"], min=0, max=2**31 - 1, description="seed"),
    }  # fmt: skip
    output = widgets.Output()
    c = controls
    box = StaticViewBox(
        [
            widgets.HBox([c["photo"], c["flip"], c["samples"], c["seed"]]),
            widgets.HBox([c["crop_scale"], c["degrees"], c["translate"]]),
            widgets.HBox([c["scale"], c["shear"], c["brightness"]]),
            widgets.HBox([c["contrast"], c["saturation"], c["hue"]]),
            output,
        ]
    )

    def state_now() -> dict:
        return {name: control.value for name, control in controls.items()}

    def redraw(_change=None) -> None:
        if box.figure is not None:
            plt.close(box.figure)
        box.figure = render_augment(state_now())
        with output:
            output.clear_output(wait=True)
            display(box.figure)
        plt.close(box.figure)  # shown once, in the output area, and not kept by pyplot

    box.controls, box.state, box.figure = controls, state_now, None
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box.set_static_view(
        box.figure,
        f"The {st['photo']} photo and {st['samples'] - 1} random augmentations of it: "
        f"{_describe(st)}.",
    )
    return box
