"""Weight initialization you can see: the activations of every layer of a deep net.

:func:`draw_init_experiment` draws the activation histogram of every layer of
:func:`dlcourse.initialization.forward_stats` and the std per layer; :func:`init_widget` redraws
it for any depth, width, activation, scheme and scale, with the pure :func:`render_init` doing
the work.
"""

from __future__ import annotations

import io
import math
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dlcourse.initialization import (
    ACTIVATIONS,
    RANDOM_SCHEMES,
    LayerStats,
    forward_stats,
    init_std,
)
from dlcourse.widgets.conv_arithmetic import _check_int
from dlcourse.widgets.static import StaticViewBox

__all__ = [
    "INIT_BINS",
    "INIT_KEEP",
    "INIT_CHOICES",
    "INIT_DEFAULTS",
    "INIT_HIST_RANGE",
    "draw_init_experiment",
    "render_init",
    "init_widget",
]


#: x-range of the histograms for each activation, fixed so that pictures of different settings
#: can be compared; values outside the range are counted in the edge bins.
INIT_HIST_RANGE: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "relu": (0.0, 4.0),
    "leaky_relu": (-1.0, 4.0),
    "gelu": (-1.0, 4.0),
    "linear": (-4.0, 4.0),
}
#: Bins of every histogram.
INIT_BINS = 30
#: Values per layer the widget draws histograms of (a fixed random subsample).
INIT_KEEP = 4000
#: The choices of the widget's controls.
INIT_CHOICES: dict[str, tuple] = {
    "depth": tuple(range(1, 13)),
    "width": (64, 128, 256, 512, 1024, 2048, 4096),
    "activation": ACTIVATIONS,
    "scheme": RANDOM_SCHEMES,
    "scale": (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
}
#: The widget's starting point, and the values :func:`render_init` uses for missing keys.
INIT_DEFAULTS: dict[str, Any] = {
    "depth": 6,
    "width": 512,
    "activation": "tanh",
    "scheme": "xavier",
    "scale": 1.0,
}
_TINY, _HUGE = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


def draw_init_experiment(
    stats: list[LayerStats], title: str = "", activation: str | None = None
) -> Figure:
    """One row of histograms, one per layer (``values`` of each :class:`LayerStats`, as the
    fraction of values per bin), then the std per layer on a log axis. Returns the figure.

    Values that are exactly zero (the inactive half of a ReLU layer) are left out of the
    histogram and their share is written in the corner instead, so that their spike does not
    flatten the rest of the picture.

    With ``activation`` the x-range is :data:`INIT_HIST_RANGE` of that activation, the same for
    every setting; without it, the range of all values drawn. Either way every layer shares
    the range and the :data:`INIT_BINS` bins, so a collapse or a saturation is visible at a
    glance. The histogram axes have gid ``"hist<layer>"``, the std axes ``"std"``.
    """
    if isinstance(stats, LayerStats) or not isinstance(stats, (list, tuple)):
        raise TypeError(f"stats must be a list of LayerStats, got {type(stats).__name__}")
    if not stats or not all(isinstance(s, LayerStats) for s in stats):
        raise ValueError("stats must be a non-empty list of LayerStats (from forward_stats)")
    if activation is not None and activation not in INIT_HIST_RANGE:
        raise ValueError(
            f"unknown activation {activation!r}; allowed: None, {', '.join(INIT_HIST_RANGE)}"
        )
    if activation is not None:
        lo, hi = INIT_HIST_RANGE[activation]
    else:
        lo = min(float(s.values.min()) for s in stats if s.values.numel())
        hi = max(float(s.values.max()) for s in stats if s.values.numel())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5

    fig = plt.figure(figsize=(11, 2.6))
    grid = fig.add_gridspec(1, len(stats), left=0.03, right=0.70, bottom=0.18, top=0.72)
    for column, s in enumerate(stats):
        ax = fig.add_subplot(grid[0, column], gid=f"hist{s.layer}")
        values = s.values.detach().cpu().numpy()
        zeros = values == 0  # a ReLU's inactive units: reported, not drawn
        clipped = np.clip(values[~zeros], lo, hi)
        counts, edges = np.histogram(clipped, bins=INIT_BINS, range=(lo, hi))
        ax.stairs(counts / max(len(values), 1), edges, fill=True, color="#0072B2")
        if zeros.mean() >= 0.01:
            ax.set_ylim(0, 1.35 * max(counts.max() / len(values), 1e-3))  # room for the text
            ax.text(
                0.98, 0.98, f"{zeros.mean():.0%} zeros", transform=ax.transAxes, ha="right",
                va="top", fontsize=7, gid="zeros",
            )  # fmt: skip
        ax.set_xlim(lo, hi)
        ax.set_xticks([lo, hi])
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        ax.grid(False)
        ax.set_title(f"layer {s.layer}\nstd {s.std:.2g}", fontsize=8)

    ax = fig.add_axes((0.78, 0.18, 0.2, 0.54), gid="std")
    layers = [s.layer for s in stats]
    # a zero std sits at the bottom of the log axis, an overflow (inf, nan) at the top
    ys = [min(max(s.std, _TINY), _HUGE) if math.isfinite(s.std) else _HUGE for s in stats]
    ax.semilogy(layers, ys, "o-", color="#D55E00")
    # whole decades, labelled 0.01, 0.1, 1: at least two labels, no minor-tick labels
    ax.set_ylim(10 ** np.floor(np.log10(min(ys))), 10 ** np.ceil(np.log10(max(ys)) + 1e-9))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.minorticks_off()
    ax.set_xticks(layers if len(layers) <= 12 else layers[:: -(-len(layers) // 12)])
    ax.set_xlabel("layer")
    ax.set_title("std per layer", fontsize=9)
    ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def render_init(state: dict) -> Figure:
    """The widget's drawing for ``state`` (keys of :data:`INIT_DEFAULTS`; missing ones take
    those values): :func:`draw_init_experiment` of ``forward_stats(..., keep=INIT_KEEP)``."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    unknown = set(state) - set(INIT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown state keys {sorted(unknown)}; allowed: {list(INIT_DEFAULTS)}")
    st = {**INIT_DEFAULTS, **state}
    stats = forward_stats(**st, keep=INIT_KEEP)
    std = init_std(st["scheme"], st["width"], st["scale"])
    title = (
        f"{st['scheme']} init, scale {st['scale']:g}: weight std {std:.3g}  ·  "
        f"{st['activation']}  ·  {st['depth']} layers of {st['width']} units"
    )
    return draw_init_experiment(stats, title=title, activation=st["activation"])


def init_widget(
    depth: int = 6,
    width: int = 512,
    activation: str = "tanh",
    scheme: str = "xavier",
    scale: float = 1.0,
) -> widgets.VBox:
    """Controls for depth, width, activation, scheme and scale (the choices of
    :data:`INIT_CHOICES`); every change redraws with :func:`render_init`. Returns the
    ``ipywidgets.VBox``, which also carries ``controls`` (name -> widget, keys as in the
    state), ``state()`` and ``figure`` (the figure shown last), for use from code.
    """
    initial = {
        "depth": depth, "width": width, "activation": activation, "scheme": scheme,
        "scale": scale,
    }  # fmt: skip
    for name in ("depth", "width"):
        _check_int(name, initial[name])
    for name, value in initial.items():
        choices = INIT_CHOICES[name]
        if isinstance(value, bool) or value not in choices:
            raise ValueError(
                f"{name} must be one of {', '.join(map(str, choices))} for the widget, "
                f"got {value!r}"
            )
    controls: dict[str, Any] = {
        "depth": widgets.IntSlider(
            value=depth, min=1, max=max(INIT_CHOICES["depth"]), description="depth",
            continuous_update=False,
        ),
        "width": widgets.SelectionSlider(
            options=INIT_CHOICES["width"], value=width, description="width",
            continuous_update=False,
        ),
        "activation": widgets.Dropdown(
            options=INIT_CHOICES["activation"], value=activation, description="activation"
        ),
        "scheme": widgets.Dropdown(
            options=INIT_CHOICES["scheme"], value=scheme, description="scheme"
        ),
        "scale": widgets.SelectionSlider(
            options=[(f"{s:g}", s) for s in INIT_CHOICES["scale"]],
            value=float(scale), description="scale", continuous_update=False,
        ),
    }  # fmt: skip
    output = widgets.Output()
    box = StaticViewBox(
        [
            widgets.HBox([controls["depth"], controls["width"], controls["scale"]]),
            widgets.HBox([controls["activation"], controls["scheme"]]),
            output,
        ]
    )

    def state() -> dict:
        return {name: control.value for name, control in controls.items()}

    def redraw(_change=None) -> None:
        if box.figure is not None:
            plt.close(box.figure)
        box.figure = render_init(state())
        png = io.BytesIO()  # the layout is fixed: one plain PNG, not the two draws of "tight"
        box.figure.savefig(png, format="png")
        plt.close(box.figure)  # shown once, in the output area, and not kept by pyplot
        with output:
            output.clear_output(wait=True)
            display(Image(data=png.getvalue(), format="png"))

    box.controls, box.state, box.figure = controls, state, None
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box.set_static_view(
        box.figure,
        f"Activation histograms of every layer of a {depth}-layer, {width}-unit {activation} "
        f"network initialized with {scheme} (scale {scale:g}), and the std per layer.",
    )
    return box
