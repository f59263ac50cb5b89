"""Tests for dlcourse.attribution on small models: every method against captum or a formula
worked out by hand, the CAM = Grad-CAM identity, the sanity-check tools, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop, LayerGradCam, Occlusion, Saliency
from torch import nn

from dlcourse import attribution as A

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")


class SmallNet(nn.Module):
    """conv -> ReLU -> conv -> ReLU6 (in place) -> global average pool -> linear: a CAM head."""

    def __init__(self, act2: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.act2 = act2(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(x))))  # (N, 6, H, W)
        return self.fc(self.pool(x).flatten(1))  # (N, 5)


class MaxHead(SmallNet):
    """The same body with a global max pool: not a CAM head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(x.amax(dim=(2, 3)))


def make(seed: int = 0, cls=SmallNet, **kwargs) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = cls(**kwargs).eval()
    x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(seed + 1))
    return model, x


def no_hooks(model: nn.Module) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in model.modules()
    )


# ------------------------------------------------------------------ against captum


@pytest.mark.parametrize("target", [0, 3])
def test_grad_cam_equals_captum_layer_grad_cam(target):
    model, x = make()
    ours = A.grad_cam(model, x, target, "act2")
    theirs = LayerGradCam(model, model.act2).attribute(x, target=target, relu_attributions=True)
    torch.testing.assert_close(ours, theirs[0, 0], rtol=1e-5, atol=1e-6)
    raw = LayerGradCam(model, model.act2).attribute(x, target=target)
    torch.testing.assert_close(A.grad_cam(model, x, target, "act2", relu=False), raw[0, 0])
    assert no_hooks(model)


def test_grad_cam_by_hand():
    """alpha_k = mean of dy/dA_k; for GAP + linear that is w_ck / (h w)."""
    model, x = make()
    features = model.act2(model.conv2(model.act1(model.conv1(x))))[0].detach()  # (6, 12, 12)
    alpha = model.fc.weight[2].detach() / 144
    expected = (alpha[:, None, None] * features).sum(0)
    torch.testing.assert_close(A.grad_cam(model, x, 2, "act2", relu=False), expected)
    torch.testing.assert_close(A.grad_cam(model, x, 2, "act2"), expected.clamp(min=0))


def test_saliency_equals_captum():
    model, x = make()
    theirs = Saliency(model).attribute(x.clone().requires_grad_(), target=1, abs=True)
    torch.testing.assert_close(A.saliency(model, x, 1), theirs.amax(dim=1)[0])
    assert A.saliency(model, x, 1).shape == (12, 12)
    assert all(p.grad is None for p in model.parameters())  # parameters untouched


def test_guided_backprop_equals_captum_on_relu_net():
    model, x = make(cls=SmallNet, act2=nn.ReLU)
    theirs = GuidedBackprop(model).attribute(x.clone().requires_grad_(), target=4)
    ours = A.guided_backprop(model, x, 4)
    torch.testing.assert_close(ours, theirs)
    assert not torch.allclose(ours, A.input_gradient(model, x, 4))  # guidance did something
    assert no_hooks(model)


def test_captum_guided_backprop_ignores_relu6_but_ours_does_not():
    """captum hooks nn.ReLU only; on a ReLU6 net its 'guided' gradient keeps the negative
    gradients through the ReLU6. Our version clamps them there too."""
    model, x = make()
    relu_only = GuidedBackprop(model).attribute(x.clone().requires_grad_(), target=0)
    assert not torch.allclose(relu_only, A.guided_backprop(model, x, 0))


def test_guided_backprop_through_relu6_by_hand():
    """x -> W1 -> ReLU6 -> W2: guided gradient = W1^T ([0 < z < 6] * max(W2[c], 0))."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU6(), nn.Linear(16, 3)).eval()
    with torch.no_grad():
        model[1].weight.mul_(20)  # some pre-activations above 6
    x = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    z = model[1](x.flatten(1))[0].detach()
    assert (z > 6).any() and (z < 0).any() and ((z > 0) & (z < 6)).any()
    mask = ((z > 0) & (z < 6)).float()
    w1, w2 = model[1].weight.detach(), model[3].weight.detach()
    expected = (w1.T @ (mask * w2[1].clamp(min=0))).reshape(1, 3, 2, 2)
    torch.testing.assert_close(A.guided_backprop(model, x, 1), expected)
    plain = (w1.T @ (mask * w2[1])).reshape(1, 3, 2, 2)
    torch.testing.assert_close(A.input_gradient(model, x, 1), plain)


def test_guided_backprop_leaves_the_model_as_it_was_even_on_error():
    model, x = make()
    before = A.input_gradient(model, x, 0)
    with pytest.raises(ValueError, match=r"target must be in \[0, 4\], got 7"):
        A.guided_backprop(model, x, 7)
    assert no_hooks(model)
    A.guided_backprop(model, x, 0)
    assert no_hooks(model)
    torch.testing.assert_close(A.input_gradient(model, x, 0), before)


@pytest.mark.parametrize("patch, stride", [(4, 4), (6, 3), (12, 12), (5, 1)])
def test_occlusion_equals_captum(patch, stride):
    model, x = make()
    scores = A.occlusion(model, x, 2, patch=patch, stride=stride, baseline=0.5, batch_size=4)
    pixels = A.occlusion_to_pixels(scores, A.class_score(model, x, 2), (12, 12), patch, stride)
    theirs = Occlusion(model).attribute(
        x, sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride), target=2,
        baselines=0.5,
    )  # fmt: skip
    assert (theirs[0] == theirs[0, :1]).all()  # the same in every channel
    torch.testing.assert_close(pixels, theirs[0, 0], rtol=1e-5, atol=1e-5)


def test_occlusion_of_a_linear_model_by_hand():
    """y_c = sum(w_c * x): hiding a window changes it by sum over the window of w_c (b - x)."""

    class Linear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(
                torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
            )

        def forward(self, x):
            return (x[:, None] * self.w).sum(dim=(2, 3, 4))  # (N, 2)

    model = Linear()
    x = torch.randn(1, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    scores = A.occlusion(model, x, None, patch=4, stride=2, baseline=-1.0)
    assert scores.shape == (2, 2, 2)
    w = model.w.detach()
    for i in range(2):
        for j in range(2):
            window = (slice(None), slice(None), slice(2 * i, 2 * i + 4), slice(2 * j, 2 * j + 4))
            occluded = x.clone()
            occluded[window] = -1.0
            expected = (occluded * w).sum(dim=(1, 2, 3))
            torch.testing.assert_close(scores[i, j], expected)
    torch.testing.assert_close(A.occlusion(model, x, 1, patch=4, stride=2, baseline=-1.0),
                               scores[..., 1])  # fmt: skip


# ------------------------------------------------------------------ CAM


def test_cam_is_hw_times_grad_cam_for_a_gap_linear_head():
    """y_c = b_c + mean_ij sum_k w_ck A_k[i, j], so dy_c/dA_k = w_ck / (h w) everywhere and
    Grad-CAM before its ReLU is CAM / (h w)."""
    model, x = make()
    for target in range(5):
        cam = A.cam(model, x, target, "act2", "fc")
        torch.testing.assert_close(cam, 144 * A.grad_cam(model, x, target, "act2", relu=False))
        logit = A.class_score(model, x, target)
        assert float(cam.mean() + model.fc.bias[target].detach()) == pytest.approx(logit, abs=1e-5)


def test_cam_rejects_a_head_that_is_not_gap_plus_linear():
    model, x = make(cls=MaxHead)
    with pytest.raises(ValueError, match="not global average pool \\+ 'fc'"):
        A.cam(model, x, 0, "act2", "fc")
    model, x = make()
    with pytest.raises(ValueError, match="fc must name an nn.Linear layer, 'pool' is"):
        A.cam(model, x, 0, "act2", "pool")
    with pytest.raises(ValueError, match="layer 'act1' has 4 channels but 'fc' takes 6"):
        A.cam(model, x, 0, "act1", "fc")


# ------------------------------------------------------------------ maps and sanity checks


def test_upsample_and_normalize():
    up = A.upsample_to_input(torch.full((2, 3), 7.0), (8, 12))
    assert up.shape == (8, 12) and torch.allclose(up, torch.full((8, 12), 7.0))
    # bilinear, half-pixel centres: a (1, 2) map [0, 1] resized to width 4 is 0, .25, .75, 1
    torch.testing.assert_close(
        A.upsample_to_input(torch.tensor([[0.0, 1.0]]), (1, 4))[0], torch.tensor([0, 0.25, 0.75, 1])
    )
    m = torch.tensor([[-2.0, 0.0], [2.0, 6.0]])
    torch.testing.assert_close(A.normalize_map(m), torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert (A.normalize_map(torch.ones(3, 3)) == 0).all()
    with pytest.raises(ValueError, match=r"attr must be a 2-D map \(h, w\), got \(1, 2, 3\)"):
        A.upsample_to_input(torch.ones(1, 2, 3), (4, 4))


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 6))
    assert A.rank_correlation(a, np.exp(a)) == pytest.approx(1.0)  # monotone: same ranks
    assert A.rank_correlation(a, -a) == pytest.approx(-1.0)
    b = rng.normal(size=(5, 6))
    d = a.ravel().argsort().argsort() - b.ravel().argsort().argsort()
    n = a.size
    assert A.rank_correlation(a, b) == pytest.approx(1 - 6 * (d**2).sum() / (n * (n**2 - 1)))
    assert A.rank_correlation(torch.tensor(a), torch.tensor(b)) == pytest.approx(
        A.rank_correlation(a, b)
    )
    with pytest.raises(ValueError, match=r"same shape, got \(5, 6\) and \(30,\)"):
        A.rank_correlation(a, a.ravel())
    with pytest.raises(ValueError, match="map b is constant"):
        A.rank_correlation(a, np.zeros_like(a))


def test_cascade_layers_and_randomize_layers():
    model, x = make()
    assert A.cascade_layers(model) == ["conv1", "conv2", "fc"]
    seq = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Sequential(nn.Conv2d(2, 2, 1)))
    assert A.cascade_layers(nn.ModuleDict({"body": seq})) == ["body.0", "body.2"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rand = A.randomize_layers(model, 2, generator=torch.Generator().manual_seed(0))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # the original is untouched
    new = rand.state_dict()
    assert torch.equal(new["conv1.weight"], before["conv1.weight"])  # below the cascade
    for k in ("conv2.weight", "conv2.bias", "fc.weight", "fc.bias"):
        assert not torch.allclose(new[k], before[k]), k
    big = nn.Linear(200, 100)
    r = A.randomize_layers(
        nn.ModuleDict({"fc": big}), 1, generator=torch.Generator().manual_seed(0)
    )
    w, w0 = r["fc"].weight.detach(), big.weight.detach()
    assert float(w.mean()) == pytest.approx(float(w0.mean()), abs=0.01 * float(w0.std()) + 1e-3)
    assert float(w.std()) == pytest.approx(float(w0.std()), rel=0.02)
    same = A.randomize_layers(model, 0)
    assert all(torch.equal(v, before[k]) for k, v in same.state_dict().items())
    rand2 = A.randomize_layers(model, 2, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(v, rand2.state_dict()[k]) for k, v in new.items())  # seeded


# ------------------------------------------------------------------ bad input


def test_wrong_layer_name_lists_the_valid_names():
    model, x = make()
    with pytest.raises(ValueError, match="unknown layer 'conv3'; valid names: conv1, act1, conv2"):
        A.grad_cam(model, x, 0, "conv3")
    with pytest.raises(TypeError, match="layer must be a dotted module name"):
        A.grad_cam(model, x, 0, model.conv2)
    with pytest.raises(ValueError, match=r"layer 'fc' must output feature maps \(1, K, h, w\), "
                       r"got \(1, 5\)"):  # fmt: skip
        A.grad_cam(model, x, 0, "fc")
    with pytest.raises(ValueError, match="unknown layer 'head'"):
        A.randomize_layers(model, 1, layers=["conv1", "head"])
    assert no_hooks(model)


@pytest.mark.parametrize(
    "x, error, match",
    [
        (torch.randn(3, 12, 12), ValueError, r"one image of shape \(1, C, H, W\), got shape \(3,"),
        (torch.randn(2, 3, 12, 12), ValueError, r"got shape \(2, 3, 12, 12\); use x\[i:i \+ 1\]"),
        (
            torch.randn(1, 1, 12, 12),
            ValueError,
            "x has 1 channels but the model's first convolution expects 3",
        ),  # fmt: skip
        (torch.zeros(1, 3, 12, 12, dtype=torch.uint8), TypeError, "x must be a float tensor"),
        (np.zeros((1, 3, 12, 12)), TypeError, "x must be a torch.Tensor"),
    ],
)
def test_wrong_input_shapes(x, error, match):
    model, _ = make()
    for method in (
        lambda: A.saliency(model, x, 0),
        lambda: A.guided_backprop(model, x, 0),
        lambda: A.grad_cam(model, x, 0, "act2"),
        lambda: A.cam(model, x, 0, "act2", "fc"),
        lambda: A.occlusion(model, x, 0, patch=4, stride=4),
    ):
        with pytest.raises(error, match=match):
            method()
    assert no_hooks(model)


def test_wrong_targets():
    model, x = make()
    with pytest.raises(ValueError, match=r"target must be in \[0, 4\], got 5"):
        A.saliency(model, x, 5)
    with pytest.raises(ValueError, match=r"target must be in \[0, 4\], got -1"):
        A.grad_cam(model, x, -1, "act2")
    with pytest.raises(TypeError, match="target must be an int class index, got True"):
        A.occlusion(model, x, True, patch=4, stride=4)
    with pytest.raises(TypeError, match="target must be an int class index, got 1.0"):
        A.cam(model, x, 1.0, "act2", "fc")


@pytest.mark.parametrize(
    "patch, stride, error, match",
    [
        (13, 1, ValueError, r"patch must be in \[1, 12\] \(the image side\), got 13"),
        (0, 1, ValueError, r"patch must be in \[1, 12\]"),
        (4, 5, ValueError, r"stride must be in \[1, patch = 4\] so no pixel is skipped"),
        (6, 4, ValueError, r"do not tile 12 px .* strides that do: \[1, 2, 3, 6\]"),
        (4.0, 4, TypeError, "patch must be an int"),
        (4, None, TypeError, "stride must be an int"),
    ],
)
def test_bad_patch_and_stride(patch, stride, error, match):
    model, x = make()
    with pytest.raises(error, match=match):
        A.occlusion(model, x, 0, patch=patch, stride=stride)


def test_other_bad_inputs():
    model, x = make()
    with pytest.raises(TypeError, match="baseline must be a number"):
        A.occlusion(model, x, 0, patch=4, stride=4, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        A.occlusion(model, x, 0, patch=4, stride=4, batch_size=0)
    with pytest.raises(ValueError, match=r"n_top must be in \[0, 3\] \(the number of layers\)"):
        A.randomize_layers(model, 4)
    with pytest.raises(TypeError, match="n_top must be an int"):
        A.randomize_layers(model, 1.5)
    with pytest.raises(ValueError, match=r"scores must have shape \(3, 3\)"):
        A.occlusion_to_pixels(torch.zeros(2, 2), 0.0, (12, 12), 4, 4)
    functional = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(288, 2))
    with pytest.raises(ValueError, match="guided backprop needs activation modules of type "
                       "ReLU, ReLU6; the model has none"):  # fmt: skip
        A.guided_backprop(functional, x, 0)
    with pytest.raises(
        ValueError, match=r"must return class scores \(N, K\), got \(1, 2, 12, 12\)"
    ):
        A.saliency(nn.Conv2d(3, 2, 1), x, 0)
