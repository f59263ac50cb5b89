"""Tests for the data-augmentation widget: the pipeline built from a state, samples checked
against hand-applied transformations, reproducible draws, redraws and clear errors."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from dlcourse.widgets.augment import (
    AUG_DEFAULTS,
    AUG_SIZE,
    augment_photo,
    augment_samples,
    augment_widget,
    build_transform,
    render_augment,
)

OFF = {
    "flip": False, "crop_scale": 1.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
    "hue": 0.0, "degrees": 0.0, "translate": 0.0, "scale": 0.0, "shear": 0.0,
}  # fmt: skip


def image() -> torch.Tensor:
    return torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))


def shown_images(fig) -> list[np.ndarray]:
    return [ax.images[0].get_array() for ax in fig.axes if ax.images]


def test_all_off_is_the_identity():
    assert [type(t) for t in build_transform(OFF).transforms] == [v2.Identity]
    out = augment_samples(image(), {**OFF, "samples": 3})
    assert out.shape == (3, 3, 16, 16)
    for sample in out:
        assert torch.equal(sample, image())


def test_flip_only_gives_the_image_or_its_mirror_and_both_occur():
    out = augment_samples(image(), {**OFF, "flip": True, "samples": 16})
    flipped = [torch.equal(s, image().flip(-1)) for s in out]
    assert all(f or torch.equal(s, image()) for f, s in zip(flipped, out, strict=True))
    assert 0 < sum(flipped) < 16


def test_brightness_only_scales_every_pixel_by_one_factor_in_range():
    """ColorJitter's brightness multiplies by a factor b in [1 - s, 1 + s] (then clamps)."""
    img = image() * 0.5  # no clamping for b <= 2
    out = augment_samples(img, {**OFF, "brightness": 0.4, "samples": 6})
    for sample in out:
        factor = (sample / img).flatten()
        assert torch.allclose(factor, factor[0].expand_as(factor), atol=1e-5)
        assert 0.6 - 1e-6 <= factor[0] <= 1.4 + 1e-6
    assert len({round(float((s / img).mean()), 4) for s in out}) == 6  # fresh draws


def test_pipeline_order_and_parameters():
    t = build_transform({**OFF, "crop_scale": 0.3, "flip": True, "degrees": 20, "shear": 10,
                         "scale": 0.2, "hue": 0.1})  # fmt: skip
    kinds = [type(s) for s in t.transforms]
    assert kinds == [v2.RandomResizedCrop, v2.RandomHorizontalFlip, v2.RandomAffine,
                     v2.ColorJitter]  # fmt: skip
    crop, _, affine, jitter = t.transforms
    assert crop.scale == (0.3, 1.0) and tuple(crop.size) == (AUG_SIZE, AUG_SIZE)
    assert affine.degrees == [-20.0, 20.0] and affine.scale == (0.8, 1.2)
    assert affine.shear == [-10.0, 10.0] and affine.translate is None
    assert jitter.hue == (-0.1, 0.1) and jitter.brightness is None


def test_draws_repeat_by_seed_and_leave_the_global_state_alone():
    state = {"samples": 4, "degrees": 30.0, "seed": 5}
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = augment_samples(image(), state)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(a, augment_samples(image(), state))
    assert not torch.equal(a, augment_samples(image(), {**state, "seed": 6}))


def test_render_shows_the_photo_then_the_samples():
    fig = render_augment({"samples": 5, "seed": 1})
    shown = shown_images(fig)
    assert len(shown) == 5
    photo = augment_photo("chelsea")
    assert photo.shape == (3, AUG_SIZE, AUG_SIZE)
    np.testing.assert_allclose(shown[0], photo.permute(1, 2, 0).numpy())
    samples = augment_samples(photo, {"samples": 4, "seed": 1})
    for drawn, sample in zip(shown[1:], samples, strict=True):
        np.testing.assert_allclose(drawn, sample.permute(1, 2, 0).numpy())
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["original", "sample 1", "sample 2", "sample 3", "sample 4"]
    assert fig._suptitle.get_text().startswith("crop ≥ 50% area · flip · jitter brightness 0.3")
    assert render_augment(OFF)._suptitle.get_text() == "no augmentation"


def test_widget_builds_redraws_and_has_a_static_view():
    box = augment_widget(samples=3)
    assert isinstance(box, ipywidgets.VBox)
    assert set(box.controls) == set(AUG_DEFAULTS)
    assert box.state() == {**AUG_DEFAULTS, "samples": 3}
    assert len(shown_images(box.figure)) == 3
    assert 'alt="The chelsea photo and 2 random augmentations' in box.static_html
    for name, value in {"degrees": 45.0, "photo": "coffee", "flip": False, "samples": 4}.items():
        before = box.figure
        box.controls[name].value = value
        assert box.figure is not before and box.state()[name] == value
    assert len(shown_images(box.figure)) == 4
    expected = augment_photo("coffee").permute(1, 2, 0).numpy()
    np.testing.assert_allclose(shown_images(box.figure)[0], expected)


@pytest.mark.parametrize(
    "state, error, match",
    [
        ({"zoom": 1}, ValueError, r"unknown state keys \['zoom'\]"),
        ({"photo": "camera"}, ValueError, "photo must be one of chelsea, coffee"),
        ({"flip": 1}, TypeError, "flip must be True or False"),
        ({"crop_scale": 0.0}, ValueError, r"crop_scale must be in \[0.08, 1\], got 0.0"),
        ({"hue": 0.6}, ValueError, r"hue must be in \[0, 0.5\]"),
        ({"degrees": "10"}, TypeError, "degrees must be a number"),
        ({"samples": 2.0}, TypeError, "samples must be an int"),
        ({"samples": 1}, ValueError, r"samples must be in \[2, 16\]"),
    ],
)
def test_bad_state_raises_a_clear_error(state, error, match):
    with pytest.raises(error, match=match):
        render_augment(state)
    with pytest.raises(error, match=match):
        augment_widget(**state)


def test_other_bad_input():
    with pytest.raises(TypeError, match="state must be a dict"):
        build_transform([("flip", True)])
    with pytest.raises(ValueError, match=r"image must be a float tensor \(C, H, W\)"):
        augment_samples(torch.zeros(16, 16), {})
