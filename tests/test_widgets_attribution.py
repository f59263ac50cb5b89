"""Tests for the attribution widget: maps drawn equal those of dlcourse.attribution,
caching, redraws on every control, and clear errors. A small model with 1,000
outputs keeps most tests fast; one test uses the real EfficientNet-Lite0."""

from __future__ import annotations

from html import unescape

import ipywidgets
import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import attribution as A
from dlcourse.widgets import attribution as W
from dlcourse.widgets.attribution import (
    ATTRIBUTION_DEFAULTS,
    ATTRIBUTION_METHODS,
    ATTRIBUTION_PHOTOS,
    OCCLUSION_PATCH,
    OCCLUSION_STRIDE,
    AttributionExplorer,
    attribution_widget,
    draw_attribution,
    render_attribution,
)


class TinyNet(nn.Module):
    """Strided conv -> ReLU6 -> global average pool -> linear to the 1,000 ImageNet classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 8, stride=8)  # (N, 8, 28, 28) for 224 x 224
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def explorer() -> AttributionExplorer:
    torch.manual_seed(0)
    return AttributionExplorer(TinyNet().eval(), layer="act", fc="fc")


def map_data(fig) -> np.ndarray:
    ax = next(ax for ax in fig.axes if ax.get_gid() == "map")
    return np.asarray(ax.get_images()[-1].get_array())


@pytest.mark.parametrize("method", list(ATTRIBUTION_METHODS))
def test_render_every_method_draws_the_normalised_map(explorer, method):
    fig = render_attribution({"photo": "coffee", "method": method, "rank": 2}, explorer)
    x = explorer.input("coffee")
    target = explorer.top5("coffee")[1][0]
    model = explorer.model
    raw = {
        "saliency": lambda: A.saliency(model, x, target),
        "guided_backprop": lambda: A.guided_backprop(model, x, target).abs().amax(1)[0],
        "cam": lambda: A.upsample_to_input(A.cam(model, x, target, "act", "fc"), (224, 224)),
        "grad_cam": lambda: A.upsample_to_input(A.grad_cam(model, x, target, "act"), (224, 224)),
        "occlusion": lambda: A.occlusion_to_pixels(
            A.occlusion(model, x, target, 56, 28),
            A.class_score(model, x, target),
            (224, 224),
            56,
            28,
        ),  # fmt: skip
    }[method]()
    expected = A.normalize_map(raw).numpy()
    np.testing.assert_allclose(map_data(fig), expected, atol=1e-5)
    assert map_data(fig).min() == pytest.approx(0) and map_data(fig).max() == pytest.approx(1)
    name = explorer.names[target]
    assert fig._suptitle.get_text().startswith(f"{ATTRIBUTION_METHODS[method]} for '{name}' (top-2")


def test_top5_are_the_most_probable_classes(explorer):
    with torch.no_grad():
        probs = explorer.model(explorer.input("rocket")).softmax(1)[0]
    top = explorer.top5("rocket")
    assert [t[0] for t in top] == probs.argsort(descending=True)[:5].tolist()
    assert [t[2] for t in top] == pytest.approx(probs.sort(descending=True).values[:5].tolist())
    assert explorer.target("rocket", 3) == top[2][0]


def test_maps_are_cached_and_occlusion_runs_once_per_photo(explorer, monkeypatch):
    calls = []
    occlusion = A.occlusion
    monkeypatch.setattr(A, "occlusion", lambda *args: calls.append(args) or occlusion(*args))
    first = explorer.attribution_map("astronaut", "occlusion", 1)
    assert explorer.attribution_map("astronaut", "occlusion", 1) is first
    explorer.attribution_map("astronaut", "occlusion", 4)
    grid = explorer._occlusion["astronaut"]
    rows = (224 - OCCLUSION_PATCH) // OCCLUSION_STRIDE + 1
    assert grid.shape == (rows, rows, 1000)  # every class from one set of forwards
    assert len(calls) == 1 and calls[0][2] is None  # target None: all classes at once


def test_widget_builds_and_redraws(explorer):
    box = attribution_widget(explorer=explorer)
    assert isinstance(box, ipywidgets.VBox)
    assert box.state() == ATTRIBUTION_DEFAULTS
    assert tuple(box.controls["photo"].options) == ATTRIBUTION_PHOTOS
    labels = [label for label, _ in box.controls["rank"].options]
    top = explorer.top5("chelsea")
    assert labels[0] == f"1: {top[0][1]} ({top[0][2]:.0%})" and len(labels) == 5
    for name, value in (("method", "saliency"), ("rank", 3), ("photo", "grace_hopper")):
        before = box.figure
        box.controls[name].value = value
        assert box.figure is not before, name
        st = box.state()
        assert st[name] == value
        np.testing.assert_array_equal(
            map_data(box.figure), explorer.attribution_map(st["photo"], st["method"], st["rank"])
        )
    assert box.state() == {"photo": "grace_hopper", "method": "saliency", "rank": 1}
    new_top = explorer.top5("grace_hopper")[0][1]
    assert box.controls["rank"].options[0][0].startswith(f"1: {new_top}")


def test_default_state_with_efficientnet():
    """The real model: the default drawing is Grad-CAM on the cat's top class, a tabby-like cat."""
    fig = render_attribution({})
    default = W._default_explorer()  # the explorer render_attribution used
    x = default.input("chelsea")
    target, name, _ = default.top5("chelsea")[0]
    assert name in ("tabby", "tiger cat", "Egyptian cat")
    expected = A.normalize_map(
        A.upsample_to_input(A.grad_cam(default.model, x, target, "bn2"), (224, 224))
    )
    np.testing.assert_allclose(map_data(fig), expected.numpy(), atol=1e-6)


def test_bad_input(explorer):
    with pytest.raises(ValueError, match=r"unknown state keys \['layer'\]; allowed"):
        render_attribution({"layer": "bn2"}, explorer)
    with pytest.raises(TypeError, match="state must be a dict"):
        render_attribution(["chelsea"], explorer)
    with pytest.raises(ValueError, match="method must be one of occlusion, saliency, "):
        render_attribution({"method": "lime"}, explorer)
    with pytest.raises(ValueError, match="rank must be one of 1, 2, 3, 4, 5, got 6"):
        render_attribution({"rank": 6}, explorer)
    with pytest.raises(ValueError, match="photo must be one of chelsea, coffee, .*got 'camera'"):
        attribution_widget(photo="camera", explorer=explorer)
    with pytest.raises(ValueError, match=r"the map must have the image's size \(4, 4\)"):
        draw_attribution(np.zeros((4, 4, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown layer 'head'"):
        AttributionExplorer(TinyNet(), layer="head").attribution_map("chelsea", "grad_cam", 1)


def test_widget_carries_a_static_view_of_its_first_state(explorer):
    box = attribution_widget(photo="coffee", method="saliency", rank=2, explorer=explorer)
    html = box._repr_mimebundle_()["text/html"]
    name = explorer.top5("coffee")[1][1]
    assert html.startswith('<div class="dlcourse-widget"><img src="data:image/png;base64,')
    alt = f"map of the photo 'coffee' for its prediction number 2, '{name}'"
    assert alt in unescape(html)
    box.controls["method"].value = "grad_cam"
    assert box._repr_mimebundle_()["text/html"] == html  # the first state, not the last
