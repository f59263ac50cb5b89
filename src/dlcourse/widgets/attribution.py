"""Attribution maps you can choose: photo, method and target class of EfficientNet-Lite0.

:class:`AttributionExplorer` computes the maps of :mod:`dlcourse.attribution` for the book's
photos and caches them (occlusion is computed once per photo for all 1,000 classes, so changing
the class is instant). The pure :func:`render_attribution` draws one state (photo, method and
the rank of the target class among the top-5 predictions); :func:`attribution_widget` wraps it
in dropdowns.
"""

from __future__ import annotations

import io
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure

from dlcourse import attribution as A
from dlcourse.data import (
    EFFICIENTNET_LITE0_MEAN,
    EFFICIENTNET_LITE0_STD,
    imagenet_classes,
    imagenet_preprocess,
    load_efficientnet_lite0,
    load_photo,
)
from dlcourse.widgets.static import StaticViewBox

__all__ = [
    "ATTRIBUTION_PHOTOS",
    "ATTRIBUTION_METHODS",
    "ATTRIBUTION_DEFAULTS",
    "OCCLUSION_PATCH",
    "OCCLUSION_STRIDE",
    "AttributionExplorer",
    "draw_attribution",
    "render_attribution",
    "attribution_widget",
]

#: The photos to choose from (all classified by EfficientNet-Lite0 at 224 x 224).
ATTRIBUTION_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "grace_hopper")
#: Method name -> label shown in the dropdown and the title.
ATTRIBUTION_METHODS = {
    "occlusion": "occlusion",
    "saliency": "gradient saliency",
    "guided_backprop": "guided backprop",
    "cam": "CAM",
    "grad_cam": "Grad-CAM",
}
#: The widget's starting point, and the values :func:`render_attribution` uses for missing keys.
ATTRIBUTION_DEFAULTS: dict[str, Any] = {"photo": "chelsea", "method": "grad_cam", "rank": 1}
#: Occlusion window and stride in pixels: a 7 x 7 grid of 56-pixel grey patches (49 forwards).
OCCLUSION_PATCH, OCCLUSION_STRIDE = 56, 28
#: EfficientNet-Lite0's last feature maps (after conv_head, batch norm and ReLU6; 7 x 7 for a
#: 224-pixel input) and its linear classifier: global average pool + linear, a CAM head.
CAM_LAYER, CAM_FC = "bn2", "classifier"


class AttributionExplorer:
    """Maps of one classifier on the book's photos, computed on demand and cached.

    ``model`` defaults to :func:`dlcourse.data.load_efficientnet_lite0` (loaded on first use);
    ``layer`` and ``fc`` name its CAM / Grad-CAM layer and linear head.
    """

    def __init__(
        self,
        model: torch.nn.Module | None = None,
        layer: str = CAM_LAYER,
        fc: str = CAM_FC,
        device: torch.device | str = "cpu",
    ) -> None:
        self._model = model
        self.layer, self.fc = layer, fc
        self.device = torch.device(device)
        self._inputs: dict[str, torch.Tensor] = {}
        self._top5: dict[str, list[tuple[int, str, float]]] = {}
        self._occlusion: dict[str, torch.Tensor] = {}
        self._maps: dict[tuple[str, str, int], torch.Tensor] = {}
        self.names = imagenet_classes()

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = load_efficientnet_lite0()
        return self._model.to(self.device).eval()

    def input(self, photo: str) -> torch.Tensor:
        """The preprocessed photo ``(1, 3, 224, 224)``."""
        _check_choice("photo", photo, ATTRIBUTION_PHOTOS)
        if photo not in self._inputs:
            self._inputs[photo] = imagenet_preprocess(load_photo(photo)).to(self.device)
        return self._inputs[photo]

    def image(self, photo: str) -> np.ndarray:
        """The photo as the model sees it, ``(224, 224, 3)`` in [0, 1], for drawing."""
        x = self.input(photo)[0].cpu()
        mean = torch.tensor(EFFICIENTNET_LITE0_MEAN).view(3, 1, 1)
        std = torch.tensor(EFFICIENTNET_LITE0_STD).view(3, 1, 1)
        return (x * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()

    def top5(self, photo: str) -> list[tuple[int, str, float]]:
        """The five most probable classes: (class index, name, softmax probability)."""
        if photo not in self._top5:
            with torch.no_grad():
                probs = self.model(self.input(photo)).softmax(dim=1)[0].cpu()
            values, indices = probs.topk(5)
            self._top5[photo] = [
                (int(i), self.names[int(i)], float(v)) for v, i in zip(values, indices, strict=True)
            ]
        return self._top5[photo]

    def target(self, photo: str, rank: int) -> int:
        """The class index of the ``rank``-th prediction (1 = the top one)."""
        _check_choice("rank", rank, (1, 2, 3, 4, 5))
        return self.top5(photo)[rank - 1][0]

    def raw_map(self, photo: str, method: str, rank: int) -> torch.Tensor:
        """The method's map for the ``rank``-th class, before upsampling and normalising."""
        _check_choice("method", method, tuple(ATTRIBUTION_METHODS))
        target = self.target(photo, rank)
        x, model = self.input(photo), self.model
        if method == "occlusion":
            if photo not in self._occlusion:  # one set of forwards serves every class
                self._occlusion[photo] = A.occlusion(
                    model, x, None, OCCLUSION_PATCH, OCCLUSION_STRIDE
                ).cpu()
            base = A.class_score(model, x, target)
            return A.occlusion_to_pixels(
                self._occlusion[photo][..., target], base, tuple(x.shape[2:]),
                OCCLUSION_PATCH, OCCLUSION_STRIDE,
            )  # fmt: skip
        if method == "saliency":
            return A.saliency(model, x, target).cpu()
        if method == "guided_backprop":
            return A.guided_backprop(model, x, target).abs().amax(dim=1)[0].cpu()
        if method == "cam":
            return A.cam(model, x, target, self.layer, self.fc).cpu()
        return A.grad_cam(model, x, target, self.layer).cpu()

    def attribution_map(self, photo: str, method: str, rank: int) -> torch.Tensor:
        """The map at the input size, scaled to [0, 1] (:func:`dlcourse.attribution.normalize_map`).
        Cached: the second call for the same state costs nothing."""
        key = (photo, method, rank)
        if key not in self._maps:
            raw = self.raw_map(photo, method, rank)
            size = tuple(self.input(photo).shape[2:])
            up = A.upsample_to_input(raw, size) if tuple(raw.shape) != size else raw
            self._maps[key] = A.normalize_map(up)
        return self._maps[key]


def _check_choice(name: str, value: object, choices: tuple) -> None:
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def draw_attribution(image: np.ndarray, attr: np.ndarray | torch.Tensor, title: str = "") -> Figure:
    """The photo ``(H, W, 3)`` next to the map ``(H, W)`` in [0, 1] laid over it (jet colours,
    half transparent). The axes have gids ``"photo"`` and ``"map"``; the map is the last image
    of ``"map"``."""
    attr = attr.detach().cpu().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    if attr.shape != image.shape[:2]:
        raise ValueError(f"the map must have the image's size {image.shape[:2]}, got {attr.shape}")
    fig = plt.figure(figsize=(5.6, 3.0))
    ax_photo = fig.add_axes((0.01, 0.02, 0.44, 0.8), gid="photo")
    ax_map = fig.add_axes((0.48, 0.02, 0.44, 0.8), gid="map")
    ax_photo.imshow(image)
    ax_map.imshow(image.mean(axis=2), cmap="gray", vmin=0, vmax=1)
    shown = ax_map.imshow(attr, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    cax = fig.add_axes((0.93, 0.1, 0.02, 0.64))
    fig.colorbar(shown, cax=cax, ticks=[0, 1])
    for ax in (ax_photo, ax_map):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


_DEFAULT_EXPLORER: AttributionExplorer | None = None


def _default_explorer() -> AttributionExplorer:
    global _DEFAULT_EXPLORER
    if _DEFAULT_EXPLORER is None:
        _DEFAULT_EXPLORER = AttributionExplorer()
    return _DEFAULT_EXPLORER


def render_attribution(state: dict, explorer: AttributionExplorer | None = None) -> Figure:
    """The widget's drawing for ``state`` (keys of :data:`ATTRIBUTION_DEFAULTS`; missing ones take
    those values): the photo and the method's map for the ``rank``-th predicted class."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    unknown = set(state) - set(ATTRIBUTION_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown state keys {sorted(unknown)}; allowed: {list(ATTRIBUTION_DEFAULTS)}"
        )
    st = {**ATTRIBUTION_DEFAULTS, **state}
    explorer = explorer or _default_explorer()
    _check_choice("method", st["method"], tuple(ATTRIBUTION_METHODS))
    attr = explorer.attribution_map(st["photo"], st["method"], st["rank"])
    _, name, prob = explorer.top5(st["photo"])[st["rank"] - 1]
    title = f"{ATTRIBUTION_METHODS[st['method']]} for '{name}' (top-{st['rank']}, p = {prob:.2f})"
    return draw_attribution(explorer.image(st["photo"]), attr, title)


def _rank_options(explorer: AttributionExplorer, photo: str) -> list[tuple[str, int]]:
    return [(f"{r}: {name} ({p:.0%})", r) for r, (_, name, p) in enumerate(explorer.top5(photo), 1)]


def attribution_widget(
    photo: str = "chelsea",
    method: str = "grad_cam",
    rank: int = 1,
    explorer: AttributionExplorer | None = None,
) -> widgets.VBox:
    """Dropdowns for the photo, the method and the target class (one of the top-5
    predictions); every change redraws with :func:`render_attribution`. Returns the
    ``ipywidgets.VBox`` (a :class:`~dlcourse.widgets.static.StaticViewBox`: pages without a
    kernel show the first drawing), which also carries ``controls`` (name -> widget),
    ``state()`` and ``figure`` (the figure shown last), for use from code."""
    explorer = explorer or _default_explorer()
    _check_choice("photo", photo, ATTRIBUTION_PHOTOS)
    _check_choice("method", method, tuple(ATTRIBUTION_METHODS))
    _check_choice("rank", rank, (1, 2, 3, 4, 5))
    controls: dict[str, Any] = {
        "photo": widgets.Dropdown(options=ATTRIBUTION_PHOTOS, value=photo, description="photo"),
        "method": widgets.Dropdown(
            options=[(label, key) for key, label in ATTRIBUTION_METHODS.items()],
            value=method, description="method",
        ),
        "rank": widgets.Dropdown(
            options=_rank_options(explorer, photo), value=rank, description="class"
        ),
    }  # fmt: skip
    output = widgets.Output()
    box = StaticViewBox([widgets.HBox(list(controls.values())), output])

    def state() -> dict:
        return {name: control.value for name, control in controls.items()}

    def redraw(_change=None) -> None:
        if box.figure is not None:
            plt.close(box.figure)
        box.figure = render_attribution(state(), explorer)
        png = io.BytesIO()
        box.figure.savefig(png, format="png")
        plt.close(box.figure)
        with output:
            output.clear_output(wait=True)
            display(Image(data=png.getvalue(), format="png"))

    def new_photo(change) -> None:
        rank_control = controls["rank"]
        rank_control.unobserve(redraw, names="value")
        rank_control.options = _rank_options(explorer, change["new"])
        rank_control.value = 1
        rank_control.observe(redraw, names="value")
        redraw()

    box.controls, box.state, box.figure = controls, state, None
    controls["photo"].observe(new_photo, names="value")
    controls["method"].observe(redraw, names="value")
    controls["rank"].observe(redraw, names="value")
    redraw()
    _, name, _ = explorer.top5(photo)[rank - 1]
    box.set_static_view(
        box.figure,
        f"{ATTRIBUTION_METHODS[method]} map of the photo '{photo}' for its prediction number "
        f"{rank}, '{name}', drawn over the photo.",
    )
    return box
