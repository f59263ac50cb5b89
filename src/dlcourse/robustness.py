"""Measuring invariance and robustness: exact image transformations, common corruptions, metrics.

Every function takes a float batch ``(N, C, H, W)`` and returns a new one of the same shape,
dtype and device. Geometric transforms work in any value range; the corruptions expect pixels
in [0, 1] (as ``fashion_mnist_tensors(normalize=False)`` gives) and clip their result to
[0, 1]. The book keeps the data in [0, 1] and puts the standardisation inside the model
(:class:`Standardize`), so a pixel pushed in from outside the image is a black (0) pixel, the
true Fashion-MNIST background. With standardised data, pass ``fill = -mean / std`` instead:
``translate(standardize(x), fill=-mean/std) == standardize(translate(x))``.

Geometry. Pixel ``(i, j)`` is row ``i`` (downwards) and column ``j`` (to the right). Rotation
and scaling are about the image centre ``((H - 1) / 2, (W - 1) / 2)``: output pixel ``p``
takes the input value at ``c + A^{-1} (p - c)``, read by bilinear interpolation
(:func:`torch.nn.functional.grid_sample`, ``align_corners=False``), and input positions outside
the image read ``fill``. There is no anti-aliasing, so shrinking by a large factor aliases.

Corruptions, in the manner of Hendrycks & Dietterich (2019), "Benchmarking neural network
robustness to common corruptions and perturbations" (ImageNet-C), with five severities each,
adapted to 28x28 grey images in [0, 1]:

==========  ==============================  ====  ====  ====  ====  ====
corruption  parameter                        1     2     3     4     5
==========  ==============================  ====  ====  ====  ====  ====
noise       std of the added N(0, std^2)    0.08  0.12  0.18  0.26  0.38
blur        Gaussian sigma, pixels          0.5   0.75  1.0   1.5   2.0
contrast    factor c in (x - mean) c + mean 0.75  0.5   0.4   0.3   0.15
==========  ==============================  ====  ====  ====  ====  ====

The noise uses ImageNet-C's standard deviations, which are relative to the [0, 1] range and
so carry over to any image size. The contrast factors are CIFAR-10-C's, the milder set for
small images (ImageNet-C's 0.4 to 0.05 leave almost nothing of a Fashion-MNIST image at
severity 1: the black background turns grey). ImageNet-C's blur sigmas (1 to 6 pixels) are for
224-pixel images; a 28-pixel image is 8 times smaller, so the sigmas here are smaller (close to
CIFAR-10-C's 0.4 to 1 for 32 pixels, extended to 2 so the last severity is severe).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .initialization import _finite_float

__all__ = [
    "NOISE_STD",
    "BLUR_SIGMA",
    "CONTRAST_FACTOR",
    "SEVERITIES",
    "CORRUPTIONS",
    "Standardize",
    "translate",
    "rotate",
    "scale",
    "gaussian_noise",
    "gaussian_blur",
    "contrast",
    "random_rotation",
    "predict",
    "accuracy_under",
    "prediction_stability",
]

#: Severity 1..5 -> parameter (index ``severity - 1``); see the table in the module docstring.
NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
BLUR_SIGMA = (0.5, 0.75, 1.0, 1.5, 2.0)
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
SEVERITIES = (1, 2, 3, 4, 5)

Transform = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_batch(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    return int(value)


def _check_severity(severity: object) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise TypeError(
            f"severity must be an int in 1..5, got {severity!r} of type {type(severity).__name__}"
        )
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of 1, 2, 3, 4, 5, got {severity}")
    return int(severity)


# --------------------------------------------------------------------------------------------
# Standardisation as a layer
# --------------------------------------------------------------------------------------------


class Standardize(nn.Module):
    """``(x - mean) / std`` as the first layer of a model, so the data can stay in [0, 1].

    Transforms and corruptions then act on real pixel values (0 is black), and the model still
    sees standardised inputs.
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean = _finite_float("mean", mean)
        self.std = _finite_float("std", std)
        if self.std <= 0:
            raise ValueError(f"std must be positive, got {std}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


# --------------------------------------------------------------------------------------------
# Geometric transforms
# --------------------------------------------------------------------------------------------


def translate(x: torch.Tensor, dx: int, dy: int, fill: float = 0.0) -> torch.Tensor:
    """Shift every image by whole pixels: ``dx`` to the right, ``dy`` down (negative: left, up).

    ``out[..., i, j] = x[..., i - dy, j - dx]`` where that index is inside the image, ``fill``
    elsewhere. Nothing wraps around (unlike :func:`torch.roll`) and nothing is interpolated.
    """
    x = _check_batch(x)
    dx, dy = _check_int("dx", dx), _check_int("dy", dy)
    fill = _finite_float("fill", fill)
    h, w = x.shape[-2:]
    out = torch.full_like(x, fill)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    # Destination rows [max(dy, 0), h + min(dy, 0)) take source rows shifted back by dy.
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _sample(x: torch.Tensor, inverse: torch.Tensor, fill: float) -> torch.Tensor:
    """Output pixel p reads x at c + inverse (p - c), bilinear; ``inverse`` is (N, 2, 2) acting
    on (column, row) offsets in pixels. Outside the image reads ``fill``."""
    n, _, h, w = x.shape
    # affine_grid works in coordinates normalised to [-1, 1] per axis: u = 2 col / W, v = 2 row / H
    # about the centre. Convert pixel offsets -> normalised: D = diag(2/W, 2/H).
    to_norm = torch.tensor([2.0 / w, 2.0 / h], dtype=x.dtype, device=x.device)
    theta_lin = to_norm.view(1, 2, 1) * inverse / to_norm.view(1, 1, 2)  # D A^-1 D^-1
    theta = torch.cat([theta_lin, torch.zeros(n, 2, 1, dtype=x.dtype, device=x.device)], dim=2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with zeros; sampling x - fill and adding fill back pads with `fill`
    # exactly, because bilinear weights sum to 1.
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + fill  # fmt: skip


def _angles(x: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    if isinstance(degrees, torch.Tensor):
        if degrees.ndim > 1 or (degrees.ndim == 1 and len(degrees) != len(x)):
            raise ValueError(
                f"degrees must be a number or a 1-D tensor with one angle per image ({len(x)}), "
                f"got shape {tuple(degrees.shape)}"
            )
        if not torch.isfinite(degrees).all():
            raise ValueError("degrees must be finite")
        return degrees.to(device=x.device, dtype=x.dtype).expand(len(x))
    return torch.full((len(x),), _finite_float("degrees", degrees), dtype=x.dtype, device=x.device)


def rotate(x: torch.Tensor, degrees: float | torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Rotate every image counter-clockwise (as displayed) by ``degrees`` about its centre.

    ``degrees`` is a number or a 1-D tensor with one angle per image. Bilinear interpolation;
    corners brought in from outside the image are ``fill``. The same convention as
    ``torchvision.transforms.v2.functional.rotate``; 90 degrees equals
    ``torch.rot90(x, 1, dims=(-2, -1))`` on a square image.
    """
    x = _check_batch(x)
    fill = _finite_float("fill", fill)
    rad = torch.deg2rad(_angles(x, degrees))
    cos, sin = torch.cos(rad), torch.sin(rad)
    # Counter-clockwise on screen (rows point down) moves content by [[c, s], [-s, c]] in
    # (column, row) offsets; its inverse, where each output pixel reads, is [[c, -s], [s, c]].
    inverse = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return _sample(x, inverse, fill)


def scale(x: torch.Tensor, factor: float, fill: float = 0.0) -> torch.Tensor:
    """Zoom every image about its centre: ``factor > 1`` enlarges (the border is cut off),
    ``factor < 1`` shrinks (the border is filled with ``fill``).

    Output pixel ``p`` reads the input at ``c + (p - c) / factor``, bilinear, no anti-aliasing.
    """
    x = _check_batch(x)
    factor = _finite_float("factor", factor)
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    fill = _finite_float("fill", fill)
    inverse = torch.eye(2, dtype=x.dtype, device=x.device).expand(len(x), 2, 2) / factor
    return _sample(x, inverse, fill)


def random_rotation(
    max_degrees: float, generator: torch.Generator | None = None, fill: float = 0.0
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Augmentation for ``fit(batch_transform=...)``: rotate each image by its own angle drawn
    uniformly from ``[-max_degrees, max_degrees]``; the labels pass through unchanged.

    Angles are drawn on the CPU from ``generator`` (the global generator if ``None``), so a
    seeded generator gives the same angles on every device.
    """
    max_degrees = _finite_float("max_degrees", max_degrees)
    if max_degrees < 0:
        raise ValueError(f"max_degrees must be >= 0, got {max_degrees}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    fill = _finite_float("fill", fill)

    def transform(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(len(x), generator=generator)
        return rotate(x, (2 * u - 1) * max_degrees, fill=fill), y

    return transform


# --------------------------------------------------------------------------------------------
# Corruptions (pixels in [0, 1])
# --------------------------------------------------------------------------------------------


def gaussian_noise(
    x: torch.Tensor, severity: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``clip(x + n, 0, 1)`` with ``n ~ N(0, NOISE_STD[severity - 1]^2)`` i.i.d. per pixel.

    The noise is drawn on ``generator``'s device (CPU by default) and moved to ``x``'s, so a
    seeded CPU generator gives the same noise on every device.
    """
    x = _check_batch(x)
    std = NOISE_STD[_check_severity(severity) - 1]
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    noise_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=noise_device)
    return (x + std * noise.to(x.device)).clamp(0.0, 1.0)


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian ``exp(-k^2 / (2 sigma^2))`` for ``k = -r .. r``,
    ``r = int(3 sigma + 0.5)`` (scipy.ndimage's radius with ``truncate=3``)."""
    radius = int(3.0 * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(k**2) / (2 * sigma**2))
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def gaussian_blur(x: torch.Tensor, severity: int) -> torch.Tensor:
    """Separable Gaussian blur with ``sigma = BLUR_SIGMA[severity - 1]`` pixels, each channel on
    its own; the image is extended by mirroring at its border (``d c b | a b c d``), so the
    border is not darkened. Equals ``scipy.ndimage.gaussian_filter(mode="mirror", truncate=3)``.
    """
    x = _check_batch(x)
    sigma = BLUR_SIGMA[_check_severity(severity) - 1]
    kernel = _gaussian_kernel(sigma, x.dtype, x.device)
    r = len(kernel) // 2
    n, c, h, w = x.shape
    if r >= min(h, w):
        raise ValueError(f"images of {h}x{w} are too small for a blur of radius {r}")
    flat = x.reshape(n * c, 1, h, w)  # every channel blurred on its own
    flat = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, r, r), mode="reflect"), kernel.view(1, 1, -1, 1))
    return flat.reshape(n, c, h, w).clamp(0.0, 1.0)


def contrast(x: torch.Tensor, severity: int) -> torch.Tensor:
    """``clip((x - m) c + m, 0, 1)`` with ``c = CONTRAST_FACTOR[severity - 1]`` and ``m`` the
    mean of each image over its channels and pixels: every pixel moves towards the mean grey."""
    x = _check_batch(x)
    c = CONTRAST_FACTOR[_check_severity(severity) - 1]
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - m) * c + m).clamp(0.0, 1.0)


#: Name -> corruption ``f(x, severity)``; the noise uses the global generator here, so pass a
#: seeded ``generator`` to :func:`gaussian_noise` directly for repeatable results.
CORRUPTIONS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "gaussian noise": gaussian_noise,
    "gaussian blur": gaussian_blur,
    "contrast": contrast,
}


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    transform: Transform | None = None,
    batch_size: int = 250,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Predicted classes ``(N,)`` (on the CPU) of ``model`` for ``transform(x)``, in eval mode.

    ``transform`` (any ``x -> x'`` on a batch, e.g. ``lambda b: rotate(b, 30)``) is applied per
    batch of ``batch_size`` on ``device`` (default: the model's). The model's mode is restored.
    Batches of a few hundred small images keep every tensor small enough for the CPU's memory
    allocator to reuse (batches of 1,000 cost as much system time as compute here).
    """
    x = _check_batch(x)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be a callable x -> x or None, got {type(transform)}")
    batch_size = _check_int("batch_size", batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        out = []
        for xb in x.split(batch_size):
            xb = xb.to(device)
            if transform is not None:
                xb = transform(xb)
            out.append(model(xb).argmax(1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def accuracy_under(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    transform: Transform | None = None,
    batch_size: int = 250,
    device: torch.device | str | None = None,
) -> float:
    """Fraction of ``transform(x)`` that ``model`` classifies as ``y`` (``transform=None``: the
    clean accuracy)."""
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) != len(x):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"y must be a 1-D tensor of {len(x)} labels, got {shape}")
    pred = predict(model, x, transform, batch_size, device)
    return (pred == y.cpu()).float().mean().item()


def prediction_stability(
    model: nn.Module,
    x: torch.Tensor,
    transform: Transform,
    batch_size: int = 250,
    device: torch.device | str | None = None,
    reference: torch.Tensor | None = None,
) -> float:
    """Fraction of images whose predicted class is the same for ``x`` and ``transform(x)``.

    Needs no labels: it measures invariance itself, right or wrong. 1.0 means no prediction
    changed. ``reference``: the predictions for ``x`` (from :func:`predict`), to save a pass
    when many transforms are compared with the same clean images.
    """
    if reference is None:
        clean = predict(model, x, None, batch_size, device)
    elif not isinstance(reference, torch.Tensor) or reference.shape != (len(x),):
        raise ValueError(f"reference must be the {len(x)} predictions for x from predict()")
    else:
        clean = reference.cpu()
    moved = predict(model, x, transform, batch_size, device)
    return (clean == moved).float().mean().item()
