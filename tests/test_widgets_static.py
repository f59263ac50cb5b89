"""Tests for dlcourse.widgets.static: the figure a page without a kernel shows for a widget."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.widgets import conv_arithmetic_widget, init_widget
from dlcourse.widgets.static import (
    COLAB_HINT,
    StaticViewBox,
    figure_html,
    static_view_html,
)

PNG_SRC = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')


def decode_png(html: str) -> np.ndarray:
    match = PNG_SRC.search(html)
    assert match is not None, html[:200]
    return plt.imread(io.BytesIO(base64.b64decode(match.group(1))), format="png")


def test_figure_html_is_the_figure_as_png_with_alt_text():
    fig = plt.figure(figsize=(2, 1), dpi=50)
    fig.patch.set_facecolor((1.0, 0.0, 0.0))
    html = figure_html(fig, 'a red "box" & more')
    image = decode_png(html)
    assert image.shape[:2] == (50, 100)
    assert np.allclose(image[..., :3].reshape(-1, 3).mean(0), [1.0, 0.0, 0.0])
    assert 'alt="a red &quot;box&quot; &amp; more"' in html


@pytest.mark.parametrize("alt", ["", "   ", None])
def test_figure_html_needs_alt_text(alt):
    with pytest.raises(ValueError, match="alt must be a non-empty description"):
        figure_html(plt.figure(), alt)


def test_figure_html_needs_a_figure():
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure"):
        figure_html(np.zeros((3, 3)), "an array")


def test_static_view_has_figure_and_escaped_hint():
    html = static_view_html("<img>", hint="open <Colab>")
    assert html.startswith('<div class="dlcourse-widget"><img>')
    assert '<p class="dlcourse-widget-hint">open &lt;Colab&gt;</p>' in html


def test_box_without_static_view_has_no_html():
    bundle = StaticViewBox([])._repr_mimebundle_()
    assert "text/html" not in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_conv_arithmetic_widget_carries_its_first_drawing():
    box = conv_arithmetic_widget(i=6, k=3, s=2, p=1)
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert COLAB_HINT in html
    alt = PNG_SRC.search(html).group(2)
    # o = floor((6 + 2 - 3) / 2) + 1 = 3
    assert "input size 6, kernel 3, stride 2, padding 1" in alt and "output grid of size 3" in alt
    w, h = box.figure.get_size_inches() * box.figure.dpi
    assert decode_png(html).shape[:2] == (round(h), round(w))


def test_static_view_stays_the_first_state_after_a_change():
    box = conv_arithmetic_widget(i=5)
    before = box._repr_mimebundle_()["text/html"]
    box.sliders["i"].value = 9
    assert box._repr_mimebundle_()["text/html"] == before


def test_init_widget_carries_its_first_drawing():
    box = init_widget(depth=4, width=64, activation="tanh", scheme="xavier", scale=1.0)
    html = box._repr_mimebundle_()["text/html"]
    alt = PNG_SRC.search(html).group(2)
    assert "4-layer, 64-unit tanh network initialized with xavier (scale 1)" in alt
    assert decode_png(html).ndim == 3
