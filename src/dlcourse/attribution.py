"""Attribution maps: which pixels of an image does a class score depend on?

Five classic methods for an image classifier ``model`` (eval mode, input ``(1, C, H, W)``, output
``(1, K)`` class scores ``y``) and a target class ``c``; all of them run on hooks, so the model's
code is never changed:

- :func:`occlusion` (Zeiler & Fergus, 2014): slide a grey patch over the image and record
  ``y_c`` of every occluded copy; low scores mark the pixels the class needs.
- :func:`saliency` (Simonyan et al., 2014): ``max_channel |dy_c / dx|``.
- :func:`guided_backprop` (Springenberg et al., 2015): the gradient, but every ReLU (and
  ReLU6) lets only positive gradients through, where its forward input was active.
- :func:`cam` (Zhou et al., 2016): ``sum_k w_ck A_k`` for a head made of a global average pool
  and one linear layer ``w`` on the feature maps ``A_k``.
- :func:`grad_cam` (Selvaraju et al., 2017): ``ReLU(sum_k alpha_k A_k)`` with
  ``alpha_k = mean_ij dy_c / dA_k[i, j]``, for any layer.

The sanity checks of Adebayo et al. (2018) need :func:`randomize_layers` (cascading
randomization from the top) and :func:`rank_correlation` (Spearman). Maps are brought to the
input size with :func:`upsample_to_input` and to ``[0, 1]`` with :func:`normalize_map`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

__all__ = [
    "GUIDED_ACTIVATIONS",
    "get_layer",
    "check_input",
    "class_score",
    "occlusion",
    "occlusion_grid",
    "occlusion_to_pixels",
    "saliency",
    "input_gradient",
    "guided_backprop",
    "cam",
    "grad_cam",
    "upsample_to_input",
    "normalize_map",
    "cascade_layers",
    "randomize_layers",
    "rank_correlation",
]

#: The activations :func:`guided_backprop` modifies. ``nn.ReLU6`` (``min(max(x, 0), 6)``, used by
#: EfficientNet-Lite and MobileNet) is a subclass of ``nn.Hardtanh``, not of ``nn.ReLU``, so it
#: is listed on its own; its gradient is already zero outside ``0 < x < 6``.
GUIDED_ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


# --------------------------------------------------------------------------------------------
# Checks shared by every method
# --------------------------------------------------------------------------------------------


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule of ``model`` with the dotted ``name`` (as in ``model.named_modules()``)."""
    if not isinstance(name, str):
        raise TypeError(f"layer must be a dotted module name (str), got {type(name).__name__}")
    modules = dict(model.named_modules())
    if name == "" or name not in modules:
        valid = ", ".join(n for n in modules if n)
        raise ValueError(f"unknown layer {name!r}; valid names: {valid}")
    return modules[name]


def _first_conv_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """``x`` must be one float image ``(1, C, H, W)`` with the ``C`` of the first convolution."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (1, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(
            f"x must be one image of shape (1, C, H, W), got shape {tuple(x.shape)}; "
            "use x[i:i + 1] for image i of a batch, x.unsqueeze(0) for a (C, H, W) image"
        )
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor, got dtype {x.dtype}")
    channels = _first_conv_channels(model)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"x has {x.shape[1]} channels but the model's first convolution expects {channels}"
        )


def _check_target(target: object, n_classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be an int class index, got {target!r}")
    if not 0 <= target < n_classes:
        raise ValueError(f"target must be in [0, {n_classes - 1}], got {target}")
    return int(target)


def _scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return class scores (N, K), got {shape}")
    return out


def class_score(model: nn.Module, x: torch.Tensor, target: int) -> float:
    """The class score ``y_c`` (the model's output, e.g. a logit) of one image."""
    check_input(model, x)
    with torch.no_grad():
        y = _scores(model, x)
    return float(y[0, _check_target(target, y.shape[1])])


# --------------------------------------------------------------------------------------------
# Occlusion
# --------------------------------------------------------------------------------------------


def occlusion_grid(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the windows along one axis: ``0, stride, ..., size - patch``.

    The windows must tile the axis exactly (``(size - patch) % stride == 0`` and
    ``stride <= patch``), so every pixel is covered by at least one window.
    """
    for name, value in (("patch", patch), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if not 1 <= patch <= size:
        raise ValueError(f"patch must be in [1, {size}] (the image side), got {patch}")
    if not 1 <= stride <= patch:
        raise ValueError(
            f"stride must be in [1, patch = {patch}] so no pixel is skipped, got {stride}"
        )
    if (size - patch) % stride:
        good = [s for s in range(1, patch + 1) if (size - patch) % s == 0]
        raise ValueError(
            f"windows of {patch} px at stride {stride} do not tile {size} px "
            f"((size - patch) % stride must be 0); strides that do: {good}"
        )
    return list(range(0, size - patch + 1, stride))


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    patch: int = 56,
    stride: int = 28,
    baseline: float = 0.0,
    batch_size: int = 16,
) -> torch.Tensor:
    """Class scores of occluded copies of ``x``: entry ``[i, j]`` is ``y_c`` with the square
    ``patch x patch`` at ``(i * stride, j * stride)`` set to ``baseline`` in every channel.

    ``baseline = 0`` is mid-grey for inputs normalised as ``(x - 0.5) / 0.5``. With
    ``target=None`` the scores of all ``K`` classes come back, shape ``(rows, cols, K)``
    (one set of forward passes serves every class); else ``(rows, cols)``. The copies are
    run in batches of ``batch_size`` without gradients.
    """
    check_input(model, x)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise TypeError(f"baseline must be a number (the fill value), got {baseline!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    _, _, height, width = x.shape
    rows = occlusion_grid(height, patch, stride)
    cols = occlusion_grid(width, patch, stride)
    corners = [(r, c) for r in rows for c in cols]
    outputs = []
    with torch.no_grad():
        n_classes = _scores(model, x).shape[1]
        if target is not None:
            target = _check_target(target, n_classes)
        for start in range(0, len(corners), batch_size):
            chunk = corners[start : start + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)  # (B, C, H, W)
            for b, (r, c) in enumerate(chunk):
                batch[b, :, r : r + patch, c : c + patch] = baseline
            outputs.append(_scores(model, batch))
    scores = torch.cat(outputs).reshape(len(rows), len(cols), n_classes)
    return scores if target is None else scores[..., target]


def occlusion_to_pixels(
    scores: torch.Tensor, base_score: float, size: tuple[int, int], patch: int, stride: int
) -> torch.Tensor:
    """Per-pixel occlusion attribution ``(H, W)``: the drop ``y_c(x) - y_c(occluded)``,
    averaged over the windows that cover each pixel (the convention of captum's ``Occlusion``).
    """
    height, width = size
    rows = occlusion_grid(height, patch, stride)
    cols = occlusion_grid(width, patch, stride)
    if scores.shape != (len(rows), len(cols)):
        raise ValueError(
            f"scores must have shape {(len(rows), len(cols))} for size {size}, patch {patch}, "
            f"stride {stride}; got {tuple(scores.shape)}"
        )
    total = torch.zeros(height, width, dtype=scores.dtype, device=scores.device)
    count = torch.zeros(height, width, dtype=scores.dtype, device=scores.device)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            total[r : r + patch, c : c + patch] += base_score - scores[i, j]
            count[r : r + patch, c : c + patch] += 1
    return total / count


# --------------------------------------------------------------------------------------------
# Gradients: saliency and guided backpropagation
# --------------------------------------------------------------------------------------------


def input_gradient(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """``dy_c / dx``, shape ``(1, C, H, W)``; the model's parameter gradients are untouched."""
    check_input(model, x)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = _scores(model, x)
        target = _check_target(target, y.shape[1])
        (grad,) = torch.autograd.grad(y[0, target], x)
    return grad


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Vanilla gradient saliency ``(H, W)``: ``max_channel |dy_c / dx|`` (Simonyan et al.)."""
    return input_gradient(model, x, target).abs().amax(dim=1)[0]


def guided_backprop(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Guided backpropagation ``(1, C, H, W)`` (signed, like ``dy_c / dx``).

    Backward through an activation of :data:`GUIDED_ACTIVATIONS` becomes
    ``g_in = [0 < a < upper] * max(g_out, 0)``: its own gradient mask (``upper`` is inf for
    ReLU, 6 for ReLU6) times only the positive part of the incoming gradient. A forward hook
    puts a gradient hook on each activation's output that clamps the gradient there at zero;
    the activation's own backward then applies the mask. Works with ``inplace=True``
    activations; the hooks are removed afterwards, also on error. Activations called as
    functions (``F.relu``) cannot be hooked: a model without any such module is rejected.
    """
    check_input(model, x)
    acts = [m for m in model.modules() if isinstance(m, GUIDED_ACTIVATIONS)]
    if not acts:
        raise ValueError(
            "guided backprop needs activation modules of type "
            f"{', '.join(t.__name__ for t in GUIDED_ACTIVATIONS)}; the model has none "
            "(activations called as functions, e.g. F.relu, cannot be hooked)"
        )

    def clamp_gradient(_module, _inputs, output):
        if output.requires_grad:
            output.register_hook(lambda grad: grad.clamp(min=0))

    handles = [m.register_forward_hook(clamp_gradient) for m in acts]
    try:
        return input_gradient(model, x, target)
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------------------------
# Class activation maps
# --------------------------------------------------------------------------------------------


def _features_and_grad(
    model: nn.Module, x: torch.Tensor, target: int, layer: str, need_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """Feature maps ``A`` ``(K, h, w)`` of ``layer``, ``dy_c / dA`` (or None) and ``y_c``."""
    check_input(model, x)
    module = get_layer(model, layer)
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        store["A"] = output

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad() if need_grad else torch.no_grad():
            y = _scores(model, x.detach())
            target = _check_target(target, y.shape[1])
            features = store.get("A")
            if not isinstance(features, torch.Tensor) or features.ndim != 4:
                got = tuple(features.shape) if isinstance(features, torch.Tensor) else features
                raise ValueError(
                    f"layer {layer!r} must output feature maps (1, K, h, w), got {got}"
                )
            grad = None
            if need_grad:
                if not features.requires_grad:
                    raise ValueError(f"the class score does not depend on layer {layer!r}")
                (grad,) = torch.autograd.grad(y[0, target], features)
                grad = grad[0]
    finally:
        handle.remove()
    return features[0].detach(), grad, y[0, target].item()


def cam(model: nn.Module, x: torch.Tensor, target: int, layer: str, fc: str) -> torch.Tensor:
    """Class activation map ``(h, w)``: ``M_c = sum_k w_ck A_k`` (Zhou et al.).

    Exact only when ``layer``'s maps ``A`` reach the scores through a global average pool and
    the linear layer ``fc`` alone: then ``y_c = b_c + mean_ij M_c[i, j]``. That identity is
    checked, and a head of another shape is rejected.
    """
    linear = get_layer(model, fc)
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"fc must name an nn.Linear layer, {fc!r} is {type(linear).__name__}")
    features, _, score = _features_and_grad(model, x, target, layer, need_grad=False)
    if features.shape[0] != linear.in_features:
        raise ValueError(
            f"layer {layer!r} has {features.shape[0]} channels but {fc!r} takes "
            f"{linear.in_features} features"
        )
    weight = linear.weight[target].detach()  # (K,)
    cam_map = torch.einsum("k,khw->hw", weight, features)
    bias = linear.bias[target].item() if linear.bias is not None else 0.0
    implied = bias + float(cam_map.mean())
    if abs(implied - score) > 1e-3 * max(1.0, abs(score)):
        raise ValueError(
            f"the head after {layer!r} is not global average pool + {fc!r}: "
            f"b_c + mean(CAM) = {implied:.4g} but the model's score is {score:.4g}"
        )
    return cam_map


def grad_cam(
    model: nn.Module, x: torch.Tensor, target: int, layer: str, relu: bool = True
) -> torch.Tensor:
    """Grad-CAM ``(h, w)``: ``ReLU(sum_k alpha_k A_k)``, ``alpha_k = mean_ij dy_c/dA_k[i, j]``
    (Selvaraju et al.); ``relu=False`` keeps the negative part."""
    features, grad, _ = _features_and_grad(model, x, target, layer, need_grad=True)
    alpha = grad.mean(dim=(1, 2))  # (K,)
    out = torch.einsum("k,khw->hw", alpha, features)
    return out.clamp(min=0) if relu else out


# --------------------------------------------------------------------------------------------
# Maps for display and comparison
# --------------------------------------------------------------------------------------------


def upsample_to_input(attr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A map ``(h, w)`` resized bilinearly to ``size = (H, W)``, as Grad-CAM is drawn."""
    if not isinstance(attr, torch.Tensor) or attr.ndim != 2:
        shape = tuple(attr.shape) if isinstance(attr, torch.Tensor) else type(attr).__name__
        raise ValueError(f"attr must be a 2-D map (h, w), got {shape}")
    out = F.interpolate(attr[None, None], size=tuple(size), mode="bilinear", align_corners=False)
    return out[0, 0]


def normalize_map(attr: torch.Tensor) -> torch.Tensor:
    """``(m - min) / (max - min)``, in ``[0, 1]``; a constant map becomes all zeros."""
    lo, hi = attr.min(), attr.max()
    if hi <= lo:
        return torch.zeros_like(attr)
    return (attr - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------
# Sanity checks (Adebayo et al., 2018)
# --------------------------------------------------------------------------------------------


def cascade_layers(model: nn.Module) -> list[str]:
    """The model's layers from input to output for cascading randomization: its top-level
    children that hold parameters, with ``nn.Sequential``/``nn.ModuleList`` ones split into
    their children (EfficientNet: ``conv_stem, bn1, blocks.0, ..., blocks.6, conv_head, bn2,
    classifier``)."""
    names = []
    for name, child in model.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            names += [
                f"{name}.{sub}" for sub, grand in child.named_children()
                if any(True for _ in grand.parameters())
            ]  # fmt: skip
        else:
            names.append(name)
    return names


def randomize_layers(
    model: nn.Module,
    n_top: int,
    layers: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """A copy of ``model`` whose top ``n_top`` layers are re-initialised (cascading
    randomization: the classifier first, then downwards).

    ``layers`` lists layer names from input to output (default :func:`cascade_layers`). Every
    parameter tensor of the last ``n_top`` of them is replaced by Gaussian noise with that
    tensor's own mean and std, so the scale of the activations stays and the learned pattern
    goes; buffers (batch-norm statistics) are kept. ``model`` itself is not changed.
    """
    names = list(cascade_layers(model) if layers is None else layers)
    if isinstance(n_top, bool) or not isinstance(n_top, (int, np.integer)):
        raise TypeError(f"n_top must be an int, got {n_top!r}")
    if not 0 <= n_top <= len(names):
        raise ValueError(f"n_top must be in [0, {len(names)}] (the number of layers), got {n_top}")
    for name in names:
        get_layer(model, name)  # a clear error for a wrong name
    randomized = copy.deepcopy(model)
    with torch.no_grad():
        for name in names[len(names) - n_top :]:
            for param in get_layer(randomized, name).parameters():
                std = param.std() if param.numel() > 1 else param.abs()
                noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
                param.copy_(param.mean() + std * noise.to(param.device))
    return randomized


def rank_correlation(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape (pixels as samples): the
    Pearson correlation of their ranks, 1 for the same ordering whatever the scale."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"maps need at least 2 values, got {a.size}")
    for name, m in (("a", a), ("b", b)):
        if np.all(m == m.flat[0]):
            raise ValueError(f"map {name} is constant: its rank correlation is undefined")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)
