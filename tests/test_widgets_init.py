"""Tests for the weight-initialization drawing and widget of dlcourse.widgets: histograms checked
against hand-placed values, every activation x scheme rendered, redraws on every control, and
clear errors."""

from __future__ import annotations

import itertools

import ipywidgets
import numpy as np
import pytest
import torch

from dlcourse.initialization import ACTIVATIONS, RANDOM_SCHEMES, LayerStats, forward_stats
from dlcourse.widgets import (
    INIT_CHOICES,
    INIT_DEFAULTS,
    INIT_HIST_RANGE,
    draw_init_experiment,
    init_widget,
    render_init,
)


def axes_by_gid(fig, gid):
    return next(ax for ax in fig.axes if ax.get_gid() == gid)


def histogram(fig, layer):
    """(fractions per bin, bin edges) of the histogram of ``layer``."""
    values, edges, _ = axes_by_gid(fig, f"hist{layer}").patches[0].get_data()
    return np.asarray(values), np.asarray(edges)


def std_line(fig):
    return axes_by_gid(fig, "std").lines[0].get_ydata()


def zeros_label(fig, layer):
    texts = [t for t in axes_by_gid(fig, f"hist{layer}").texts if t.get_gid() == "zeros"]
    return texts[0].get_text() if texts else None


def test_histogram_bins_of_hand_placed_values():
    """tanh range [-1, 1] in 30 bins of width 1/15: -2 is clipped into bin 0, -0.5 falls in
    bin 7, 0.5 in bin 22, 0.99 in bin 29; each is a fifth of the values. The exact zero is
    not drawn (it would be bin 15) but reported."""
    values = torch.tensor([-2.0, -0.5, 0.0, 0.5, 0.99])
    stats = [LayerStats(layer=1, mean=0.0, std=0.5, values=values)]
    fig = draw_init_experiment(stats, title="hand", activation="tanh")
    fractions, edges = histogram(fig, 1)
    expected = np.zeros(30)
    expected[[0, 7, 22, 29]] = 0.2
    np.testing.assert_allclose(fractions, expected)
    assert zeros_label(fig, 1) == "20% zeros"
    np.testing.assert_allclose(edges, np.linspace(-1, 1, 31), atol=1e-12)
    assert axes_by_gid(fig, "hist1").get_xlim() == (-1.0, 1.0)
    assert fig._suptitle.get_text() == "hand"


def test_without_activation_the_range_is_that_of_the_data_and_zero_std_is_drawn():
    stats = [
        LayerStats(layer=1, mean=0.0, std=1.0, values=torch.tensor([-3.0, 1.0, 5.0])),
        LayerStats(layer=2, mean=0.0, std=0.0, values=torch.zeros(4)),
    ]
    fig = draw_init_experiment(stats)
    for layer in (1, 2):
        assert axes_by_gid(fig, f"hist{layer}").get_xlim() == (-3.0, 5.0)
    fractions, _ = histogram(fig, 1)
    assert fractions.sum() == pytest.approx(1.0) and zeros_label(fig, 1) is None
    fractions, _ = histogram(fig, 2)
    assert fractions.sum() == 0 and zeros_label(fig, 2) == "100% zeros"
    ys = std_line(fig)
    assert ys[0] == 1.0 and 0 < ys[1] < 1e-30  # on the log axis, not dropped
    assert axes_by_gid(fig, "std").get_yscale() == "log"
    assert fig._suptitle is None


@pytest.mark.parametrize("activation, scheme", list(itertools.product(ACTIVATIONS, RANDOM_SCHEMES)))
def test_render_every_activation_and_scheme(activation, scheme):
    state = {"depth": 3, "width": 64, "activation": activation, "scheme": scheme, "scale": 0.5}
    fig = render_init(state)
    expected = forward_stats(3, 64, activation, scheme, 0.5)  # same default seed
    np.testing.assert_allclose(std_line(fig), [s.std for s in expected], rtol=1e-6)
    lo, hi = INIT_HIST_RANGE[activation]
    for s in expected:
        ax = axes_by_gid(fig, f"hist{s.layer}")
        assert ax.get_xlim() == (lo, hi)
        assert f"layer {s.layer}" in ax.get_title()
        fractions, edges = histogram(fig, s.layer)
        values = s.values.numpy()  # 16 * 64 values, fewer than keep: all of them
        zeros = float(np.mean(values == 0))
        assert fractions.sum() == pytest.approx(1.0 - zeros)
        if activation == "relu":
            assert 0.4 < zeros < 0.6  # half the units are off
            assert zeros_label(fig, s.layer) == f"{zeros:.0%} zeros"
        clipped = np.clip(values[values != 0], lo, hi)
        np.testing.assert_allclose(
            fractions * 1024, np.histogram(clipped, bins=len(fractions), range=(lo, hi))[0]
        )
    assert len(fig.axes) == 3 + 1
    title = fig._suptitle.get_text()
    assert f"{scheme} init, scale 0.5" in title and activation in title


def test_render_title_shows_the_weight_std():
    fig = render_init({"width": 64, "scheme": "kaiming", "scale": 1.0, "depth": 1})
    assert "weight std 0.177" in fig._suptitle.get_text()  # sqrt(2/64)
    assert len(fig.axes) == 2


def test_render_uses_the_defaults_for_missing_keys():
    fig = render_init({})
    assert len(fig.axes) == INIT_DEFAULTS["depth"] + 1
    expected = forward_stats(**INIT_DEFAULTS)
    np.testing.assert_allclose(std_line(fig), [s.std for s in expected], rtol=1e-6)
    assert "512 units" in fig._suptitle.get_text()


def test_widget_builds_with_the_choices():
    box = init_widget(depth=2, width=64)
    assert isinstance(box, ipywidgets.VBox)
    assert set(box.controls) == set(INIT_CHOICES)
    assert (box.controls["depth"].min, box.controls["depth"].max) == (1, 12)
    assert tuple(box.controls["width"].options) == INIT_CHOICES["width"]
    assert tuple(box.controls["activation"].options) == ACTIVATIONS
    assert tuple(box.controls["scheme"].options) == ("normal", "xavier", "kaiming")
    assert 0.01 in INIT_CHOICES["scale"] and 0.05 in INIT_CHOICES["scale"]  # the lecture's
    assert box.state() == {**INIT_DEFAULTS, "depth": 2, "width": 64}
    assert len(box.figure.axes) == 3


def test_widget_redraws_on_every_change():
    box = init_widget(depth=2, width=64)
    changes = {"depth": 4, "width": 128, "activation": "relu", "scheme": "kaiming", "scale": 2.0}
    for name, value in changes.items():
        before = box.figure
        box.controls[name].value = value
        assert box.figure is not before, name
        state = box.state()
        assert state[name] == value
        expected = forward_stats(**state)
        np.testing.assert_allclose(std_line(box.figure), [s.std for s in expected], rtol=1e-6)
    assert len(box.figure.axes) == 4 + 1
    assert axes_by_gid(box.figure, "hist1").get_xlim() == INIT_HIST_RANGE["relu"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"depth": 13}, ValueError, "depth must be one of 1, 2, .*, 12 for the widget, got 13"),
        ({"depth": 6.0}, TypeError, "depth must be an int"),
        ({"width": 500}, ValueError, "width must be one of 64, 128, .*4096 for the widget"),
        ({"activation": "elu"}, ValueError, "activation must be one of tanh, relu"),
        ({"scheme": "constant"}, ValueError, "scheme must be one of normal, xavier, kaiming"),
        ({"scale": 0.03}, ValueError, "scale must be one of 0.001, .*10.0 for the widget"),
    ],
)
def test_widget_rejects_values_outside_its_choices(kwargs, error, match):
    with pytest.raises(error, match=match):
        init_widget(**kwargs)


def test_render_and_draw_reject_bad_input():
    with pytest.raises(ValueError, match=r"unknown state keys \['batch'\]; allowed"):
        render_init({"batch": 4})
    with pytest.raises(TypeError, match="state must be a dict"):
        render_init([("depth", 2)])
    with pytest.raises(ValueError, match="width must be a positive int"):
        render_init({"width": 0})
    with pytest.raises(ValueError, match="non-empty list of LayerStats"):
        draw_init_experiment([])
    with pytest.raises(TypeError, match="stats must be a list of LayerStats"):
        draw_init_experiment(LayerStats(1, 0.0, 1.0, torch.zeros(2)))
    stats = [LayerStats(1, 0.0, 1.0, torch.zeros(2))]
    with pytest.raises(ValueError, match="unknown activation 'elu'; allowed: None, tanh"):
        draw_init_experiment(stats, activation="elu")
