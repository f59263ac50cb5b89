"""Widgets that also read on a page without a kernel: a static view of their default state.

A live widget needs a running Python; the website has none. Every widget of the book is a
:class:`StaticViewBox`: in Jupyter and Colab it is the usual ``ipywidgets.VBox`` of controls,
and it also carries an HTML rendering (the figure of its first state, with alt text, and a
hint to open the page in Colab), which the website shows instead of dead controls. Both are
in the cell's output; the website prefers ``text/html`` (``nb_mime_priority_overrides`` in
``_config.yml``), notebook front ends prefer the widget.
"""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
from matplotlib.figure import Figure

__all__ = ["COLAB_HINT", "StaticViewBox", "figure_html", "static_view_html"]

#: What the static view says under the figure.
COLAB_HINT = (
    "This is the widget at its default settings. To move the controls, open this page in "
    "Colab (the rocket button at the top of the page) and run it."
)


def figure_html(figure: Figure, alt: str) -> str:
    """An ``<img>`` with ``figure`` as an inline PNG and ``alt`` as its text alternative."""
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib Figure, got {type(figure).__name__}")
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must be a non-empty description of the figure")
    png = io.BytesIO()
    figure.savefig(png, format="png")
    data = base64.b64encode(png.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def static_view_html(image_html: str, hint: str = COLAB_HINT) -> str:
    """The static view: the figure, then the hint, in a ``dlcourse-widget`` block."""
    return (
        f'<div class="dlcourse-widget">{image_html}'
        f'<p class="dlcourse-widget-hint">{html.escape(hint)}</p></div>'
    )


class StaticViewBox(widgets.VBox):
    """A ``VBox`` whose display data also holds ``static_html`` as ``text/html``."""

    static_html: str = ""

    def set_static_view(self, figure: Figure, alt: str, hint: str = COLAB_HINT) -> None:
        """Use ``figure`` (usually the first one the widget draws) as the static view."""
        self.static_html = static_view_html(figure_html(figure, alt), hint)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.static_html and isinstance(bundle, dict):
            bundle = {**bundle, "text/html": self.static_html}
        return bundle
