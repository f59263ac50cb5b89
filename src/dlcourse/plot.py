"""The book's figures, in one style: image grids and training curves.

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
