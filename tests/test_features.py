"""Tests for dlcourse.features: values computed by hand or independently (autograd gradient
support for receptive fields, brute force for top activations, an SVD for PCA)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse.features import (
    capture_activations,
    embed,
    filters_to_images,
    get_module,
    layer_geometry,
    receptive_field_box,
    top_activating_patches,
)


def _tiny(pool: type[nn.Module] = nn.AvgPool2d) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(2, 3, 3, padding=1),  # (N, 3, 20, 20)
            act1=nn.LeakyReLU(0.5),
            conv2=nn.Conv2d(3, 4, 3, stride=2, padding=1),  # (N, 4, 10, 10)
            pool=pool(2),  # (N, 4, 5, 5)
            conv3=nn.Conv2d(4, 5, 3),  # (N, 5, 3, 3)
            gap=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(5, 2),
        )
    )


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


# --- get_module / capture_activations --------------------------------------------------------


def test_get_module_finds_and_lists_names():
    model = _tiny()
    assert get_module(model, "conv2") is model[2]
    with pytest.raises(ValueError, match="no layer named 'conv9'.*conv1, act1, conv2"):
        get_module(model, "conv9")
    with pytest.raises(TypeError, match="must be a str"):
        get_module(model, 2)


def test_capture_matches_manual_forward_and_removes_hooks():
    model = _tiny()
    x = torch.randn(7, 2, 20, 20, generator=torch.Generator().manual_seed(1))
    acts = capture_activations(model, x, ["conv2", "fc"])
    with torch.no_grad():
        conv2 = model[2](model[1](model[0](x)))
        logits = model(x)
    assert torch.allclose(acts["conv2"], conv2) and acts["conv2"].shape == (7, 4, 10, 10)
    assert torch.allclose(acts["fc"], logits)
    assert _no_hooks(model)
    # In chunks: the same numbers.
    chunked = capture_activations(model, x, ["conv2"], batch_size=3)
    assert torch.allclose(chunked["conv2"], conv2, atol=1e-6)


def test_capture_restores_mode_and_removes_hooks_on_error():
    model = _tiny()
    model.train()
    with pytest.raises(RuntimeError):
        capture_activations(model, torch.zeros(1, 5, 20, 20), ["conv1"])  # 5 channels: wrong
    assert _no_hooks(model) and model.training
    with pytest.raises(ValueError, match="valid names"):
        capture_activations(model, torch.zeros(1, 2, 20, 20), ["nope"])
    with pytest.raises(TypeError, match="list of layer names"):
        capture_activations(model, torch.zeros(1, 2, 20, 20), "conv1")


# --- receptive fields ------------------------------------------------------------------------


def _gradient_box(model, layer, y, x, shape):
    """Independent check: the input pixels with a non-zero gradient of one output unit."""
    inp = torch.randn(1, *shape, requires_grad=True, generator=torch.Generator().manual_seed(2))
    out = {}
    handle = get_module(model, layer).register_forward_hook(lambda m, i, o: out.update(v=o))
    try:
        model(inp)
    finally:
        handle.remove()
    out["v"][0, 0, y, x].backward()
    rows, cols = np.nonzero(inp.grad[0].abs().sum(0).numpy())
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize(
    ("layer", "y", "x"),
    [("conv1", 0, 0), ("conv1", 5, 19), ("conv2", 0, 3), ("conv2", 9, 9), ("pool", 2, 4),
     ("conv3", 0, 0), ("conv3", 1, 2), ("conv3", 2, 2)],
)  # fmt: skip
def test_receptive_field_box_equals_gradient_support(layer, y, x):
    model = _tiny(nn.AvgPool2d)
    assert receptive_field_box(model, layer, y, x, (20, 20)) == _gradient_box(
        model, layer, y, x, (2, 20, 20)
    )


def test_receptive_field_by_hand_and_max_pool_subset():
    model = _tiny(nn.MaxPool2d)
    # conv3 after conv(3,1,1), conv(3,2,1), pool(2,2), conv(3,1,0): size 1+2+2+1*2+2*4 = 15,
    # jump 4, start 0 + (1-1)*1 + (1-1)*1 + 0.5*2 + 1*4 = 5 -> unit (1, 2) sees rows 2..16,
    # columns 6..20 (the last clipped to 19).
    rows, cols = layer_geometry(model, "conv3")
    assert [layer.kernel for layer in rows] == [3, 3, 2, 3] and rows == cols
    assert receptive_field_box(model, "conv3", 1, 2, (20, 20)) == (2, 6, 17, 20)
    # Max pooling passes the gradient to one input of each window: the support is inside.
    top, left, bottom, right = receptive_field_box(model, "conv3", 1, 1, (20, 20))
    g = _gradient_box(model, "conv3", 1, 1, (2, 20, 20))
    assert top <= g[0] and left <= g[1] and g[2] <= bottom and g[3] <= right
    with pytest.raises(ValueError, match="no local receptive field"):
        receptive_field_box(model, "fc", 0, 0, (20, 20))


# --- top activating patches ------------------------------------------------------------------


def test_top_patches_match_brute_force():
    model = _tiny()
    images = torch.randn(30, 2, 20, 20, generator=torch.Generator().manual_seed(3))
    patches = top_activating_patches(model, "conv2", channel=1, images=images, k=5,
                                     batch_size=8)
    with torch.no_grad():
        maps = model[2](model[1](model[0](images)))[:, 1]  # (30, 10, 10)
    best = maps.flatten(1).max(1).values
    expected = best.topk(5).values
    assert torch.allclose(torch.tensor([p.value for p in patches]), expected, atol=1e-6)
    assert len({p.index for p in patches}) == 5
    for p in patches:
        assert maps[p.index, p.y, p.x].item() == pytest.approx(p.value, abs=1e-6)
        assert p.box == receptive_field_box(model, "conv2", p.y, p.x, (20, 20))
    acts = capture_activations(model, images, ["conv2"])["conv2"]
    given = top_activating_patches(model, "conv2", 1, images, k=5, activations=acts)
    assert given == patches
    # Without one_per_image, the overall top values over all positions.
    anywhere = top_activating_patches(model, "conv2", 1, images, k=20, one_per_image=False)
    assert np.allclose([p.value for p in anywhere], maps.flatten().topk(20).values, atol=1e-6)


def test_top_patches_bad_input():
    model = _tiny()
    images = torch.randn(4, 2, 20, 20)
    with pytest.raises(ValueError, match="channel must be in"):
        top_activating_patches(model, "conv2", 4, images, k=2)
    with pytest.raises(ValueError, match="k must be at most 4"):
        top_activating_patches(model, "conv2", 0, images, k=5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        top_activating_patches(model, "conv2", 0, images[0], k=1)
    with pytest.raises(ValueError, match="no local receptive field"):
        top_activating_patches(model, "fc", 0, images, k=1)


# --- filters and embeddings -------------------------------------------------------------------


def test_filters_to_images_scales_each_filter():
    w = torch.zeros(3, 1, 1, 3)
    w[0, 0, 0] = torch.tensor([-1.0, 0.0, 1.0])  # -> 0, 127.5 -> 128, 255
    w[1, 0, 0] = torch.tensor([10.0, 20.0, 30.0])  # same pattern, other scale and offset
    w[2] = 7.0  # constant -> mid-grey
    img = filters_to_images(w)
    assert img.dtype == np.uint8 and img.shape == (3, 1, 3)
    assert img[0, 0].tolist() == [0, 128, 255] == img[1, 0].tolist()
    assert (img[2] == 128).all()
    rgb = filters_to_images(torch.arange(24.0).reshape(2, 3, 2, 2))
    assert rgb.shape == (2, 2, 2, 3)
    # Channel c of pixel (0, 0) of filter 0 is weight 4c, min 0, max 11 -> round(255*4c/11).
    assert rgb[0, 0, 0].tolist() == [0, 93, 185]
    with pytest.raises(ValueError, match="1 or 3"):
        filters_to_images(torch.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match="NaN"):
        filters_to_images(torch.full((1, 1, 2, 2), float("nan")))


def test_embed_pca_matches_svd_and_tsne_separates_clusters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) * np.array([5.0, 2.0, 0.1, 0.1, 0.1])
    proj = embed(x, "pca")
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    manual = (x - x.mean(0)) @ vt[:2].T
    assert np.allclose(np.abs(proj), np.abs(manual), atol=1e-8)
    # Two far-apart clusters stay apart: every point's nearest neighbour is in its own cluster.
    pts = np.concatenate([rng.normal(size=(25, 10)), rng.normal(size=(25, 10)) + 20.0])
    emb = embed(torch.from_numpy(pts), "tsne", perplexity=10.0)
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1) + np.eye(50) * 1e9
    labels = np.repeat([0, 1], 25)
    assert (labels[dist.argmin(1)] == labels).all()
    assert np.array_equal(emb, embed(pts, "tsne", perplexity=10.0))  # seeded
    with pytest.raises(ValueError, match="allowed: pca, tsne"):
        embed(x, "umap")
    with pytest.raises(ValueError, match="perplexity"):
        embed(x, "tsne", perplexity=100.0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        embed(x[:, 0], "pca")
