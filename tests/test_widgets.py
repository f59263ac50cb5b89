"""Tests for dlcourse.widgets: the layout of every slider setting checked against PyTorch, the
drawing on a sample of settings, the widget's redraws and the drawing time."""

from __future__ import annotations

import itertools
import re
import time

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.widgets import (
    INPUT,
    PAD,
    SLIDER_RANGES,
    ZERO,
    conv_arithmetic_widget,
    draw_conv_arithmetic,
    layout,
    render,
)

NAMES = ("i", "k", "s", "p", "d", "output_padding")


def torch_reads(i, k, s, p, d, transposed, op):
    """PyTorch's answer along one axis: ``reads[j, o]`` is True when output ``o`` depends on
    input pixel ``j`` (or ``None`` when PyTorch rejects the setting or the output is empty).

    Each row of the batch is a one-hot input and the kernel is all ones, so an output is at
    least 1 when it reads that pixel and 0 (up to rounding) when it does not.
    """
    x = torch.eye(i).reshape(i, 1, i)
    w = torch.ones(1, 1, k)
    try:
        if transposed:
            y = F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
        else:
            y = F.conv1d(x, w, stride=s, padding=p, dilation=d)
    except RuntimeError:
        return None
    return None if y.shape[-1] < 1 else (y[:, 0, :] > 0.5).numpy()


def layout_reads(lay):
    """The same matrix from the layout: the input pixels under the taps of each window."""
    taps = lay.starts[:, None] + np.arange(lay.k)[None, :] * lay.d  # (out, k) grid positions
    src = lay.source[taps]
    outs = np.broadcast_to(np.arange(lay.out)[:, None], taps.shape)
    reads = np.zeros((lay.i, lay.out), dtype=bool)
    reads[src[src >= 0], outs[src >= 0]] = True
    return reads


def output_size_in_title(fig) -> int:
    """The number after the last '=' of the title's first line (the formula's result)."""
    first = fig.axes[0].get_title().splitlines()[0]
    return int(re.fullmatch(r"o = .* = (\d+)", first).group(1))


def by_gid(fig, gid):
    return [a for a in fig.axes[0].get_children() if a.get_gid() == gid]


def cells(collection) -> set[tuple[int, int]]:
    """(row, col) of the unit squares of a collection (their top-left corners)."""
    return {
        (round(p.vertices[:, 1].min()), round(p.vertices[:, 0].min()))
        for p in collection.get_paths()
    }


# ------------------------------------------------------------------------------------------
# layout: every slider setting, direct and transposed
# ------------------------------------------------------------------------------------------


def test_slider_ranges_are_the_documented_ones():
    assert SLIDER_RANGES == {
        "i": range(1, 17),
        "k": range(1, 8),
        "s": range(1, 5),
        "p": range(0, 5),
        "d": range(1, 4),
        "output_padding": range(0, 4),
    }


@pytest.fixture
def tiny_torch():
    """Settings for thousands of tiny convolutions: one thread (no hand-off to a second one on a
    busy machine) and PyTorch's own CPU kernels (oneDNN builds a new kernel for every new shape)."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    yield
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = onednn


def test_layout_of_every_setting_matches_torch(tiny_torch):
    """All 16*7*4*5*3*4 settings, direct and transposed: which settings are impossible, the
    output size, which input pixels each window reads (so the taps, the inserted zeros, the
    padding and the cropping) and the never-read pixels all agree with PyTorch."""
    checked = {"valid": 0, "impossible": 0, "output_padding": 0}
    for i, k, s, p, d, op in itertools.product(*(SLIDER_RANGES[n] for n in NAMES)):
        for transposed in (False, True):
            lay = layout(i, k, s, p, d, transposed, op)
            setting = (i, k, s, p, d, transposed, op)
            if op and not transposed:  # a direct convolution has no output padding
                checked["output_padding"] += 1
                assert lay.out is None and "output_padding" in lay.error, setting
                continue
            reads = torch_reads(i, k, s, p, d, transposed, op)
            if reads is None:
                checked["impossible"] += 1
                assert lay.out is None and lay.error, setting
                assert lay.title.endswith(": impossible"), setting
                continue
            checked["valid"] += 1
            assert lay.error is None and lay.out == reads.shape[1], setting
            assert (layout_reads(lay) == reads).all(), setting
            assert lay.unread == tuple(np.flatnonzero(~reads.any(axis=1))), setting
            # the drawn grid: i pixels, s-1 zeros between them when transposed, padding
            assert (lay.kinds == INPUT).sum() == i
            assert (lay.kinds == ZERO).sum() == ((i - 1) * (s - 1) if transposed else 0)
            assert np.array_equal(lay.source[lay.kinds == INPUT], np.arange(i))
            # windows move by the stride (1 in the transposed view) and stay in the region
            assert (np.diff(lay.starts) == (1 if transposed else s)).all()
            begin, end = lay.region
            assert begin <= lay.starts[0] and lay.starts[-1] + d * (k - 1) < end
            if not transposed:
                assert (lay.kinds[:p] == PAD).all() and (lay.kinds[p + i :] == PAD).all()
                assert lay.starts[-1] + s + d * (k - 1) >= end  # one more would stick out
    # every path is exercised, many times
    assert min(checked.values()) > 1000, checked


def test_layout_example_from_the_guide():
    """Dumoulin & Visin, relationship 6 example: i=5, k=3, s=2, p=1 gives a 3x3 output."""
    lay = layout(5, 3, 2, 1)
    assert lay.out == 3
    assert lay.title.splitlines()[0] == "o = ⌊(5 + 2·1 − 1·(3−1) − 1)/2⌋ + 1 = 3"
    assert lay.kinds.tolist() == [PAD, INPUT, INPUT, INPUT, INPUT, INPUT, PAD]
    assert lay.starts.tolist() == [0, 2, 4]
    assert lay.unread == ()


def test_layout_unread_examples():
    # i=6, k=3, s=2: windows read 0..2 and 2..4, pixel 5 is left over
    assert layout(6, 3, 2).unread == (5,)
    mask = layout(6, 3, 2).unread_mask()
    assert mask[5].all() and mask[:, 5].all() and mask.sum() == 6 * 6 - 5 * 5
    # i=7, k=2, d=2, s=4: taps 0, 2 and 4, 6: the odd pixels are skipped
    assert layout(7, 2, 4, 0, 2).unread == (1, 3, 5)


def test_layout_transposed_with_cropping():
    """p > d(k-1): the equivalent padding d(k-1)-p = -2 crops two cells per side (+1 back on
    the bottom/right for output_padding=1); size (4-1)*2 - 8 + 2 + 1 + 1 = 2."""
    lay = layout(4, 3, 2, 4, 1, transposed=True, output_padding=1)
    assert lay.out == 2
    assert lay.kinds.tolist() == [INPUT, ZERO, INPUT, ZERO, INPUT, ZERO, INPUT]
    assert lay.region == (2, 6)
    assert lay.unread == (0, 3)
    assert lay.cropped_mask().sum() == 7 * 7 - 4 * 4


def test_layout_positions_and_taps():
    lay0 = layout(7, 3, 2, 1, 2)  # padded 9, dilated kernel 5, o = (9-5)//2 + 1 = 3
    assert lay0.out == 3
    for step in range(9):
        lay = layout(7, 3, 2, 1, 2, step=step)
        row, col = divmod(step, 3)
        assert lay.position == (row, col)
        rows, cols = lay.taps()
        assert sorted(set(rows.tolist())) == [2 * row + 2 * j for j in range(3)]
        assert sorted(set(cols.tolist())) == [2 * col + 2 * j for j in range(3)]
        assert len(rows) == 9
    with pytest.raises(ValueError, match="0..8"):
        layout(7, 3, 2, 1, 2, step=9)


def test_layout_cell_kinds_2d():
    # 3 pixels with one zero between them span 5 cells, plus d(k-1) - p = 1 padding per side
    kinds = layout(3, 2, 2, 0, 1, transposed=True).cell_kinds()
    assert kinds.shape == (7, 7)
    assert (kinds == INPUT).sum() == 9 and (kinds == ZERO).sum() == 5 * 5 - 9
    assert (kinds == PAD).sum() == 7 * 7 - 5 * 5
    assert (kinds[1:6:2, 1:6:2] == INPUT).all()


def test_layout_bad_types():
    with pytest.raises(TypeError, match="i must be an int"):
        layout(5.0, 3)
    with pytest.raises(TypeError, match="transposed"):
        layout(5, 3, transposed=1)
    with pytest.raises(TypeError, match="step"):
        layout(5, 3, step=True)


def test_layout_invalid_values_give_a_message_not_an_exception():
    assert "p" in layout(5, 3, p=-1).error
    assert "output_padding" in layout(5, 3, output_padding=1).error  # direct: no such thing
    assert layout(5, 3, 1, 0, 1, True, 1).error  # transposed, op=1 >= max(s, d) = 1


# ------------------------------------------------------------------------------------------
# draw_conv_arithmetic
# ------------------------------------------------------------------------------------------


def torch_output_size_2d(i, k, s, p, d, transposed, op):
    """Output side of nn.Conv2d / nn.ConvTranspose2d on a (1, 1, i, i) input, or None."""
    if transposed:
        layer = torch.nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op, dilation=d)
    else:
        layer = torch.nn.Conv2d(1, 1, k, s, p, dilation=d)
    try:
        with torch.no_grad():
            shape = layer(torch.zeros(1, 1, i, i)).shape
    except RuntimeError:
        return None
    assert shape[-1] == shape[-2]
    return shape[-1] if shape[-1] > 0 else None


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    i=st.sampled_from(SLIDER_RANGES["i"]),
    k=st.sampled_from(SLIDER_RANGES["k"]),
    s=st.sampled_from(SLIDER_RANGES["s"]),
    p=st.sampled_from(SLIDER_RANGES["p"]),
    d=st.sampled_from(SLIDER_RANGES["d"]),
    transposed=st.booleans(),
    op=st.sampled_from(SLIDER_RANGES["output_padding"]),
    position=st.floats(0, 1, exclude_max=True),
)
def test_drawing_matches_torch(i, k, s, p, d, transposed, op, position):
    """~150 settings drawn in full: the size in the title is PyTorch's, the taps, output grid,
    highlighted cell and hatched pixels are those of the layout; impossible settings show the
    reason in red."""
    op = op if transposed else 0
    expected = torch_output_size_2d(i, k, s, p, d, transposed, op)
    step = None if expected is None else int(position * expected**2)
    fig = draw_conv_arithmetic(i, k, s, p, d, transposed, op, step=step)
    try:
        check_drawing(fig, layout(i, k, s, p, d, transposed, op, step), expected)
    finally:
        plt.close(fig)  # hypothesis runs all examples inside one test


def check_drawing(fig, lay, expected):
    if expected is None:
        assert "impossible" in fig.axes[0].get_title()
        (message,) = by_gid(fig, "error")
        assert " ".join(lay.error.split()) in " ".join(message.get_text().split())
        assert message.get_color() == "red"
        assert not by_gid(fig, "taps") and not by_gid(fig, "output")
        return
    assert output_size_in_title(fig) == expected
    (output,) = by_gid(fig, "output")
    assert len(output.get_paths()) == expected**2
    (taps,) = by_gid(fig, "taps")
    rows, cols = lay.taps()
    assert cells(taps) == set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(taps.get_paths()) == lay.k**2
    (highlight,) = by_gid(fig, "position")
    x_out = min(x for _, x in cells(output))
    assert (highlight.get_y(), highlight.get_x() - x_out) == divmod(lay.step, expected)
    n_unread = lay.i**2 - (lay.i - len(lay.unread)) ** 2  # read pixels: a square of rows x cols
    assert sum(len(c.get_paths()) for c in by_gid(fig, "unread")) == n_unread
    n_cells = sum(len(c.get_paths()) for g in ("input", "zero", "pad") for c in by_gid(fig, g))
    assert n_cells == lay.n**2


def test_impossible_setting_draws_the_reason():
    fig = draw_conv_arithmetic(2, 7)  # dilated kernel 7 > padded input 2
    (message,) = by_gid(fig, "error")
    text = " ".join(message.get_text().split())
    assert "larger than the padded input (2)" in text
    assert fig.axes[0].get_title() == "o = ⌊(2 + 2·0 − 1·(7−1) − 1)/1⌋ + 1: impossible"
    with pytest.raises(RuntimeError):  # PyTorch agrees that it is impossible
        torch.nn.Conv2d(1, 1, 7)(torch.zeros(1, 1, 2, 2))
    (inputs,) = by_gid(fig, "input")
    assert len(inputs.get_paths()) == 4  # the input is still drawn


def test_transposed_title_formula():
    fig = draw_conv_arithmetic(5, 3, 2, 1, transposed=True, output_padding=1)
    assert fig.axes[0].get_title().splitlines()[0] == "o = (5−1)·2 − 2·1 + 1·(3−1) + 1 + 1 = 10"
    layer = torch.nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1)
    assert layer(torch.zeros(1, 1, 5, 5)).shape[-1] == 10


def test_draw_into_given_axes():
    fig, (ax0, ax1) = plt.subplots(1, 2)
    assert draw_conv_arithmetic(4, 2, ax=ax1) is fig
    assert ax1.get_title().startswith("o = ⌊(4 + 2·0 − 1·(2−1) − 1)/1⌋ + 1 = 3")
    assert ax0.get_title() == ""


@pytest.mark.parametrize(
    "args",
    [(16, 3, 1, 4, 1, False, 0), (16, 7, 4, 0, 3, True, 3)],  # largest padded / stretched grids
)
def test_drawing_is_fast(args):
    start = time.perf_counter()
    fig = draw_conv_arithmetic(*args)
    fig.canvas.draw()
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"drawing {args} took {elapsed:.2f} s"


# ------------------------------------------------------------------------------------------
# The widget
# ------------------------------------------------------------------------------------------


def title(fig) -> str:
    return fig.axes[0].get_title()


def test_widget_builds_with_the_slider_ranges():
    box = conv_arithmetic_widget()
    assert isinstance(box, ipywidgets.VBox)
    for name, r in SLIDER_RANGES.items():
        slider = box.sliders[name]
        assert isinstance(slider, ipywidgets.IntSlider)
        assert (slider.min, slider.max) == (r.start, r.stop - 1)
    assert isinstance(box.sliders["transposed"], ipywidgets.Checkbox)
    assert box.state() == {
        "i": 5, "k": 3, "s": 1, "p": 0, "d": 1, "transposed": False, "output_padding": 0,
        "step": 0,
    }  # fmt: skip
    assert box.sliders["step"].max == 3 * 3 - 1  # o = 5 - 3 + 1 = 3
    assert box.sliders["output_padding"].disabled  # only for transposed convolutions
    assert output_size_in_title(box.figure) == 3


def test_widget_redraws_on_every_change():
    box = conv_arithmetic_widget()
    changes = [("s", 2), ("p", 1), ("step", 8), ("i", 16), ("d", 3), ("transposed", True),
               ("output_padding", 2), ("k", 7), ("transposed", False)]  # fmt: skip
    for name, value in changes:
        before = box.figure
        box.sliders[name].value = value
        assert box.figure is not before, name
        state = box.state()
        assert title(box.figure) == title(render(state))
        i, k, s, p, d = (state[n] for n in "ikspd")
        expected = torch_output_size_2d(i, k, s, p, d, state["transposed"], state["output_padding"])
        if expected is None:
            assert "impossible" in title(box.figure) and box.sliders["step"].disabled
        else:
            assert output_size_in_title(box.figure) == expected
            assert box.sliders["step"].max == expected**2 - 1
        assert box.sliders["output_padding"].disabled == (not state["transposed"])
    # unticking "transposed" ignores the output padding again: (16 + 2 - 18 - 1)//2 + 1 = 0
    assert box.state()["output_padding"] == 0
    assert box.sliders["step"].disabled


def test_widget_position_is_kept_in_range_and_impossible_settings_show_the_reason():
    box = conv_arithmetic_widget(i=6, k=2, s=1)  # 5x5 output
    box.sliders["step"].value = 24
    box.sliders["i"].value = 3  # 2x2 output: the position slider shrinks, the value follows
    assert box.sliders["step"].max == 3 and box.state()["step"] == 3
    box.sliders["k"].value = 7  # kernel larger than the input
    assert box.sliders["step"].disabled
    assert "impossible" in title(box.figure)
    assert by_gid(box.figure, "error")


def test_widget_rejects_values_outside_the_sliders():
    with pytest.raises(ValueError, match="i must be in 1..16"):
        conv_arithmetic_widget(i=17)
    with pytest.raises(TypeError, match="transposed"):
        conv_arithmetic_widget(transposed="yes")


def test_render_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown state keys"):
        render({"i": 5, "k": 3, "padding": 1})
