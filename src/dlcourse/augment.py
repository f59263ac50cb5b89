"""Batch-level data augmentation: random crop and flip, Mixup, CutMix and CowMask.

Every function works on a whole batch ``x`` of shape ``(N, C, H, W)`` on any device and draws
its randomness from an explicit CPU ``torch.Generator``, so a run repeats exactly and does not
depend on the global seed. The label-mixing methods return soft labels ``(N, num_classes)``
(each row sums to 1), which ``nn.CrossEntropyLoss`` accepts as class probabilities.

- :func:`random_crop_flip`: pad by ``p`` pixels, cut a random ``H x W`` window, flip half of
  the images left-right (the classic CIFAR augmentation, done per sample on the device).
- :func:`mixup` (Zhang et al., 2018, "mixup: Beyond empirical risk minimization"):
  ``x = lam x_i + (1 - lam) x_j``, same for the labels, ``lam ~ Beta(alpha, alpha)``.
- :func:`cutmix` (Yun et al., 2019, "CutMix: Regularization strategy to train strong
  classifiers with localizable features"): paste a box of another image; the labels are mixed
  by the area actually pasted.
- :func:`cow_mask` and :func:`cowmix` (French et al., 2020, "Milking CowMask for
  semi-supervised image classification"): masks of irregular blobs, from Gaussian noise
  smoothed by a Gaussian filter and thresholded so that a chosen proportion is 1.
- :func:`tta_probabilities`: test-time augmentation, the mean softmax over several views.

The classes :class:`RandomCropFlip`, :class:`Mixup`, :class:`CutMix` and :class:`CowMix` hold
the settings and a generator, and are called as ``(x, y) -> (x, y)``: pass one (or a
:class:`Compose` of several) as ``batch_transform`` to :func:`dlcourse.train.fit`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "random_crop_flip",
    "mixup",
    "cutmix",
    "cutmix_box",
    "cow_mask",
    "cowmix",
    "tta_probabilities",
    "RandomCropFlip",
    "Mixup",
    "CutMix",
    "CowMix",
    "Compose",
]

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(generator).__name__}"
        )
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU generator, got one on {generator.device}")
    return generator


def _check_images(x: object, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x)}")
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(
            f"{name} must have shape (N, C, H, W) with N, C, H, W >= 1, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return int(num_classes)


def _soft_labels(y: object, n: int, num_classes: int) -> torch.Tensor:
    """Hard labels ``(N,)`` -> one-hot ``(N, num_classes)``; soft labels are checked and kept."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of labels, got {type(y).__name__}")
    if y.ndim == 1:
        if y.is_floating_point() or y.dtype == torch.bool:
            raise TypeError(f"hard labels y must be an integer tensor, got dtype {y.dtype}")
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels for a batch of {n} images")
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(
                f"labels must be in [0, {num_classes - 1}] for num_classes={num_classes}, "
                f"got values from {int(y.min())} to {int(y.max())}"
            )
        return F.one_hot(y, num_classes).float()
    if y.ndim == 2:
        if tuple(y.shape) != (n, num_classes):
            raise ValueError(
                f"soft labels must have shape (N, num_classes) = ({n}, {num_classes}), "
                f"got {tuple(y.shape)}"
            )
        if not y.is_floating_point():
            raise TypeError(f"soft labels must be floating point, got dtype {y.dtype}")
        return y
    raise ValueError(f"y must have shape (N,) or (N, num_classes), got {tuple(y.shape)}")


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """One draw of ``Beta(alpha, alpha)``, reproducible from ``generator``.

    torch's Beta distribution cannot take a generator, so a NumPy generator is seeded from it.
    """
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _permutation(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator).to(device)


# --------------------------------------------------------------------------------------------
# Random crop and flip
# --------------------------------------------------------------------------------------------


def random_crop_flip(
    x: torch.Tensor,
    padding: int,
    flip: bool,
    generator: torch.Generator,
    fill: float = 0.0,
) -> torch.Tensor:
    """Per sample: pad by ``padding`` pixels of value ``fill``, cut a random ``H x W`` window,
    and with ``flip`` mirror left-right with probability 1/2. Every image is shifted on its own
    by ``(dy, dx)`` with ``|dy|, |dx| <= padding``, all in one indexing operation.

    ``fill`` should be the background value: 0 for raw pixels, ``-mean / std`` for
    standardised ones.
    """
    x = _check_images(x)
    _check_generator(generator)
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    if not isinstance(flip, bool):
        raise TypeError(f"flip must be a bool, got {type(flip).__name__}")
    if isinstance(fill, bool) or not isinstance(fill, numbers.Real) or not math.isfinite(fill):
        raise ValueError(f"fill must be a finite number, got {fill!r}")
    n, _, h, w = x.shape
    p = int(padding)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    padded = F.pad(x, (p, p, p, p), value=float(fill))  # (N, C, H + 2p, W + 2p)
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (N, H)
    cols = dx[:, None] + torch.arange(w)  # (N, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols).to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------------------------
# Mixup and CutMix
# --------------------------------------------------------------------------------------------


def mixup(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    alpha: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``x' = lam x + (1 - lam) x[perm]``, ``y' = lam y + (1 - lam) y[perm]``.

    One ``lam ~ Beta(alpha, alpha)`` per batch and a random pairing ``perm`` of the batch (as
    in the paper's code). ``y`` holds hard labels ``(N,)`` or soft ones ``(N, num_classes)``;
    the result's labels are soft. Returns ``(x', y')``.
    """
    x = _check_images(x)
    num_classes = _check_num_classes(num_classes)
    alpha = _check_positive("alpha", alpha)
    _check_generator(generator)
    soft = _soft_labels(y, len(x), num_classes).to(x.device)
    lam = _beta(alpha, generator)
    perm = _permutation(len(x), generator, x.device)
    return lam * x + (1.0 - lam) * x[perm], lam * soft + (1.0 - lam) * soft[perm]


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """A box ``(top, bottom, left, right)`` (half-open) for CutMix with mixing weight ``lam``.

    Its side lengths are ``H sqrt(1 - lam)`` and ``W sqrt(1 - lam)`` (rounded down), so before
    clipping its area is the fraction ``1 - lam`` of the image; the centre is uniform over the
    image and the box is clipped at the borders (then it is smaller).
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    lam = _check_fraction("lam", lam)
    _check_generator(generator)
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(0, height, (), generator=generator))
    cx = int(torch.randint(0, width, (), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, width)
    return top, bottom, left, right


def cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    alpha: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: paste the box :func:`cutmix_box` of ``x[perm]`` into ``x``.

    ``lam ~ Beta(alpha, alpha)`` sets the box's area to ``1 - lam`` of the image before it is
    clipped at the borders; the labels are mixed by the area actually pasted,
    ``y' = (1 - a) y + a y[perm]`` with ``a = box area / (H W)``. One box per batch, as in the
    paper's code. Returns ``(x', y')`` with soft labels.
    """
    x = _check_images(x)
    num_classes = _check_num_classes(num_classes)
    alpha = _check_positive("alpha", alpha)
    _check_generator(generator)
    soft = _soft_labels(y, len(x), num_classes).to(x.device)
    _, _, h, w = x.shape
    lam = _beta(alpha, generator)
    perm = _permutation(len(x), generator, x.device)
    top, bottom, left, right = cutmix_box(h, w, lam, generator)
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
    pasted = (bottom - top) * (right - left) / (h * w)
    return out, (1.0 - pasted) * soft + pasted * soft[perm]


# --------------------------------------------------------------------------------------------
# CowMask
# --------------------------------------------------------------------------------------------


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian ``exp(-t^2 / (2 sigma^2))`` on ``t = -r .. r``, r = ceil(3 sigma)."""
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2.0 * sigma**2))
    return k / k.sum()


def cow_mask(
    shape: Sequence[int],
    proportion: float | torch.Tensor,
    sigma: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """CowMasks: ``N`` binary masks ``(N, H, W)`` of irregular blobs (French et al., 2020).

    Each mask is white Gaussian noise smoothed by a Gaussian filter of standard deviation
    ``sigma`` pixels (larger ``sigma``, larger blobs), then thresholded: the
    ``round(p H W)`` smallest values become 1, the rest 0. French et al. threshold at
    ``mean + std * sqrt(2) erfinv(2p - 1)`` of the smoothed noise, which hits ``p`` only on
    average; the rank threshold used here gives every mask the proportion ``p`` to one pixel.
    The noise is drawn ``3 sigma`` larger on each side and filtered without padding, so the
    blobs near the border are as large as inside.

    ``shape`` is ``(N, H, W)``; ``proportion`` a float in [0, 1] or a tensor ``(N,)`` of them.
    """
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 3
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
        or min(shape) < 1
    ):
        raise ValueError(f"shape must be (N, H, W) with positive ints, got {shape!r}")
    n, h, w = (int(s) for s in shape)
    sigma = _check_positive("sigma", sigma)
    _check_generator(generator)
    if isinstance(proportion, torch.Tensor):
        if proportion.shape != (n,):
            raise ValueError(
                f"a proportion tensor must have shape (N,) = ({n},), got {tuple(proportion.shape)}"
            )
        props = proportion.detach().cpu().double()
        if not bool(((props >= 0) & (props <= 1)).all()):
            raise ValueError("every proportion must be in [0, 1]")
    else:
        props = torch.full((n,), _check_fraction("proportion", proportion), dtype=torch.float64)

    kernel = _gaussian_kernel(sigma)
    r = (len(kernel) - 1) // 2
    noise = torch.randn(n, 1, h + 2 * r, w + 2 * r, generator=generator)
    smooth = F.conv2d(noise, kernel.view(1, 1, -1, 1))  # blur along H: (N, 1, H, W + 2r)
    smooth = F.conv2d(smooth, kernel.view(1, 1, 1, -1))  # blur along W: (N, 1, H, W)
    ranks = smooth.view(n, h * w).argsort(dim=1).argsort(dim=1)  # 0 = smallest value
    counts = torch.round(props * h * w).long()  # pixels that become 1 in each mask
    return (ranks < counts[:, None]).float().view(n, h, w)


def cowmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    proportion: float | tuple[float, float],
    sigma: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CowMix: ``x' = m x + (1 - m) x[perm]`` with a :func:`cow_mask` ``m`` per sample.

    ``proportion`` is the fraction of pixels kept from ``x``: a float, or a range
    ``(low, high)`` from which each sample draws its own uniformly (French et al. use
    ``(0.2, 0.8)``). The labels are mixed by each mask's actual mean:
    ``y' = mean(m) y + (1 - mean(m)) y[perm]``. Returns ``(x', y')`` with soft labels.
    """
    x = _check_images(x)
    num_classes = _check_num_classes(num_classes)
    _check_generator(generator)
    soft = _soft_labels(y, len(x), num_classes).to(x.device)
    n, _, h, w = x.shape
    if isinstance(proportion, (tuple, list)):
        if len(proportion) != 2:
            raise ValueError(f"a proportion range must be (low, high), got {proportion!r}")
        low, high = (_check_fraction("proportion", p) for p in proportion)
        if low > high:
            raise ValueError(f"proportion range needs low <= high, got {proportion!r}")
        props = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
    else:
        props = _check_fraction("proportion", proportion)
    perm = _permutation(n, generator, x.device)
    mask = cow_mask((n, h, w), props, sigma, generator).to(x.device)  # (N, H, W)
    kept = mask.mean(dim=(1, 2))[:, None]  # (N, 1): the actual proportion of each mask
    mixed = mask[:, None] * x + (1.0 - mask[:, None]) * x[perm]
    return mixed, kept * soft + (1.0 - kept) * soft[perm]


# --------------------------------------------------------------------------------------------
# Test-time augmentation
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def tta_probabilities(
    model: torch.nn.Module,
    x: torch.Tensor,
    views: Sequence[Callable[[torch.Tensor], torch.Tensor]],
) -> torch.Tensor:
    """Test-time augmentation: ``mean_v softmax(model(v(x)))`` over the ``views``, ``(N, K)``.

    Pass ``lambda t: t`` as one of the views to include the image itself. The model is put in
    eval mode for the call and its mode is restored afterwards.
    """
    x = _check_images(x)
    if isinstance(views, (str, bytes)) or not isinstance(views, Sequence) or not views:
        raise ValueError("views must be a non-empty sequence of functions image -> image")
    if not all(callable(v) for v in views):
        raise TypeError("every view must be a callable (N, C, H, W) -> (N, C, H, W)")
    was_training = model.training
    model.eval()
    try:
        probs = [model(view(x)).softmax(dim=1) for view in views]
    finally:
        model.train(was_training)
    return torch.stack(probs).mean(dim=0)


# --------------------------------------------------------------------------------------------
# Callable settings for fit(batch_transform=...)
# --------------------------------------------------------------------------------------------


class RandomCropFlip:
    """``(x, y) -> (random_crop_flip(x, padding, flip, fill), y)`` with its own generator."""

    def __init__(
        self, padding: int = 2, flip: bool = True, fill: float = 0.0, seed: int = 0
    ) -> None:
        random_crop_flip(torch.zeros(1, 1, 1, 1), padding, flip, torch.Generator(), fill)  # checks
        self.padding, self.flip, self.fill = padding, flip, fill
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return random_crop_flip(x, self.padding, self.flip, self.generator, self.fill), y

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, flip={self.flip})"


class Mixup:
    """``(x, y) -> mixup(x, y, num_classes, alpha)`` with its own generator."""

    def __init__(self, num_classes: int, alpha: float = 0.2, seed: int = 0) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.alpha = _check_positive("alpha", alpha)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mixup(x, y, self.num_classes, self.alpha, self.generator)

    def __repr__(self) -> str:
        return f"Mixup(num_classes={self.num_classes}, alpha={self.alpha:g})"


class CutMix:
    """``(x, y) -> cutmix(x, y, num_classes, alpha)`` with its own generator."""

    def __init__(self, num_classes: int, alpha: float = 1.0, seed: int = 0) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.alpha = _check_positive("alpha", alpha)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return cutmix(x, y, self.num_classes, self.alpha, self.generator)

    def __repr__(self) -> str:
        return f"CutMix(num_classes={self.num_classes}, alpha={self.alpha:g})"


class CowMix:
    """``(x, y) -> cowmix(x, y, num_classes, proportion, sigma)`` with its own generator."""

    def __init__(
        self,
        num_classes: int,
        proportion: float | tuple[float, float] = (0.2, 0.8),
        sigma: float = 4.0,
        seed: int = 0,
    ) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.proportion, self.sigma = proportion, _check_positive("sigma", sigma)
        self.generator = torch.Generator().manual_seed(seed)
        cowmix(
            torch.zeros(1, 1, 1, 1),
            torch.zeros(1, dtype=torch.long),
            self.num_classes,
            proportion,
            sigma,
            torch.Generator(),
        )  # checks the settings

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return cowmix(x, y, self.num_classes, self.proportion, self.sigma, self.generator)

    def __repr__(self) -> str:
        return (
            f"CowMix(num_classes={self.num_classes}, proportion={self.proportion}, "
            f"sigma={self.sigma:g})"
        )


class Compose:
    """Apply batch transforms ``(x, y) -> (x, y)`` one after the other."""

    def __init__(self, *transforms: BatchTransform) -> None:
        if not transforms:
            raise ValueError("Compose needs at least one transform")
        for t in transforms:
            if not callable(t):
                raise TypeError(f"every transform must be callable (x, y) -> (x, y), got {t!r}")
        self.transforms = transforms

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for t in self.transforms:
            x, y = t(x, y)
        return x, y

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.transforms))})"
