"""Tests for dlcourse.plot: image grids, training curves and the book's style."""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlcourse.plot import STYLE, image_grid, plot_history, use_style
from dlcourse.train import History


def _shown(fig: plt.Figure) -> list[np.ndarray]:
    """The image arrays drawn in the figure's axes, in grid order."""
    return [np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images]


# ------------------------------------------------------------------------------------------
# image_grid
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "ncols", "rows", "cols"), [(10, 4, 3, 4), (8, 8, 1, 8), (3, 8, 1, 3)]
)
def test_grid_layout(n, ncols, rows, cols):
    fig = image_grid(torch.rand(n, 1, 5, 6), ncols=ncols)
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == rows * cols == math.ceil(n / min(ncols, n)) * min(ncols, n)
    assert len(_shown(fig)) == n
    assert all(not ax.axison for ax in fig.axes)  # axes hidden, including the empty cells
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes] == [(rows, cols)] * (
        rows * cols
    )


def test_titles_are_set():
    titles = [f"img {i}" for i in range(5)]
    fig = image_grid(torch.rand(5, 8, 8), titles=titles, ncols=3)
    assert [ax.get_title() for ax in fig.axes[:5]] == titles
    assert [ax.get_title() for ax in fig.axes[5:]] == [""]
    assert fig.axes[0].title.get_fontsize() == 9


def test_suptitle():
    fig = image_grid(torch.rand(2, 4, 4), suptitle="filters")
    assert fig._suptitle is not None and fig._suptitle.get_text() == "filters"


def test_batch_with_one_channel_is_shown_grey_and_rescaled():
    x = torch.randn(4, 1, 7, 9) * 3 + 5
    fig = image_grid(x)
    shown = _shown(fig)
    assert len(shown) == 4
    for arr, img in zip(shown, x, strict=True):
        assert arr.shape == (7, 9)
        assert arr.min() == pytest.approx(0.0) and arr.max() == pytest.approx(1.0)
        ref = img[0].double().numpy()
        np.testing.assert_allclose(arr, (ref - ref.min()) / (ref.max() - ref.min()), rtol=1e-12)
    assert fig.axes[0].images[0].get_cmap().name == "gray"


def test_batch_without_channel_axis():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    shown = _shown(image_grid(x))
    assert [a.shape for a in shown] == [(3, 4), (3, 4)]
    np.testing.assert_allclose(shown[0], np.arange(12).reshape(3, 4) / 11)


def test_rgb_tensor_batch_is_transposed_to_hwc():
    shown = _shown(image_grid(torch.rand(3, 3, 6, 5)))
    assert [a.shape for a in shown] == [(6, 5, 3)] * 3


def test_list_of_uint8_rgb_arrays():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8) for _ in range(3)]
    shown = _shown(image_grid(images, rescale=False))
    assert len(shown) == 3
    for arr, img in zip(shown, images, strict=True):
        assert arr.shape == (6, 4, 3)
        np.testing.assert_array_equal(arr, img)
    rescaled = _shown(image_grid(images))
    assert all(a.min() == 0.0 and a.max() == 1.0 for a in rescaled)


def test_no_rescale_clips_float_colour_images():
    img = np.full((4, 4, 3), 0.5)
    img[0, 0] = [-1.0, 0.2, 0.9]
    shown = _shown(image_grid([img], rescale=False))
    assert shown[0].min() == 0.0 and shown[0].max() == pytest.approx(0.9)


def test_constant_image_is_shown_black_not_nan():
    shown = _shown(image_grid(torch.full((1, 1, 3, 3), 7.0)))
    assert np.all(shown[0] == 0.0)


def test_titles_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        image_grid(torch.rand(3, 4, 4), titles=["a", "b"])


@pytest.mark.parametrize("empty", [[], torch.zeros(0, 1, 4, 4), np.zeros((0, 4, 4))])
def test_empty_input_raises(empty):
    with pytest.raises(ValueError, match="at least one"):
        image_grid(empty)


@pytest.mark.parametrize("channels", [2, 4])
def test_wrong_channel_count_in_tensor_raises(channels):
    with pytest.raises(ValueError, match=r"\(1\|3, H, W\)"):
        image_grid(torch.rand(2, channels, 5, 5))


def test_wrong_number_of_dimensions_raises():
    with pytest.raises(ValueError, match="2-D or 3-D"):
        image_grid([np.zeros((2, 3, 4, 5))])


def test_wrong_channel_count_in_array_raises_value_error():
    with pytest.raises(ValueError):
        image_grid([np.zeros((5, 5, 2))])


# ------------------------------------------------------------------------------------------
# plot_history
# ------------------------------------------------------------------------------------------


def _history(with_val: bool) -> History:
    h = History(train_loss=[1.0, 0.5, 0.25], train_acc=[0.5, 0.7, 0.9], epoch_time=[1, 1, 1])
    if with_val:
        h.val_loss = [1.1, 0.7, 0.6]
        h.val_acc = [0.4, 0.6, 0.8]
    return h


@pytest.mark.parametrize("as_dict", [False, True])
@pytest.mark.parametrize("with_val", [False, True])
def test_plot_history_lines(as_dict, with_val):
    h = _history(with_val)
    fig = plot_history(h.as_dict() if as_dict else h, title="run")
    assert len(fig.axes) == 2
    ax_loss, ax_acc = fig.axes
    for ax in (ax_loss, ax_acc):
        assert len(ax.lines) == (2 if with_val else 1)
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == (
            ["training", "validation"] if with_val else ["training"]
        )
    assert ax_loss.get_ylabel() == "loss" and ax_acc.get_ylabel() == "accuracy"
    np.testing.assert_array_equal(ax_loss.lines[0].get_ydata(), h.train_loss)
    np.testing.assert_array_equal(ax_acc.lines[0].get_ydata(), h.train_acc)
    if with_val:
        np.testing.assert_array_equal(ax_loss.lines[1].get_ydata(), h.val_loss)
        np.testing.assert_array_equal(ax_acc.lines[1].get_ydata(), h.val_acc)
    assert fig._suptitle.get_text() == "run"


def test_plot_history_minimal_dict_without_val_keys():
    fig = plot_history({"train_loss": [2.0, 1.0], "train_acc": [0.1, 0.2]})
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]


@pytest.mark.parametrize("empty", [History(), {}, {"train_loss": [], "train_acc": []}])
def test_plot_history_empty_raises(empty):
    with pytest.raises(ValueError, match="no training epochs"):
        plot_history(empty)


# ------------------------------------------------------------------------------------------
# use_style
# ------------------------------------------------------------------------------------------


def test_use_style_sets_rc_params():
    with mpl.rc_context():
        mpl.rcParams["figure.dpi"] = 123
        mpl.rcParams["axes.grid"] = False
        use_style()
        for key, value in STYLE.items():
            assert mpl.rcParams[key] == value, key
        assert mpl.rcParams["figure.dpi"] == 80
        assert mpl.rcParams["axes.spines.top"] is False
        colours = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
        assert colours[:2] == ["#0072B2", "#E69F00"] and len(colours) == 8
    assert mpl.rcParams["figure.dpi"] != 123  # rc_context restored the old values
