"""Tests for dlcourse.plot.bubble_chart: areas proportional to sizes, labels, scales, errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from dlcourse.plot import bubble_chart

X, Y, SIZES, LABELS = [0.1, 1.0, 10.0], [60.0, 70.0, 80.0], [1.0, 4.0, 16.0], ["a", "b", "c"]


def _bubbles(fig: plt.Figure) -> PathCollection:
    return fig.axes[0].collections[0]


def test_areas_are_proportional_to_sizes():
    fig = bubble_chart(X, Y, SIZES, LABELS, max_area=800.0)
    areas = _bubbles(fig).get_sizes()
    np.testing.assert_allclose(areas, [50.0, 200.0, 800.0])  # 800 * size / 16
    # A bubble four times the size is twice as wide.
    radii = np.sqrt(areas / np.pi)
    np.testing.assert_allclose(radii[1:] / radii[:-1], [2.0, 2.0])
    np.testing.assert_allclose(_bubbles(fig).get_offsets(), np.column_stack([X, Y]))


def test_labels_axes_and_scale():
    fig = bubble_chart(X, Y, SIZES, LABELS, xlabel="GMACs", ylabel="top-1", title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == LABELS
    assert ax.get_xscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("GMACs", "top-1", "t")
    linear = bubble_chart([-1.0, 0.0, 1.0], Y, SIZES, LABELS, log_x=False)
    assert linear.axes[0].get_xscale() == "linear"


def test_labels_sit_right_of_their_bubble_and_move_by_the_offsets():
    fig = bubble_chart(X, Y, SIZES, LABELS, max_area=100.0 * np.pi, label_offsets={"b": (-30, 5)})
    texts = fig.axes[0].texts
    # Radius of bubble "c" is sqrt(100 pi / pi) = 10 points; the label starts 2 points further.
    assert texts[2].xyann == pytest.approx((12.0, 0.0))
    assert texts[1].xyann == pytest.approx((5.0 + 2.0 - 30.0, 5.0))  # radius 5
    assert texts[0].xy == (X[0], Y[0])


def test_colors_and_size_legend():
    fig = bubble_chart(
        X,
        Y,
        SIZES,
        LABELS,
        colors=[2012, 2016, 2022],
        color_label="year",
        size_legend=(1, 16),
        size_format="{:g}M",
    )
    assert len(fig.axes) == 2  # the plot and its colour bar
    assert fig.axes[1].get_ylabel() == "year"
    np.testing.assert_array_equal(_bubbles(fig).get_array(), [2012, 2016, 2022])
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["1M", "16M"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": [1.0, 2.0]}, "one per label"),
        ({"sizes": [1.0, 0.0, 2.0]}, "positive"),
        ({"x": [0.0, 1.0, 2.0]}, "log scale"),
        ({"y": [1.0, float("nan"), 2.0]}, "finite"),
        ({"labels": []}, "one per label"),
        ({"colors": [1, 2]}, "colours"),
        ({"label_offsets": {"z": (1, 1)}}, "not plotted"),
        ({"max_area": 0.0}, "max_area"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"x": X, "y": Y, "sizes": SIZES, "labels": LABELS} | kwargs
    with pytest.raises(ValueError, match=match):
        bubble_chart(args.pop("x"), args.pop("y"), args.pop("sizes"), args.pop("labels"), **args)
