"""Looking inside a trained network: weights as images, activations, top patches, embeddings.

- :func:`get_module` finds a layer by its dotted name (``"block2.conv"``, ``"blocks.3.0"``).
- :func:`capture_activations` records the outputs of named layers with forward hooks, which are
  removed afterwards even when the forward pass fails.
- :func:`receptive_field_box` gives the input pixels one output position of a layer can see,
  from the geometry of the convolutions and poolings before it
  (:func:`dlcourse.arithmetic.receptive_field`).
- :func:`top_activating_patches`: the dataset positions where one channel fires most, with their
  input boxes (Zeiler and Fergus, 2014, "Visualizing and understanding convolutional networks").
- :func:`filters_to_images` scales each filter to 0-255 on its own, to show weights as images.
- :func:`embed` projects feature vectors to 2-D with PCA or t-SNE (scikit-learn).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .arithmetic import Layer, receptive_field
from .initialization import _positive_int

__all__ = [
    "Patch",
    "get_module",
    "capture_activations",
    "layer_geometry",
    "receptive_field_box",
    "top_activating_patches",
    "filters_to_images",
    "embed",
]


# --------------------------------------------------------------------------------------------
# Finding layers and recording what they output
# --------------------------------------------------------------------------------------------


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name`` in ``model.named_modules()`` (``""`` is the model).

    A wrong name raises ``ValueError`` listing the valid names, so a typo is easy to fix.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"layer name must be a str, got {name!r} of type {type(name).__name__}")
    modules = dict(model.named_modules())
    if name not in modules:
        valid = [n for n in modules if n]
        shown = ", ".join(valid[:40]) + (f", ... ({len(valid)} in all)" if len(valid) > 40 else "")
        raise ValueError(f"model has no layer named {name!r}; valid names: {shown}")
    return modules[name]


def capture_activations(
    model: nn.Module,
    x: torch.Tensor,
    names: Sequence[str],
    batch_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x`` and return the output of each layer in ``names`` (detached).

    The forward pass runs in eval mode under ``torch.no_grad()`` (the mode is restored after),
    on the device of the model's parameters; results come back on that device. With
    ``batch_size``, ``x`` is fed in chunks and the outputs concatenated along dimension 0.
    Each layer must return a single tensor. The hooks are removed in a ``finally`` block, so a
    failing forward pass leaves the model as it was.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise TypeError(f"names must be a non-empty list of layer names, got {names!r}")
    modules = {name: get_module(model, name) for name in names}  # check every name first
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    chunks = [x] if batch_size is None else list(torch.split(x, batch_size))
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in modules}

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} ({type(module).__name__}) returned "
                    f"{type(output).__name__}, not a tensor; pick a layer that returns one"
                )
            outputs[name].append(output.detach())

        return hook

    device = _model_device(model, x)
    was_training = model.training
    handles = [m.register_forward_hook(hook_for(n)) for n, m in modules.items()]
    try:
        model.eval()
        with torch.no_grad():
            for chunk in chunks:
                model(chunk.to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    missing = [n for n, out in outputs.items() if len(out) != len(chunks)]
    if missing:
        raise ValueError(f"layers {missing} were not called once per forward pass")
    return {n: out[0] if len(out) == 1 else torch.cat(out) for n, out in outputs.items()}


def _model_device(model: nn.Module, x: torch.Tensor) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else x.device


# --------------------------------------------------------------------------------------------
# Receptive field of one output position
# --------------------------------------------------------------------------------------------


def _pair(value: object) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_padding(module: nn.Conv2d) -> tuple[int, int]:
    """Padding on the top / left side (``"same"`` pads ``d(k-1)//2`` there, as PyTorch does)."""
    if module.padding == "valid":
        return (0, 0)
    if module.padding == "same":
        pairs = zip(module.kernel_size, module.dilation, strict=True)
        return tuple(d * (k - 1) // 2 for k, d in pairs)
    return _pair(module.padding)


def layer_geometry(model: nn.Module, layer: str) -> tuple[list[Layer], list[Layer]]:
    """The convolutions and poolings up to and including ``layer``, as 1-D geometry for the
    rows and for the columns (:class:`dlcourse.arithmetic.Layer`).

    Leaf modules are taken in the order they are registered, which is the order they run in a
    chain such as ``nn.Sequential``; element-wise layers (activations, normalization) do not
    change the geometry and are skipped. The result is exact for a chain of ``Conv2d``,
    ``MaxPool2d`` and ``AvgPool2d``; on a branch with a shortcut it is the longest path.
    Layers that mix all positions (global pooling, ``Linear``) have no local receptive
    field and raise ``ValueError``, as do convolutions that pad at run time (TF-style "same").
    """
    target = get_module(model, layer)
    rows: list[Layer] = []
    cols: list[Layer] = []
    target_leaves = {id(m) for m in target.modules()}
    names = [n for n, m in model.named_modules() if not list(m.children())]
    seen_target = False
    for name in names:
        module = get_module(model, name)
        inside = id(module) in target_leaves
        if seen_target and not inside:
            break
        seen_target = seen_target or inside
        if isinstance(module, nn.Conv2d):
            if type(module) is not nn.Conv2d:
                raise ValueError(
                    f"layer {name!r} is a {type(module).__name__}, whose padding may be computed "
                    "at run time; only nn.Conv2d, nn.MaxPool2d and nn.AvgPool2d are supported"
                )
            (kh, kw), (sh, sw) = module.kernel_size, module.stride
            (ph, pw), (dh, dw) = _conv_padding(module), module.dilation
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            (kh, kw), (sh, sw) = _pair(module.kernel_size), _pair(module.stride)
            (ph, pw) = _pair(module.padding)
            (dh, dw) = _pair(getattr(module, "dilation", 1))
        elif isinstance(module, (nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            raise ValueError(
                f"layer {layer!r} comes after {name!r} ({type(module).__name__}), which mixes "
                "all positions: it has no local receptive field; pick an earlier layer"
            )
        else:
            continue
        rows.append(Layer(kh, sh, ph, dh, name))
        cols.append(Layer(kw, sw, pw, dw, name))
    if not seen_target:
        raise ValueError(f"layer {layer!r} has no leaf modules to locate it in the model")
    return rows, cols


def receptive_field_box(
    model: nn.Module, layer: str, y: int, x: int, image_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Input pixels that output position ``(y, x)`` of ``layer`` depends on, as a box
    ``(top, left, bottom, right)`` with bottom and right exclusive, clipped to the image.

    Along each axis, with the receptive field ``size``, ``jump`` and ``start`` of the layer
    (:func:`dlcourse.arithmetic.receptive_field`), position ``o`` sees input indices
    ``start + o * jump - (size - 1)/2`` to ``start + o * jump + (size - 1)/2``.
    """
    height, width = (_positive_int("image height", image_size[0]),
                     _positive_int("image width", image_size[1]))
    rows, cols = layer_geometry(model, layer)
    box = []
    for o, stack, n in ((y, rows, height), (x, cols, width)):
        if isinstance(o, bool) or not isinstance(o, numbers.Integral) or o < 0:
            raise ValueError(f"output position must be a non-negative int, got {o!r}")
        if not stack:  # no spatial layer before it: one pixel
            lo = hi = int(o)
        else:
            rf = receptive_field(stack)[-1]
            centre = rf.start + int(o) * rf.jump
            lo, hi = round(centre - (rf.size - 1) / 2), round(centre + (rf.size - 1) / 2)
        box.append((max(lo, 0), min(hi + 1, n)))
    (top, bottom), (left, right) = box
    if top >= bottom or left >= right:
        raise ValueError(f"position ({y}, {x}) of {layer!r} lies outside a {image_size} image")
    return top, left, bottom, right


# --------------------------------------------------------------------------------------------
# Maximally activating patches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One top activation: image ``index``, position ``(y, x)`` in the layer's output, its
    ``value``, and the input ``box`` ``(top, left, bottom, right)`` it can see."""

    index: int
    y: int
    x: int
    value: float
    box: tuple[int, int, int, int]


def top_activating_patches(
    model: nn.Module,
    layer: str,
    channel: int,
    images: torch.Tensor,
    k: int = 9,
    batch_size: int = 256,
    one_per_image: bool = True,
    activations: torch.Tensor | None = None,
) -> list[Patch]:
    """The ``k`` positions in ``images`` ``(N, C, H, W)`` where ``channel`` of ``layer`` is
    largest, best first, each with the input box of its receptive field.

    With ``one_per_image`` (Zeiler and Fergus' choice) each image contributes only its best
    position, so the ``k`` patches come from ``k`` different images; otherwise any positions
    count (neighbouring positions of one image then often fill the list). ``activations``:
    the layer's output on ``images`` when it is already at hand (saves a forward pass per call
    when looking at many channels).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, C, H, W), got {got}")
    k = _positive_int("k", k)
    if isinstance(channel, bool) or not isinstance(channel, numbers.Integral) or channel < 0:
        raise ValueError(f"channel must be a non-negative int, got {channel!r}")
    layer_geometry(model, layer)  # fails early for layers without a local receptive field
    if activations is None:
        acts = capture_activations(model, images, [layer], batch_size=batch_size)[layer]
    elif not isinstance(activations, torch.Tensor) or activations.shape[:1] != images.shape[:1]:
        raise ValueError(f"activations must be a tensor with one row per image ({len(images)})")
    else:
        acts = activations
    if acts.ndim != 4:
        raise ValueError(f"layer {layer!r} outputs shape {tuple(acts.shape)}, not (N, C, H, W)")
    if channel >= acts.shape[1]:
        raise ValueError(f"channel must be in [0, {acts.shape[1] - 1}] for {layer!r}, "
                         f"got {channel}")
    maps = acts[:, channel].float().cpu()  # (N, H', W')
    n, h_out, w_out = maps.shape
    flat = maps.reshape(n, -1)
    if one_per_image:
        best, where = flat.max(dim=1)  # best position per image
        available = n
    else:
        best, where = flat.reshape(-1), None
        available = flat.numel()
    if k > available:
        raise ValueError(f"k must be at most {available} here, got {k}")
    values, order = best.topk(k)
    patches = []
    for value, idx in zip(values.tolist(), order.tolist(), strict=True):
        if where is not None:
            image, pos = idx, int(where[idx])
        else:
            image, pos = divmod(idx, h_out * w_out)
        y, x = divmod(pos, w_out)
        box = receptive_field_box(model, layer, y, x, tuple(images.shape[-2:]))
        patches.append(Patch(int(image), y, x, float(value), box))
    return patches


# --------------------------------------------------------------------------------------------
# Weights as images, features in 2-D
# --------------------------------------------------------------------------------------------


def filters_to_images(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """Filters ``(C_out, C_in, kH, kW)`` as uint8 images, each scaled to 0-255 on its own.

    ``pixel = round(255 * (w - min) / (max - min))`` over the ``C_in * kH * kW`` weights of one
    filter, so the most negative weight is black and the most positive white; a constant filter
    is mid-grey (128). One or three input channels give ``(C_out, kH, kW)`` grey or
    ``(C_out, kH, kW, 3)`` colour images; other channel counts are not images and raise.
    """
    if isinstance(weight, torch.Tensor):
        weight = weight.detach().cpu().double().numpy()
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError(f"weight must have shape (C_out, 1 or 3, kH, kW), got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight contains NaN or infinite values")
    flat = w.reshape(len(w), -1)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.where(hi > lo, 255.0 * (flat - lo) / span, 128.0)
    out = np.rint(scaled).astype(np.uint8).reshape(w.shape)
    return out[:, 0] if w.shape[1] == 1 else out.transpose(0, 2, 3, 1)


EMBED_METHODS = ("pca", "tsne")


def embed(
    features: torch.Tensor | np.ndarray,
    method: str = "pca",
    seed: int = 0,
    perplexity: float = 30.0,
) -> np.ndarray:
    """Project ``features`` ``(N, D)`` to ``(N, 2)``.

    ``"pca"``: the projection on the two directions of largest variance (centred data).
    ``"tsne"``: t-SNE (van der Maaten and Hinton, 2008), which keeps neighbours together
    rather than distances; initialised with PCA, seeded, and run on one thread so that the
    same input gives the same picture. ``perplexity`` (about the number of neighbours each
    point cares about) must be below ``N``.
    """
    from threadpoolctl import threadpool_limits

    if method not in EMBED_METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(EMBED_METHODS)}")
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().double().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"features must be (N, D) with N >= 3 and D >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    with threadpool_limits(limits=1):
        if method == "pca":
            from sklearn.decomposition import PCA

            return PCA(n_components=2).fit_transform(x)
        if not 0 < perplexity < len(x):
            raise ValueError(f"perplexity must be in (0, {len(x)}), got {perplexity}")
        from sklearn.manifold import TSNE

        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        return tsne.fit_transform(x)
