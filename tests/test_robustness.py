"""Tests for dlcourse.robustness: each transform against an independent computation (torch.roll,
torch.rot90, torchvision, scipy), identities, the severity tables, determinism, metrics on
models whose answers are known, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from dlcourse.robustness import (
    BLUR_SIGMA,
    CONTRAST_FACTOR,
    CORRUPTIONS,
    NOISE_STD,
    Standardize,
    accuracy_under,
    contrast,
    gaussian_blur,
    gaussian_noise,
    predict,
    prediction_stability,
    random_rotation,
    rotate,
    scale,
    translate,
)

BILINEAR = TF.InterpolationMode.BILINEAR


@pytest.fixture
def images() -> torch.Tensor:
    """Two 3-channel 28x28 images in [0, 1]."""
    return torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------------- translate


@pytest.mark.parametrize("dx, dy", [(3, 0), (0, -2), (-4, 5), (1, 1), (0, 0)])
def test_translate_equals_roll_on_a_padded_image(images, dx, dy):
    p = 6  # pad with the fill value, roll (nothing real wraps around), crop back
    fill = 0.25
    padded = torch.nn.functional.pad(images, (p, p, p, p), value=fill)
    expected = torch.roll(padded, shifts=(dy, dx), dims=(-2, -1))[..., p:-p, p:-p]
    assert torch.equal(translate(images, dx, dy, fill=fill), expected)


def test_translate_direction_and_fill_by_hand():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0
    out = translate(x, 2, 1)  # right by 2, down by 1
    assert out[0, 0, 2, 3] == 1.0 and out.sum() == 1.0
    gone = translate(x, 0, 4, fill=-1.0)  # shifted out entirely: only fill is left
    assert torch.equal(gone, torch.full_like(x, -1.0))


def test_translate_in_standardised_space_needs_the_background_fill(images):
    mean, std = 0.286, 0.353
    standardize = Standardize(mean, std)
    background = -mean / std  # a 0 pixel after standardisation
    expected = standardize(translate(images, 3, -2))
    right = translate(standardize(images), 3, -2, fill=background)
    wrong = translate(standardize(images), 3, -2, fill=0.0)
    assert torch.allclose(right, expected, atol=1e-6)
    assert not torch.allclose(wrong, expected, atol=0.1)


# ---------------------------------------------------------------------------------- rotate


def test_rotate_90_equals_rot90(images):
    assert torch.allclose(rotate(images, 90), torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(rotate(images, -90), torch.rot90(images, -1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(rotate(images, 180), images.flip(-1, -2), atol=1e-5)


def test_rotate_0_and_scale_1_are_identities(images):
    # Up to float32 rounding of the sampling grid (a few 1e-6).
    assert torch.allclose(rotate(images, 0), images, atol=1e-5)
    assert torch.allclose(scale(images, 1.0), images, atol=1e-5)


@pytest.mark.parametrize("degrees", [17.0, -33.0, 45.0])
def test_rotate_matches_torchvision(degrees, images):
    expected = TF.rotate(images, degrees, interpolation=BILINEAR)
    assert torch.allclose(rotate(images, degrees), expected, atol=1e-5)


def test_rotate_non_square_matches_torchvision():
    x = torch.rand(1, 1, 20, 30, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(rotate(x, 33.0), TF.rotate(x, 33.0, interpolation=BILINEAR), atol=1e-5)


def test_rotate_per_image_angles_and_fill(images):
    angles = torch.tensor([10.0, -40.0])
    out = rotate(images, angles, fill=0.5)
    assert torch.allclose(out[:1], rotate(images[:1], 10.0, fill=0.5))
    assert torch.allclose(out[1:], rotate(images[1:], -40.0, fill=0.5))
    # A corner of a 45-degree rotation comes from outside the image: exactly the fill.
    corner = rotate(torch.zeros(1, 1, 28, 28), 45.0, fill=0.5)[0, 0, 0, 0]
    assert corner.item() == pytest.approx(0.5, abs=1e-6)


# ---------------------------------------------------------------------------------- scale


@pytest.mark.parametrize("factor", [0.7, 1.3, 2.0])
def test_scale_matches_torchvision_affine(factor, images):
    expected = TF.affine(
        images, angle=0.0, translate=[0, 0], scale=factor, shear=[0.0, 0.0], interpolation=BILINEAR
    )
    assert torch.allclose(scale(images, factor), expected, atol=1e-5)


def test_scale_shrinks_towards_the_centre():
    x = torch.ones(1, 1, 28, 28)
    out = scale(x, 0.5, fill=0.0)  # the image covers the centre 14x14 only
    assert out[0, 0, 14, 14] == pytest.approx(1.0) and out[0, 0, 0, 0] == 0.0
    assert out.sum().item() == pytest.approx(14 * 14, rel=0.05)


# ---------------------------------------------------------------------------------- corruptions


def test_severity_tables_are_monotone():
    assert all(a < b for a, b in zip(NOISE_STD, NOISE_STD[1:], strict=False))
    assert all(a < b for a, b in zip(BLUR_SIGMA, BLUR_SIGMA[1:], strict=False))
    assert all(a > b for a, b in zip(CONTRAST_FACTOR, CONTRAST_FACTOR[1:], strict=False))
    assert len(NOISE_STD) == len(BLUR_SIGMA) == len(CONTRAST_FACTOR) == 5


def test_gaussian_noise_has_the_table_std_and_is_deterministic():
    x = torch.full((4, 1, 28, 28), 0.5)  # far from the clip limits for small severities
    for severity in (1, 2):
        noisy = gaussian_noise(x, severity, torch.Generator().manual_seed(3))
        assert (noisy - x).std().item() == pytest.approx(NOISE_STD[severity - 1], rel=0.05)
        again = gaussian_noise(x, severity, torch.Generator().manual_seed(3))
        assert torch.equal(noisy, again)
    other = gaussian_noise(x, 1, torch.Generator().manual_seed(4))
    assert not torch.equal(other, gaussian_noise(x, 1, torch.Generator().manual_seed(3)))
    strong = gaussian_noise(x, 5, torch.Generator().manual_seed(3))
    assert strong.min() >= 0.0 and strong.max() <= 1.0  # clipped to [0, 1]


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_gaussian_blur_equals_scipy(severity, images):
    sigma = BLUR_SIGMA[severity - 1]
    expected = np.stack(
        [
            [
                ndi.gaussian_filter(ch.double().numpy(), sigma, mode="mirror", truncate=3.0)
                for ch in im
            ]
            for im in images
        ]
    )
    assert np.allclose(gaussian_blur(images, severity).numpy(), expected, atol=1e-6)


def test_gaussian_blur_keeps_a_constant_image_and_smooths_more_with_severity(images):
    flat = torch.full((1, 1, 28, 28), 0.3)
    assert torch.allclose(gaussian_blur(flat, 5), flat, atol=1e-6)
    spread = [gaussian_blur(images, s).std().item() for s in range(1, 6)]
    assert all(a > b for a, b in zip(spread, spread[1:], strict=False))


def test_contrast_by_hand():
    x = torch.tensor([0.0, 1.0, 0.5, 0.5]).view(1, 1, 2, 2)  # mean 0.5
    for severity, c in enumerate(CONTRAST_FACTOR, start=1):
        expected = torch.tensor([0.5 - 0.5 * c, 0.5 + 0.5 * c, 0.5, 0.5]).view(1, 1, 2, 2)
        assert torch.allclose(contrast(x, severity), expected)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruptions_keep_shape_dtype_and_range(name, images):
    for dtype in (torch.float32, torch.float64):
        out = CORRUPTIONS[name](images.to(dtype), 3)
        assert out.shape == images.shape and out.dtype == dtype
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("severity", [0, 6, -1])
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_bad_severities_raise_value_error(name, severity, images):
    with pytest.raises(ValueError, match="severity must be one of 1, 2, 3, 4, 5"):
        CORRUPTIONS[name](images, severity)


@pytest.mark.parametrize("severity", [2.0, True, "3"])
def test_non_int_severities_raise_type_error(severity, images):
    with pytest.raises(TypeError, match="severity must be an int in 1..5"):
        contrast(images, severity)


# ---------------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors(images):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        translate(images[0], 1, 0)
    with pytest.raises(TypeError, match="floating-point"):
        rotate((images * 255).to(torch.uint8), 10)
    with pytest.raises(TypeError, match="dx must be an int"):
        translate(images, 1.5, 0)
    with pytest.raises(ValueError, match="factor must be positive"):
        scale(images, 0.0)
    with pytest.raises(ValueError, match="one angle per image"):
        rotate(images, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="max_degrees must be >= 0"):
        random_rotation(-5)
    with pytest.raises(ValueError, match="std must be positive"):
        Standardize(0.5, 0.0)


# ---------------------------------------------------------------------------------- augmentation


def test_random_rotation_draws_one_angle_per_image_from_the_generator(images):
    augment = random_rotation(30, torch.Generator().manual_seed(7))
    labels = torch.tensor([3, 1])
    out, y = augment(images, labels)
    assert torch.equal(y, labels) and out.shape == images.shape
    u = torch.rand(2, generator=torch.Generator().manual_seed(7))  # the same draw, by hand
    angles = (2 * u - 1) * 30
    assert angles.abs().max() <= 30 and angles[0] != angles[1]
    assert torch.allclose(out, rotate(images, angles), atol=1e-6)
    again, _ = random_rotation(30, torch.Generator().manual_seed(7))(images, labels)
    assert torch.equal(out, again)


# ---------------------------------------------------------------------------------- metrics


class BrightestColumn(nn.Module):
    """Predicts the column (0..27, as a class) of the brightest pixel of channel 0's row sums."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0].sum(1)  # (N, W): one logit per column


def dots(columns: list[int]) -> torch.Tensor:
    x = torch.zeros(len(columns), 1, 28, 28)
    for n, c in enumerate(columns):
        x[n, 0, 14, c] = 1.0
    return x


def test_accuracy_and_stability_under_a_shift_on_a_known_model():
    model = BrightestColumn()
    x = dots([2, 5, 10, 26])
    y = torch.tensor([2, 5, 10, 26])
    assert accuracy_under(model, x, y) == 1.0
    shift = lambda b: translate(b, 1, 0)  # noqa: E731
    # Every dot moves one column right: every prediction changes (26 -> 27 included).
    assert accuracy_under(model, x, y, shift) == 0.0
    assert accuracy_under(model, x, y + 1, shift) == 1.0
    assert prediction_stability(model, x, shift) == 0.0
    assert prediction_stability(model, x, lambda b: b) == 1.0
    # A transform that changes only the last image: 3 of 4 predictions are stable.
    assert prediction_stability(model, x, lambda b: torch.cat([b[:3], dots([0])])) == 0.75
    # Passing the clean predictions gives the same answer without the extra pass.
    reference = predict(model, x)
    assert prediction_stability(model, x, shift, reference=reference) == 0.0
    with pytest.raises(ValueError, match="reference must be the 4 predictions"):
        prediction_stability(model, x, shift, reference=reference[:2])


def test_predict_batches_restore_the_mode_and_match_one_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(28 * 28, 10)).train()
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    pred = predict(model, x, batch_size=3)
    assert model.training  # mode restored
    with torch.no_grad():
        assert torch.equal(pred, model.eval()(x).argmax(1))  # eval mode: dropout off
    assert pred.dtype == torch.int64 and pred.shape == (7,)


def test_accuracy_under_standardised_model_equals_manual_pipeline():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    model = nn.Sequential(Standardize(0.286, 0.353), net)
    x = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    y = torch.randint(0, 10, (50,), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        manual = (net((rotate(x, 20) - 0.286) / 0.353).argmax(1) == y).float().mean().item()
    assert accuracy_under(model, x, y, lambda b: rotate(b, 20), batch_size=16) == manual


def test_metric_errors():
    model = BrightestColumn()
    x = dots([1, 2])
    with pytest.raises(ValueError, match="1-D tensor of 2 labels"):
        accuracy_under(model, x, torch.tensor([1]))
    with pytest.raises(TypeError, match="transform must be a callable"):
        prediction_stability(model, x, "rotate")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        predict(model, x, batch_size=0)
