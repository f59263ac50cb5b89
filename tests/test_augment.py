"""Tests for dlcourse.augment: crop/flip against hand-shifted images, Mixup against its formula,
CutMix's label weight against the pasted pixels counted one by one, CowMask's proportion,
determinism with a generator, and clear errors for bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlcourse.augment import (
    Compose,
    CowMix,
    CutMix,
    Mixup,
    RandomCropFlip,
    cow_mask,
    cowmix,
    cutmix,
    cutmix_box,
    mixup,
    random_crop_flip,
    tta_probabilities,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 8, c: int = 2, h: int = 10, w: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=gen(seed))


LABELS = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])


# ---------------------------------------------------------------- random crop and flip


def test_crop_flip_is_a_per_sample_shift_and_flip():
    """Each output must equal the image padded with ``fill``, shifted by some (dy, dx) in
    [-p, p] and possibly mirrored: found by trying all 2 * 25 candidates."""
    x = batch(16, 1, 6, 7)
    p, fill = 2, -3.0
    out = random_crop_flip(x, p, True, gen(), fill=fill)
    padded = torch.nn.functional.pad(x, (p, p, p, p), value=fill)
    seen_flips = set()
    for i in range(len(x)):
        matches = [
            (dy, dx, f)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            for f in (False, True)
            if torch.equal(
                out[i],
                padded[i, :, dy : dy + 6, dx : dx + 7].flip(-1)
                if f
                else padded[i, :, dy : dy + 6, dx : dx + 7],
            )
        ]
        assert matches, f"sample {i} is not a shifted (flipped) copy"
        seen_flips.update(f for _, _, f in matches)
    assert seen_flips == {False, True}  # 16 coin flips: both sides appear


def test_crop_flip_identity_and_flip_only():
    x = batch()
    assert torch.equal(random_crop_flip(x, 0, False, gen()), x)
    flipped = random_crop_flip(x, 0, True, gen(3))
    for i in range(len(x)):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))


def test_crop_flip_keeps_pixel_values_without_padding_effects_on_constant_images():
    x = torch.full((4, 3, 5, 5), 2.0)
    out = random_crop_flip(x, 3, True, gen(), fill=2.0)
    assert torch.equal(out, x)


# ---------------------------------------------------------------- Mixup


def test_mixup_matches_its_formula_and_labels_sum_to_one():
    """Labels i are images i, so row i of the soft labels names the partner j and lam."""
    x = batch()
    xm, ym = mixup(x, LABELS, 10, 0.4, gen(5))
    assert xm.shape == x.shape and ym.shape == (8, 10)
    torch.testing.assert_close(ym.sum(1), torch.ones(8))
    lams = set()
    for i in range(8):
        if ym[i].max() == 1.0:  # paired with itself
            torch.testing.assert_close(xm[i], x[i])
            continue
        (j,) = [k for k in range(10) if ym[i, k] > 0 and k != i]
        lam = ym[i, i].item()
        torch.testing.assert_close(xm[i], lam * x[i] + (1 - lam) * x[j])
        assert math.isclose(ym[i, j].item(), 1 - lam, rel_tol=1e-5)
        lams.add(round(lam, 5))
    assert len(lams) == 1  # one lam for the whole batch


def draws_of_lambda(alpha: float, count: int) -> np.ndarray:
    """lam from mixup of two images: when the pair is swapped, sample 0 has weight lam."""
    g, x, y = gen(0), torch.zeros(2, 1, 1, 1), torch.tensor([0, 1])
    lams = []
    while len(lams) < count:
        _, ym = mixup(x, y, 2, alpha, g)
        if ym[0, 0] < 1.0:
            lams.append(ym[0, 0].item())
    return np.array(lams)


def test_mixup_lambda_follows_beta():
    """Beta(1, 1) is uniform: mean 1/2, variance 1/12 (standard errors 0.009 and 0.002 for
    1000 draws); Beta(0.1, 0.1) puts 75% of its mass within 0.05 of 0 or 1."""
    lams = draws_of_lambda(1.0, 1000)
    assert abs(lams.mean() - 0.5) < 0.04 and abs(lams.var() - 1 / 12) < 0.01
    extreme = draws_of_lambda(0.1, 400)
    assert 0.65 < np.mean((extreme < 0.05) | (extreme > 0.95)) < 0.85


def test_mixup_accepts_soft_labels_and_is_deterministic():
    soft = torch.softmax(torch.randn(8, 10, generator=gen(2)), 1)
    x = batch()
    a = mixup(x, soft, 10, 0.2, gen(7))
    b = mixup(x, soft, 10, 0.2, gen(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    torch.testing.assert_close(a[1].sum(1), torch.ones(8))
    c = mixup(x, soft, 10, 0.2, gen(8))
    assert not torch.equal(a[0], c[0])


# ---------------------------------------------------------------- CutMix


def test_cutmix_box_area_is_one_minus_lambda_inside_the_image():
    """Away from the borders the box is floor(H r) x floor(W r), r = sqrt(1 - lam)."""
    for lam in (0.0, 0.19, 0.5, 0.75, 0.96, 1.0):
        for seed in range(40):
            top, bottom, left, right = cutmix_box(100, 100, lam, gen(seed))
            assert 0 <= top <= bottom <= 100 and 0 <= left <= right <= 100
            side = int(100 * math.sqrt(1 - lam))
            assert bottom - top <= side and right - left <= side
            if top > 0 and bottom < 100 and left > 0 and right < 100:
                assert (bottom - top) * (right - left) == side * side
    top, bottom, left, right = cutmix_box(28, 28, 1.0, gen())
    assert bottom == top and right == left  # lam = 1: nothing is pasted


def test_cutmix_label_weight_equals_the_pasted_pixel_fraction():
    """Images of constant value i (sample i) and labels i: the pasted pixels are those that
    changed value, counted one by one, and their fraction must equal the label weight."""
    n, h, w = 8, 9, 11
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 2, h, w).clone()
    for seed in range(30):
        xm, ym = cutmix(x, LABELS, 8, 1.0, gen(seed))
        torch.testing.assert_close(ym.sum(1), torch.ones(n))
        for i in range(n):
            changed = xm[i, 0] != i
            other = xm[i, 0][changed].unique()
            if len(other) == 0:  # empty box, or paired with itself
                assert ym[i].max() == 1.0
                continue
            j = int(other.item())
            fraction = changed.float().mean().item()
            assert math.isclose(ym[i, j].item(), fraction, abs_tol=1e-6), (seed, i)
            assert math.isclose(ym[i, i].item(), 1 - fraction, abs_tol=1e-6)
            assert torch.equal(changed, xm[i, 1] != i)  # same box in every channel


def test_cutmix_on_average_pastes_the_clipped_box_area():
    """alpha = 1: lam ~ U(0, 1) and the box side is the fraction s = sqrt(1 - lam) of the
    image. A length L = s W with a uniform centre keeps on average L - L^2 / (4W) inside the
    image, so the expected pasted fraction is E[(s - s^2/4)^2] = 1/2 - 1/5 + 1/48 = 0.321
    (s^2 = 1 - lam is uniform too): less than the 1/2 before clipping."""
    x, y, g = torch.zeros(2, 1, 64, 64), torch.tensor([0, 1]), gen(0)
    fractions = []
    while len(fractions) < 300:
        _, ym = cutmix(x, y, 2, 1.0, g)
        if ym[0, 0] < 1.0 or ym[0, 1] > 0:  # the pair was swapped: weight 1 - fraction at 0
            fractions.append(1 - ym[0, 0].item())
    assert abs(np.mean(fractions) - 0.321) < 0.035  # 3 standard errors of 300 draws


# ---------------------------------------------------------------- CowMask


def test_cow_mask_proportion_is_exact_to_one_pixel_and_binary():
    for p in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
        m = cow_mask((5, 20, 30), p, 3.0, gen())
        assert m.shape == (5, 20, 30)
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        counts = m.sum(dim=(1, 2))
        assert torch.all(counts == round(p * 600)), (p, counts)


def test_cow_mask_per_mask_proportions_and_blob_size():
    props = torch.tensor([0.2, 0.5, 0.8])
    m = cow_mask((3, 32, 32), props, 4.0, gen())
    torch.testing.assert_close(m.mean(dim=(1, 2)), torch.round(props * 1024) / 1024)
    # Smoothed noise gives blobs: neighbouring pixels agree far more often than for
    # independent pixels (probability p^2 + (1-p)^2 = 0.5 at p = 0.5).
    smooth = cow_mask((20, 32, 32), 0.5, 4.0, gen(1))
    agree = (smooth[:, :, 1:] == smooth[:, :, :-1]).float().mean().item()
    assert agree > 0.85
    rough = cow_mask((20, 32, 32), 0.5, 0.3, gen(1))
    assert (rough[:, :, 1:] == rough[:, :, :-1]).float().mean().item() < agree


def test_cow_mask_is_deterministic_with_a_generator():
    a = cow_mask((2, 16, 16), 0.5, 2.0, gen(3))
    b = cow_mask((2, 16, 16), 0.5, 2.0, gen(3))
    c = cow_mask((2, 16, 16), 0.5, 2.0, gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cowmix_mixes_pixels_and_labels_by_the_mask():
    n, h, w = 8, 16, 16
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).clone()
    xm, ym = cowmix(x, LABELS, 8, (0.2, 0.8), 3.0, gen(2))
    torch.testing.assert_close(ym.sum(1), torch.ones(n))
    for i in range(n):
        kept = (xm[i, 0] == i).float().mean().item()
        if ym[i].max() == 1.0:
            continue  # paired with itself
        assert 0.2 - 1 / 256 <= kept <= 0.8 + 1 / 256
        assert math.isclose(ym[i, i].item(), kept, abs_tol=1e-6)
    xm2, ym2 = cowmix(x, LABELS, 8, 0.25, 3.0, gen(2))
    for i in range(n):
        if ym2[i].max() < 1.0:
            assert math.isclose(ym2[i, i].item(), 0.25, abs_tol=1e-6)  # 64 of 256 pixels


# ---------------------------------------------------------------- TTA and the callables


def test_tta_probabilities_average_the_softmax_of_the_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 10 * 12, 5)).train()
    x = batch()
    p = tta_probabilities(model, x, [lambda t: t, lambda t: t.flip(-1)])
    with torch.no_grad():
        expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
    torch.testing.assert_close(p, expected)
    torch.testing.assert_close(p.sum(1), torch.ones(8))
    assert model.training  # mode restored


def test_batch_transform_classes_draw_fresh_randomness_and_repeat_by_seed():
    x = batch()
    for make in (
        lambda: RandomCropFlip(2, True, seed=1),
        lambda: Mixup(10, 0.4, seed=1),
        lambda: CutMix(10, 1.0, seed=1),
        lambda: CowMix(10, (0.2, 0.8), 2.0, seed=1),
    ):
        t1, t2 = make(), make()
        a1, a2 = t1(x, LABELS), t1(x, LABELS)
        b1 = t2(x, LABELS)
        assert torch.equal(a1[0], b1[0]) and torch.equal(a1[1], b1[1]), repr(t1)
        assert not torch.equal(a1[0], a2[0]), repr(t1)  # the next batch differs
    composed = Compose(RandomCropFlip(0, False), Mixup(10, 0.4, seed=1))
    torch.testing.assert_close(composed(x, LABELS)[1], Mixup(10, 0.4, seed=1)(x, LABELS)[1])
    assert "Mixup(num_classes=10, alpha=0.4)" in repr(composed)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: mixup(batch(), LABELS, 10, 0.0, gen()), ValueError, "alpha must be a positive"),
        (lambda: mixup(batch(), LABELS, 10, -1, gen()), ValueError, "alpha must be a positive"),
        (lambda: mixup(batch(), LABELS, 10, "1", gen()), TypeError, "alpha must be a positive"),
        (lambda: mixup(batch(), LABELS, 10, float("nan"), gen()), ValueError, "finite"),
        (lambda: cutmix(batch(), LABELS, 1, 1.0, gen()), ValueError, "num_classes must be >= 2"),
        (lambda: cutmix(batch(), LABELS, 10.0, 1.0, gen()), TypeError, "num_classes must be an"),
        (lambda: mixup(batch(), LABELS, 5, 1.0, gen()), ValueError, r"labels must be in \[0, 4\]"),
        (lambda: mixup(batch(), LABELS - 1, 10, 1.0, gen()), ValueError, "from -1 to 6"),
        (lambda: mixup(batch(), LABELS[:5], 10, 1.0, gen()), ValueError, "5 labels for a batch"),
        (lambda: mixup(batch(), LABELS.float(), 10, 1.0, gen()), TypeError, "integer tensor"),
        (lambda: mixup(batch(), torch.zeros(8, 9), 10, 1.0, gen()), ValueError, r"\(8, 10\)"),
        (lambda: mixup(batch()[0], LABELS, 10, 1.0, gen()), ValueError, r"\(N, C, H, W\)"),
        (lambda: mixup(batch().long(), LABELS, 10, 1.0, gen()), TypeError, "floating-point"),
        (lambda: mixup(batch().numpy(), LABELS, 10, 1.0, gen()), TypeError, "torch.Tensor"),
        (lambda: mixup(batch(), LABELS, 10, 1.0, 0), TypeError, "generator must be a torch"),
        (lambda: cutmix_box(10, 10, 1.5, gen()), ValueError, r"lam must be in \[0, 1\]"),
        (lambda: cutmix_box(0, 10, 0.5, gen()), ValueError, "height must be a positive int"),
        (lambda: cow_mask((2, 8, 8), 1.2, 2.0, gen()), ValueError, r"proportion must be in \[0"),
        (lambda: cow_mask((2, 8, 8), -0.1, 2.0, gen()), ValueError, r"proportion must be in \[0"),
        (lambda: cow_mask((2, 8, 8), 0.5, 0.0, gen()), ValueError, "sigma must be a positive"),
        (lambda: cow_mask((8, 8), 0.5, 2.0, gen()), ValueError, r"shape must be \(N, H, W\)"),
        (lambda: cow_mask((2, 8, 8), torch.ones(3) / 2, 2.0, gen()), ValueError, r"\(2,\)"),
        (lambda: cow_mask((2, 8, 8), torch.tensor([0.5, 2.0]), 2.0, gen()), ValueError, "every"),
        (lambda: cowmix(batch(), LABELS, 10, (0.8, 0.2), 2.0, gen()), ValueError, "low <= high"),
        (lambda: cowmix(batch(), LABELS, 10, (0.1,), 2.0, gen()), ValueError, r"\(low, high\)"),
        (lambda: random_crop_flip(batch(), -1, True, gen()), ValueError, "padding must be a non"),
        (lambda: random_crop_flip(batch(), 1, 1, gen()), TypeError, "flip must be a bool"),
        (lambda: Mixup(10, alpha=0), ValueError, "alpha must be a positive"),
        (lambda: CowMix(10, proportion=2.0), ValueError, r"proportion must be in \[0, 1\]"),
        (lambda: Compose(), ValueError, "at least one transform"),
        (lambda: Compose(3), TypeError, "must be callable"),
        (lambda: tta_probabilities(torch.nn.Identity(), batch(), []), ValueError, "non-empty"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
