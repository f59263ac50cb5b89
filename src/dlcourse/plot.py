"""The book's figures, in one style: image grids, training curves and bubble charts.

Plotting sits on top of the computing modules and is never imported by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

#: One style for every figure: readable on light and dark pages (opaque white background),
#: labelled axes, no top/right spines, a colour-blind-safe cycle (Okabe-Ito).
STYLE = {
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "image.cmap": "gray",
    "axes.prop_cycle": mpl.cycler(
        color=[
            "#0072B2",
            "#E69F00",
            "#009E73",
            "#D55E00",
            "#CC79A7",
            "#56B4E9",
            "#F0E442",
            "#000000",
        ]
    ),
}


def use_style() -> None:
    """Apply the book's matplotlib style (called once at the top of every chapter)."""
    mpl.rcParams.update(STYLE)


def _to_numpy_image(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(C, H, W)`` or ``(H, W)`` tensor / ``(H, W[, C])`` array -> ``(H, W[, 3])`` array."""
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu().float()
        if img.ndim == 3:
            if img.shape[0] not in (1, 3):
                raise ValueError(f"tensor images must be (1|3, H, W), got {tuple(img.shape)}")
            img = img.permute(1, 2, 0)
        img = img.numpy()
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D image, got shape {img.shape}")
    if img.ndim == 3 and img.shape[2] != 3:
        raise ValueError(f"colour images must be (H, W, 3) or (H, W, 1), got {img.shape}")
    return img


def image_grid(
    images: Sequence | torch.Tensor | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    scale: float = 1.4,
    cmap: str = "gray",
    rescale: bool = True,
    suptitle: str | None = None,
) -> plt.Figure:
    """Show images in a grid and return the figure.

    ``images``: a batch ``(N, C, H, W)`` / ``(N, H, W)`` or a list of images. With ``rescale``
    each image is min-max scaled to [0, 1] on its own (what you want for filters and
    normalised inputs); otherwise values are shown as they are (clipped to [0, 1] for colour).
    """
    items = list(images)
    if not items:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(titles)} titles for {len(items)} images")
    ncols = max(1, min(ncols, len(items)))
    nrows = (len(items) + ncols - 1) // ncols
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(scale * ncols, scale * nrows + 0.3), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, items, strict=False)):
        arr = _to_numpy_image(img).astype(np.float64)
        if rescale:
            lo, hi = arr.min(), arr.max()
            arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        elif arr.ndim == 3:
            arr = np.clip(arr, 0.0, 1.0) if arr.max() <= 1.0 else arr.astype(np.uint8)
        ax.imshow(
            arr,
            cmap=None if arr.ndim == 3 else cmap,
            vmin=0 if rescale else None,
            vmax=1 if rescale else None,
        )
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history: object, title: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch (training and, if present, validation) side by side.

    ``history`` is a :class:`dlcourse.train.History` or a dict with the same keys.
    """
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    if not h.get("train_loss"):
        raise ValueError("history has no training epochs to plot")
    epochs = np.arange(1, len(h["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, h[f"train_{key}"], "o-", label="training")
        if h.get(f"val_{key}"):
            ax.plot(epochs, h[f"val_{key}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bubble_chart(
    x: Sequence[float],
    y: Sequence[float],
    sizes: Sequence[float],
    labels: Sequence[str],
    *,
    colors: Sequence[float] | None = None,
    color_label: str | None = None,
    size_legend: Sequence[float] = (),
    size_format: str = "{:g}",
    max_area: float = 1200.0,
    log_x: bool = True,
    label_offsets: dict[str, tuple[float, float]] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    figsize: tuple[float, float] = (8.0, 5.0),
) -> plt.Figure:
    """One labelled bubble per item at ``(x, y)``, its *area* proportional to ``sizes``.

    The largest size gets ``max_area`` (in points squared, matplotlib's unit for marker
    areas), every other ``max_area * size / max(sizes)``: the area, not the radius, scales
    with the size, so a bubble four times as large is twice as wide. ``colors`` (numbers,
    e.g. years) colour the bubbles through a colour map with a colour bar titled
    ``color_label``; ``size_legend`` adds grey reference bubbles for those sizes, labelled
    with ``size_format``. Each label sits right of its bubble, moved by
    ``label_offsets[label]`` (in points) when given. ``log_x`` puts x on a log scale, as
    compute budgets span orders of magnitude.
    """
    xs, ys, ss = (np.asarray(v, dtype=np.float64) for v in (x, y, sizes))
    labels = list(labels)
    n = len(labels)
    for name, values in (("x", xs), ("y", ys), ("sizes", ss)):
        if values.ndim != 1 or len(values) != n:
            raise ValueError(f"{name} must be a flat sequence of {n} numbers (one per label)")
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must be finite numbers, got {values.tolist()}")
    if n == 0:
        raise ValueError("bubble_chart needs at least one bubble")
    if (ss <= 0).any():
        raise ValueError(f"sizes must be positive (they set bubble areas), got {ss.tolist()}")
    if log_x and (xs <= 0).any():
        raise ValueError(f"x must be positive on a log scale, got {xs.tolist()}")
    if max_area <= 0:
        raise ValueError(f"max_area must be positive, got {max_area}")
    offsets = dict(label_offsets or {})
    unknown = set(offsets) - set(labels)
    if unknown:
        raise ValueError(f"label_offsets names labels that are not plotted: {sorted(unknown)}")
    if colors is not None and len(colors) != n:
        raise ValueError(f"got {len(colors)} colours for {n} bubbles")

    scale = max_area / ss.max()
    fig, ax = plt.subplots(figsize=figsize)
    style = {"alpha": 0.55, "edgecolors": "black", "linewidths": 0.6, "zorder": 3}
    if colors is None:
        ax.scatter(xs, ys, s=ss * scale, **style)
    else:
        points = ax.scatter(xs, ys, s=ss * scale, c=np.asarray(colors), cmap="viridis", **style)
        bar = fig.colorbar(points, ax=ax, pad=0.01)
        if color_label:
            bar.set_label(color_label)
    for xi, yi, si, label in zip(xs, ys, ss, labels, strict=True):
        radius = float(np.sqrt(si * scale / np.pi))  # points
        dx, dy = offsets.get(label, (0.0, 0.0))
        ax.annotate(
            label,
            (xi, yi),
            xytext=(radius + 2.0 + dx, dy),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=8,
            zorder=4,
        )
    if size_legend:
        handles = [
            ax.scatter([], [], s=value * scale, color="grey", alpha=0.4, edgecolors="black")
            for value in size_legend
        ]
        ax.legend(
            handles,
            [size_format.format(value) for value in size_legend],
            loc="lower right",
            labelspacing=1.6,
            borderpad=1.0,
            scatterpoints=1,
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
