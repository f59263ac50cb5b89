"""Convolution arithmetic you can see: static drawings and an interactive widget.

In the style of Dumoulin & Visin's animations ("A guide to convolution arithmetic for deep
learning", 2016), frozen at one output position: the padded input, the kernel taps of one
window (dilation leaves gaps between them), the pixels no window ever reads, and the output
grid with the cell that window computes. The sizes come from :mod:`dlcourse.arithmetic`::

    direct:      o = floor((i + 2p - d(k-1) - 1) / s) + 1
    transposed:  o = (i - 1)s - 2p + d(k-1) + output_padding + 1

A transposed convolution is drawn as the equivalent direct convolution of the guide: ``s - 1``
zeros inserted between the input pixels, ``d(k-1) - p`` zeros of padding on each side (plus
``output_padding`` more at the bottom and right), then a stride-1 convolution. When
``p > d(k-1)`` that padding is negative: the outer rows and columns are cropped instead.

:func:`layout` computes everything a drawing needs (pure, cheap, testable on every setting);
:func:`draw_conv_arithmetic` only draws it. Plotting sits on top of the computing modules and is
never imported by them.

"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from dlcourse.arithmetic import conv_output_size, conv_transpose_output_size, unread_pixels
from dlcourse.widgets.static import StaticViewBox

__all__ = [
    "INPUT",
    "ZERO",
    "PAD",
    "ConvLayout",
    "layout",
    "draw_conv_arithmetic",
    "render",
    "SLIDER_RANGES",
    "conv_arithmetic_widget",
]

#: Kinds of cells in the drawn grid, ordered so that the kind of a 2-D cell is the larger of
#: the kinds of its row and its column (a padding row makes every cell in it padding).
INPUT, ZERO, PAD = 0, 1, 2

#: Ranges of the widget's sliders (the output-position slider's range depends on the output
#: size, ``range(o * o)``, so it is not listed).
SLIDER_RANGES: dict[str, range] = {
    "i": range(1, 17),
    "k": range(1, 8),
    "s": range(1, 5),
    "p": range(0, 5),
    "d": range(1, 4),
    "output_padding": range(0, 4),
}

#: The largest grid side drawn; more cells would not be readable anyway.
MAX_SIDE = 256
#: Above this many output cells the window corners are not marked (they would fill the grid).
MAX_CORNER_MARKS = 1024

_INT_ARGS = ("i", "k", "s", "p", "d", "output_padding")


@dataclass(frozen=True, eq=False)
class ConvLayout:
    """What a drawing of one convolution setting shows, along one axis (the grid is square).

    ``kinds[x]`` is the kind (:data:`INPUT`, :data:`ZERO` inserted by a transposed
    convolution, or :data:`PAD`) of row/column ``x`` of the drawn grid and ``source[x]`` the
    input index it holds (``-1`` if none). The windows slide over rows/columns
    ``region[0] .. region[1] - 1``; the rest is cropped (a transposed convolution with
    ``p > d(k-1)``). Window ``o`` reads the rows/columns ``starts[o] + j * d`` for
    ``j = 0 .. k-1``. ``unread`` lists the input indices no window reads. ``out`` is ``None``
    and ``error`` says why when the setting is impossible.
    """

    i: int
    k: int
    s: int
    p: int
    d: int
    transposed: bool
    output_padding: int
    kinds: np.ndarray
    source: np.ndarray
    region: tuple[int, int]
    out: int | None
    error: str | None
    starts: np.ndarray
    unread: tuple[int, ...]
    step: int
    formula: str

    @property
    def n(self) -> int:
        """Cells per side of the drawn grid."""
        return len(self.kinds)

    @property
    def stride(self) -> int:
        """Distance between neighbouring windows in the drawn grid (1 for a transposed view)."""
        return 1 if self.transposed else self.s

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the highlighted output cell: ``divmod(step, out)``."""
        return divmod(self.step, self.out) if self.out else (0, 0)

    def taps(self, row: int | None = None, col: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Grid rows and columns ``(k*k,)`` of the taps of the window at output (row, col)."""
        if self.out is None:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        r0, c0 = self.position
        row, col = r0 if row is None else row, c0 if col is None else col
        offsets = np.arange(self.k) * self.d
        rows, cols = np.meshgrid(self.starts[row] + offsets, self.starts[col] + offsets)
        return rows.T.ravel(), cols.T.ravel()

    def cell_kinds(self) -> np.ndarray:
        """Kind of every cell of the drawn grid, ``(n, n)``."""
        return np.maximum.outer(self.kinds, self.kinds)

    def cropped_mask(self) -> np.ndarray:
        """``(n, n)`` True at the cells outside the region the windows slide over."""
        x = np.arange(self.n)
        inside = (x >= self.region[0]) & (x < self.region[1])
        return ~np.outer(inside, inside)

    def unread_mask(self) -> np.ndarray:
        """``(n, n)`` True at the input pixels that no window reads."""
        is_input = self.kinds == INPUT
        unread_1d = is_input & np.isin(self.source, self.unread)
        return np.outer(is_input, is_input) & (unread_1d[:, None] | unread_1d[None, :])

    @property
    def title(self) -> str:
        """The formula with the numbers filled in, then the setting in words."""
        if self.error is not None:
            return self.formula
        row, col = self.position
        kind = "transposed convolution" if self.transposed else "convolution"
        return f"{self.formula}\n{kind}: output {self.out}×{self.out}, position ({row}, {col})"


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")


def _direct_axis(i: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Kinds and sources of the padded input: ``p`` padding cells, ``i`` pixels, ``p`` padding."""
    i, p = max(i, 0), max(p, 0)
    kinds = np.full(i + 2 * p, PAD, dtype=np.int8)
    kinds[p : p + i] = INPUT
    source = np.full(i + 2 * p, -1)
    source[p : p + i] = np.arange(i)
    return kinds, source


def _transposed_axis(
    i: int, k: int, s: int, p: int, d: int, op: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Kinds and sources of the equivalent direct convolution's input, and its region (the
    rows the stride-1 convolution slides over) as ``(begin, end)`` in the drawn grid.

    In coordinates of the stretched input (pixel ``j`` at ``j*s``, zeros between), the region is
    ``[-(d(k-1) - p), L + d(k-1) - p + output_padding)`` with ``L = (i-1)s + 1``. The drawn grid
    spans the region and the stretched input; cells outside the region are cropped.
    """
    i, k, s, d = max(i, 0), max(k, 1), max(s, 1), max(d, 1)
    p, op = max(p, 0), max(op, 0)
    stretched = (i - 1) * s + 1 if i > 0 else 0
    pad = d * (k - 1) - p  # each side; negative: crop
    begin, end = -pad, stretched + pad + op  # the region, in stretched coordinates
    lo, hi = min(0, begin), max(stretched, end, begin)
    x = np.arange(lo, hi)
    kinds = np.full(len(x), PAD, dtype=np.int8)
    inside = (x >= 0) & (x < stretched)
    kinds[inside] = np.where(x[inside] % s == 0, INPUT, ZERO)
    source = np.where(kinds == INPUT, x // s, -1)
    return kinds, source, (begin - lo, max(end, begin) - lo)


def layout(
    i: int,
    k: int,
    s: int = 1,
    p: int = 0,
    d: int = 1,
    transposed: bool = False,
    output_padding: int = 0,
    step: int | None = None,
) -> ConvLayout:
    """Everything :func:`draw_conv_arithmetic` draws, as numbers (see :class:`ConvLayout`).

    ``step`` is the output position, row-major in the ``o x o`` output (default 0, top left).
    An impossible setting (the size function of :mod:`dlcourse.arithmetic` raises
    ``ValueError``) gives a layout with ``out=None`` and the reason in ``error``, never an
    exception; wrong types raise ``TypeError`` and a ``step`` outside the output ``ValueError``.
    """
    for name, value in zip(_INT_ARGS, (i, k, s, p, d, output_padding), strict=True):
        _check_int(name, value)
    if not isinstance(transposed, bool):
        raise TypeError(f"transposed must be True or False, got {transposed!r}")
    if step is not None:
        _check_int("step", step)

    error, out = None, None
    if transposed:
        formula = f"o = ({i}−1)·{s} − 2·{p} + {d}·({k}−1) + {output_padding} + 1"
        try:
            out = conv_transpose_output_size(i, k, s, p, output_padding, d)
        except ValueError as exc:
            error = str(exc)
        kinds, source, region = _transposed_axis(i, k, s, p, d, output_padding)
    else:
        formula = f"o = ⌊({i} + 2·{p} − {d}·({k}−1) − 1)/{s}⌋ + 1"
        if output_padding != 0:
            error = (
                f"output_padding={output_padding} only exists for a transposed convolution: "
                "tick 'transposed' or set output_padding=0"
            )
        else:
            try:
                out = conv_output_size(i, k, s, p, d)
            except ValueError as exc:
                error = str(exc)
        kinds, source = _direct_axis(i, p)
        region = (0, len(kinds))

    common = {
        "i": i, "k": k, "s": s, "p": p, "d": d, "transposed": transposed,
        "output_padding": output_padding, "kinds": kinds, "source": source, "region": region,
    }  # fmt: skip
    if error is not None:
        return ConvLayout(
            **common, out=None, error=error, starts=np.zeros(0, dtype=int), unread=(), step=0,
            formula=f"{formula}: impossible",
        )  # fmt: skip

    step = 0 if step is None else step
    if not 0 <= step < out * out:
        raise ValueError(
            f"step (the output position, row-major) must be in 0..{out * out - 1} for the "
            f"{out}×{out} output, got {step}"
        )
    if transposed:  # the stride-1 view of the region; cropped pixels are never read
        begin, end = region
        starts = begin + np.arange(out)
        read = np.zeros(len(kinds), dtype=bool)
        read[begin:end] = True
        read[begin + np.asarray(unread_pixels(end - begin, k, 1, 0, d), dtype=int)] = False
        unread = tuple(int(j) for j in source[(kinds == INPUT) & ~read])
    else:
        starts = np.arange(out) * s
        unread = tuple(unread_pixels(i, k, s, p, d))
    return ConvLayout(
        **common, out=out, error=None, starts=starts, unread=unread, step=step,
        formula=f"{formula} = {out}",
    )  # fmt: skip


# ------------------------------------------------------------------------------------------
# Drawing
# ------------------------------------------------------------------------------------------

#: Face colour, edge colour and line style of each kind of cell, its legend label and the
#: ``gid`` of its collection (the artists carry gids so that code can find them).
_CELL_STYLE = {
    INPUT: ("#cfe8f7", "#0072B2", "solid", "input pixel", "input"),
    ZERO: ("white", "#888888", "dotted", "inserted zero", "zero"),
    PAD: ("#e6e6e6", "#888888", "dashed", "padding", "pad"),
}
_TAP, _UNREAD, _OUTPUT = "#E69F00", "#D55E00", "#009E73"


def _squares(rows: np.ndarray, cols: np.ndarray, x0: float = 0.0) -> np.ndarray:
    """Corners ``(N, 4, 2)`` of unit squares at grid (row, col), shifted right by ``x0``."""
    x = np.asarray(cols, dtype=float) + x0
    y = np.asarray(rows, dtype=float)
    return np.stack(
        [
            np.stack([x, y], -1),
            np.stack([x + 1, y], -1),
            np.stack([x + 1, y + 1], -1),
            np.stack([x, y + 1], -1),
        ],
        axis=1,
    )


def _add_cells(ax, mask: np.ndarray, x0: float = 0.0, **style: Any) -> None:
    """One collection for all cells where ``mask`` is True (fast even for thousands)."""
    rows, cols = np.nonzero(mask)
    if len(rows):
        ax.add_collection(PolyCollection(_squares(rows, cols, x0), **style), autolim=False)


def draw_conv_arithmetic(
    i: int,
    k: int,
    s: int = 1,
    p: int = 0,
    d: int = 1,
    transposed: bool = False,
    output_padding: int = 0,
    step: int | None = None,
    ax=None,
) -> Figure:
    """Draw an ``i x i`` input convolved with a ``k x k`` kernel, at output position ``step``.

    Input pixels are blue, padding grey and dashed, never-read pixels hatched red; the taps of
    the window at ``step`` are orange (dilation leaves gaps, the dashed square is the dilated
    span ``d(k-1) + 1``), faint dots mark the first tap of every other window and an arrow the
    stride. The output grid is drawn to the right with the computed cell highlighted, and the
    title is the size formula with the numbers filled in. An impossible setting draws the
    padded input and the reason in red instead of raising. ``transposed=True`` draws the
    equivalent direct convolution (see the module docstring). Returns the figure.

    ``ax``: draw into these axes instead of a new figure. The artists carry gids ("input",
    "pad", "zero", "cropped", "unread", "taps", "output", "position", "error") for code that
    inspects the drawing.
    """
    lay = layout(i, k, s, p, d, transposed, output_padding, step)
    n, out = lay.n, lay.out or 0
    if n > MAX_SIDE or out > MAX_SIDE:
        raise ValueError(
            f"the drawing would need a {max(n, out)}-cell grid side; draw_conv_arithmetic "
            f"draws up to {MAX_SIDE} cells per side (use smaller i, k, s, p, d)"
        )
    gap = max(2, round(0.15 * n))  # whole cells, so the output grid stays on the grid
    x_out = n + gap
    width = x_out + (out if lay.error is None else max(n, 8))
    height = max(n, out, 3)
    if ax is None:
        fig_w = 9.0
        fig_h = float(np.clip(fig_w * (height + 2.5) / (width + 1), 3.0, 8.0))
        fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    fig = ax.figure

    kinds2d = lay.cell_kinds()
    present = []
    for kind, (face, edge, ls, label, gid) in _CELL_STYLE.items():
        mask = kinds2d == kind
        if mask.any():
            _add_cells(
                ax, mask, gid=gid, facecolors=face, edgecolors=edge, linestyles=ls, linewidths=0.8
            )
            present.append(Patch(facecolor=face, edgecolor=edge, linestyle=ls, label=label))
    if n > 48:  # many cells: thinner lines, so the grid stays readable
        for coll in ax.collections:
            coll.set_linewidth(0.3)
    cropped = lay.cropped_mask()
    if cropped.any():
        begin, end = lay.region
        ax.add_patch(
            Rectangle((begin, begin), end - begin, end - begin, fill=False, edgecolor="black")
        )
        _add_cells(ax, cropped, gid="cropped", facecolors="white", edgecolors="none", alpha=0.7)
        present.append(
            Patch(facecolor="white", edgecolor="#888888", alpha=0.7, label="cropped (p > d(k−1))")
        )

    if lay.error is None:
        unread = lay.unread_mask()
        if unread.any():
            _add_cells(
                ax,
                unread,
                gid="unread",
                facecolors="none",
                edgecolors=_UNREAD,
                hatch="///",
                linewidths=0.8,
            )
            present.append(
                Patch(facecolor="none", edgecolor=_UNREAD, hatch="///", label="never read")
            )
        _draw_window(ax, lay)
        present.append(Patch(facecolor=_TAP, alpha=0.8, label="kernel tap"))
        _draw_output(ax, lay, x_out)
        ax.text(x_out + out / 2, -0.4, f"output {out}×{out}", ha="center", va="bottom")
    else:
        message = "\n".join(textwrap.wrap(lay.error, width=44))
        ax.text(
            x_out,
            height / 2,
            f"Impossible setting:\n{message}",
            color="red",
            ha="left",
            va="center",
            fontsize=10,
            bbox={"facecolor": "white", "edgecolor": "red", "boxstyle": "round"},
            gid="error",
        )

    ax.text(n / 2, -0.4, _input_label(lay), ha="center", va="bottom")
    ax.set_title(lay.title)
    ax.legend(
        handles=present,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(present), 4),
        fontsize=8,
    )
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(height + 0.5, -1.5 - 0.03 * height)  # rows grow downwards
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def _input_label(lay: ConvLayout) -> str:
    if not lay.transposed:
        return f"input {lay.i}×{lay.i}, padding {lay.p}"
    pad = lay.d * (lay.k - 1) - lay.p
    side = f"padding {pad}" if pad >= 0 else f"cropped {-pad}"
    extra = f" (+{lay.output_padding} bottom/right)" if lay.output_padding else ""
    zeros = f"{lay.s - 1} zero{'' if lay.s == 2 else 's'} between pixels"
    return f"input {lay.i}×{lay.i}, {zeros}, {side}{extra}"


def _draw_window(ax, lay: ConvLayout) -> None:
    """Taps of the current window, its dilated span, every window's first tap, the stride."""
    rows, cols = lay.taps()
    ax.add_collection(
        PolyCollection(
            _squares(rows, cols),
            facecolors=_TAP,
            edgecolors="black",
            alpha=0.8,
            linewidths=1.0,
            gid="taps",
        )
    )
    row, col = lay.position
    top, left = lay.starts[row], lay.starts[col]
    span = lay.d * (lay.k - 1) + 1
    ax.add_patch(
        Rectangle((left, top), span, span, fill=False, edgecolor=_TAP, linewidth=2, linestyle="--")
    )
    if lay.out * lay.out <= MAX_CORNER_MARKS:
        ys, xs = np.meshgrid(lay.starts, lay.starts)
        ax.scatter(xs.ravel() + 0.5, ys.ravel() + 0.5, s=8, color=_TAP, alpha=0.45, zorder=3)
    if lay.out > 1:  # the stride: from this window's first tap to the next window's
        nxt = lay.starts[col + 1] if col + 1 < lay.out else lay.starts[col - 1]
        ax.annotate(
            "",
            xy=(nxt + 0.5, top + 0.5),
            xytext=(left + 0.5, top + 0.5),
            arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 1.5},
        )
        ax.text(
            (left + nxt) / 2 + 0.5,
            top + 0.4,
            f"stride {lay.stride}",
            ha="center",
            va="bottom",
            fontsize=8,
        )


def _draw_output(ax, lay: ConvLayout, x0: float) -> None:
    out = lay.out
    grid = np.ones((out, out), dtype=bool)
    width = 0.3 if out > 48 else 0.8
    _add_cells(
        ax, grid, x0, gid="output", facecolors="#d9f2e9", edgecolors=_OUTPUT, linewidths=width
    )
    row, col = lay.position
    ax.add_patch(
        Rectangle((x0 + col, row), 1, 1, facecolor=_TAP, edgecolor="black", lw=1.5, gid="position")
    )


# ------------------------------------------------------------------------------------------
# The widget
# ------------------------------------------------------------------------------------------

_STATE_KEYS = ("i", "k", "s", "p", "d", "transposed", "output_padding", "step")


def render(state: dict) -> Figure:
    """The widget's drawing for ``state`` (keys: i, k, s, p, d, transposed, output_padding,
    step): exactly :func:`draw_conv_arithmetic` with those values."""
    unknown = set(state) - set(_STATE_KEYS)
    if unknown:
        raise ValueError(f"unknown state keys {sorted(unknown)}; allowed: {list(_STATE_KEYS)}")
    return draw_conv_arithmetic(**state)


def conv_arithmetic_widget(
    i: int = 5, k: int = 3, s: int = 1, p: int = 0, d: int = 1, transposed: bool = False
) -> widgets.VBox:
    """Sliders for i, k, s, p, d and output padding, a "transposed" box and an output-position
    slider; every change redraws with :func:`render`. Returns the ``ipywidgets.VBox`` (a
    :class:`~dlcourse.widgets.static.StaticViewBox`: pages without a kernel show the first
    drawing).

    The box also carries ``sliders`` (name -> widget, keys as in :func:`render`'s state),
    ``state()`` and ``figure`` (the figure shown last), for use from code. The output-padding
    slider only applies to transposed convolutions and is disabled otherwise.
    """
    for name, value in zip("ikspd", (i, k, s, p, d), strict=True):
        _check_int(name, value)
        if value not in SLIDER_RANGES[name]:
            r = SLIDER_RANGES[name]
            raise ValueError(
                f"{name} must be in {r.start}..{r.stop - 1} for the widget, got {value}"
            )
    if not isinstance(transposed, bool):
        raise TypeError(f"transposed must be True or False, got {transposed!r}")

    labels = {
        "i": "input i",
        "k": "kernel k",
        "s": "stride s",
        "p": "padding p",
        "d": "dilation d",
        "output_padding": "output pad",
    }
    initial = {"i": i, "k": k, "s": s, "p": p, "d": d, "output_padding": 0}
    sliders: dict[str, Any] = {
        name: widgets.IntSlider(
            value=initial[name],
            min=r.start,
            max=r.stop - 1,
            description=labels[name],
            continuous_update=False,
        )
        for name, r in SLIDER_RANGES.items()
    }
    sliders["transposed"] = widgets.Checkbox(value=transposed, description="transposed")
    sliders["step"] = widgets.IntSlider(
        value=0, min=0, max=0, description="position", continuous_update=False
    )
    output = widgets.Output()
    box = StaticViewBox(
        [
            widgets.HBox([sliders["i"], sliders["k"], sliders["s"]]),
            widgets.HBox([sliders["p"], sliders["d"], sliders["output_padding"]]),
            widgets.HBox([sliders["transposed"], sliders["step"]]),
            output,
        ]
    )
    busy = [False]  # set while the position slider's range is adjusted: one redraw per change

    def state() -> dict:
        st = {name: sliders[name].value for name in _STATE_KEYS}
        if not st["transposed"]:
            st["output_padding"] = 0  # only transposed convolutions have it
        return st

    def redraw(_change=None) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            sliders["output_padding"].disabled = not sliders["transposed"].value
            st = state()
            out = layout(**{**st, "step": None}).out
            sliders["step"].max = max((out or 0) ** 2 - 1, 0)  # clamps the value if needed
            sliders["step"].disabled = out is None
            st = state()
            if box.figure is not None:
                plt.close(box.figure)
            box.figure = render(st)
            with output:
                output.clear_output(wait=True)
                display(box.figure)
            plt.close(box.figure)  # shown once, in the output area, and not kept by pyplot
        finally:
            busy[0] = False

    box.sliders, box.state, box.figure = sliders, state, None
    for widget in sliders.values():
        widget.observe(redraw, names="value")
    redraw()
    kind = "transposed convolution" if transposed else "convolution"
    out = layout(**{**state(), "step": None}).out
    box.set_static_view(
        box.figure,
        f"Drawing of a {kind} with input size {i}, kernel {k}, stride {s}, padding {p} and "
        f"dilation {d}: the padded input, the taps of one window and the output grid of size "
        f"{out}.",
    )
    return box
