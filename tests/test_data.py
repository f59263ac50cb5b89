"""Tests for dlcourse.data: Fashion-MNIST, loaders, digits, photos and EfficientNet-Lite0."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dlcourse import data
from dlcourse.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    PHOTOS,
    DataUnavailableError,
    digits_tensors,
    fashion_mnist_loaders,
    fashion_mnist_tensors,
    imagenet_classes,
    imagenet_preprocess,
    load_efficientnet_lite0,
    load_fashion_mnist,
    load_photo,
    photo_tensor,
    tensor_loader,
)

REAL_FASHION_DIR = data.SYSTEM_FASHION_MNIST_DIR
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

needs_fashion = pytest.mark.skipif(
    not all((REAL_FASHION_DIR / f).is_file() for names in FILES.values() for f in names),
    reason=f"Fashion-MNIST is not installed in {REAL_FASHION_DIR}",
)


# ------------------------------------------------------------------------------------------
# Fashion-MNIST: loading
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Both splits, read once for the module (decompressing takes a few seconds)."""
    if not all((REAL_FASHION_DIR / f).is_file() for names in FILES.values() for f in names):
        pytest.skip(f"Fashion-MNIST is not installed in {REAL_FASHION_DIR}")
    return {split: load_fashion_mnist(split, download=False) for split in ("train", "test")}


@pytest.fixture
def cached_fashion(fashion, monkeypatch):
    """Serve load_fashion_mnist from the module's copy, for the functions built on it."""

    def load(split: str = "train", download: bool = True):
        data._check_split(split)
        return fashion[split]

    monkeypatch.setattr(data, "load_fashion_mnist", load)
    return fashion


_TENSORS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


@pytest.fixture
def cached_tensors(cached_fashion, monkeypatch):
    """Memoise fashion_mnist_tensors across the loader tests (they only read its output)."""
    real = data.fashion_mnist_tensors

    def tensors(split="train", n=None, normalize=True, seed=0):
        key = (split, n, normalize, seed)
        if key not in _TENSORS:
            _TENSORS[key] = real(split, n=n, normalize=normalize, seed=seed)
        return _TENSORS[key]

    monkeypatch.setattr(data, "fashion_mnist_tensors", tensors)
    return cached_fashion


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No system copy and an empty cache: returns the cache folder ($DLCOURSE_DATA)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "no-system-copy")
    monkeypatch.setenv("DLCOURSE_DATA", str(cache))
    return cache


@pytest.mark.parametrize(("split", "n"), [("train", 60_000), ("test", 10_000)])
def test_fashion_shapes_dtypes_and_balanced_labels(fashion, split, n):
    images, labels = fashion[split]
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert labels.min() == 0 and labels.max() == 9
    assert torch.bincount(labels, minlength=10).tolist() == [n // 10] * 10
    assert images.max() == 255 and images.min() == 0
    assert len(FASHION_MNIST_CLASSES) == 10


def test_fashion_first_training_example(fashion):
    """The first training image is an ankle boot (label 9), a well-known fact of the data set."""
    images, labels = fashion["train"]
    assert labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert images[0].sum().item() > 0


def test_fashion_mean_and_std_constants(fashion):
    counts = torch.bincount(fashion["train"][0].flatten(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    mean = (counts * values).sum() / counts.sum()
    std = ((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt()
    assert counts.sum() == 60_000 * 28 * 28
    assert mean.item() == pytest.approx(FASHION_MNIST_MEAN, abs=1e-3)
    assert std.item() == pytest.approx(FASHION_MNIST_STD, abs=1e-3)


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="split"):
        fashion_mnist_tensors("val")


def _write_gz(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload))


@pytest.mark.parametrize("split", ["train", "test"])
def test_corrupted_copy_raises_naming_the_file(tmp_path, monkeypatch, split):
    system = tmp_path / "system"
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in FILES[split]:
        _write_gz(system / name, b"\x00\x00\x08\x01\x00\x00\x00\x02ab")  # valid IDX, wrong data
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", system)
    monkeypatch.setenv("DLCOURSE_DATA", str(cache))
    with pytest.raises(DataUnavailableError) as err:
        load_fashion_mnist(split, download=False)
    assert str(system / FILES[split][0]) in str(err.value)
    assert "SHA-256" in str(err.value)


def test_non_gzip_copy_raises_data_unavailable(tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    for name in FILES["test"]:
        (system / name).write_bytes(b"<html>404 not found</html>")
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", system)
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataUnavailableError, match="t10k-images"):
        load_fashion_mnist("test", download=False)


@pytest.mark.parametrize("split", ["train", "test"])
def test_missing_everywhere_without_download(isolated, split):
    with pytest.raises(DataUnavailableError) as err:
        load_fashion_mnist(split, download=False)
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message
    assert "no copy was found" in message
    assert str(isolated / "FashionMNIST" / "raw") in message  # says where it looked


def test_incomplete_copy_is_not_used(isolated):
    """A folder with only the images file (no labels) is not a copy."""
    raw = isolated / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / FILES["test"][0]).write_bytes(b"images only")  # never read: the labels are missing
    with pytest.raises(DataUnavailableError, match="no copy was found"):
        load_fashion_mnist("test", download=False)


@needs_fashion
def test_cache_copy_is_found(isolated, fashion):
    raw = isolated / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES["test"]:
        shutil.copy(REAL_FASHION_DIR / name, raw / name)
    images, labels = load_fashion_mnist("test", download=False)
    assert torch.equal(images, fashion["test"][0])
    assert torch.equal(labels, fashion["test"][1])
    with pytest.raises(DataUnavailableError):  # only the test split is in the cache
        load_fashion_mnist("train", download=False)


@needs_fashion
def test_cache_copy_recompressed_is_accepted(isolated, fashion):
    """The digests are of the decompressed bytes, so another gzip of the same data loads."""
    raw = isolated / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES["test"]:
        payload = gzip.decompress((REAL_FASHION_DIR / name).read_bytes())
        (raw / name).write_bytes(gzip.compress(payload, compresslevel=1, mtime=0))
    images, labels = load_fashion_mnist("test", download=False)
    assert torch.equal(images, fashion["test"][0]) and torch.equal(labels, fashion["test"][1])


# ------------------------------------------------------------------------------------------
# Fashion-MNIST: tensors and loaders
# ------------------------------------------------------------------------------------------


def test_tensors_are_normalised(cached_fashion):
    x, y = fashion_mnist_tensors("train")
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(y, cached_fashion["train"][1])
    assert abs(x.mean().item()) < 0.01
    assert abs(x.std().item() - 1.0) < 0.01
    raw = cached_fashion["train"][0][:3].float() / 255.0
    expected = (raw - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    torch.testing.assert_close(x[:3, 0], expected)


def test_tensors_without_normalisation(cached_fashion):
    x, _ = fashion_mnist_tensors("test", normalize=False)
    assert x.shape == (10_000, 1, 28, 28)
    assert x.min() == 0.0 and x.max() == 1.0
    torch.testing.assert_close(x[:, 0] * 255.0, cached_fashion["test"][0].float())


def test_subset_is_reproducible_and_seeded(cached_fashion):
    x1, y1 = fashion_mnist_tensors("test", n=500, seed=1)
    x2, y2 = fashion_mnist_tensors("test", n=500, seed=1)
    x3, y3 = fashion_mnist_tensors("test", n=500, seed=2)
    assert x1.shape == (500, 1, 28, 28) and y1.shape == (500,)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(y1, y3)
    assert not torch.equal(x1, x3)
    full_x, full_y = fashion_mnist_tensors("test")
    idx = torch.randperm(10_000, generator=torch.Generator().manual_seed(1))[:500]
    assert torch.equal(x1, full_x[idx]) and torch.equal(y1, full_y[idx])
    assert len(set(idx.tolist())) == 500  # no sample twice


@pytest.mark.parametrize("n", [0, -5, 60_001, 1.5, True, "10"])
def test_bad_subset_size_raises(cached_fashion, n):
    with pytest.raises(ValueError, match="subset size"):
        fashion_mnist_tensors("train", n=n)


@pytest.mark.parametrize("n", [1, 60_000])
def test_subset_size_bounds(cached_fashion, n):
    x, y = fashion_mnist_tensors("train", n=n, normalize=False)
    assert len(x) == len(y) == n


# tensor_loader ---------------------------------------------------------------------------


def _epoch(loader) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    xs, ys = [], []
    for xb, yb in loader:
        xs.append(xb)
        ys.append(yb)
    return xs, ys


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_loader_covers_every_sample_once(shuffle):
    x = torch.arange(103, dtype=torch.float32).view(103, 1) * 10
    y = torch.arange(103)
    loader = tensor_loader(x, y, batch_size=25, shuffle=shuffle)
    assert len(loader) == 5
    xs, ys = _epoch(loader)
    assert [len(b) for b in ys] == [25, 25, 25, 25, 3]
    order = torch.cat(ys)
    assert sorted(order.tolist()) == list(range(103))
    assert torch.equal(torch.cat(xs)[:, 0], order.float() * 10)  # pairs kept together
    if not shuffle:
        assert order.tolist() == list(range(103))
    else:
        assert order.tolist() != list(range(103))


def test_tensor_loader_shuffle_reproducible_and_new_each_epoch():
    x, y = torch.zeros(50, 2), torch.arange(50)

    def orders(seed, epochs=2):
        loader = tensor_loader(x, y, batch_size=8, shuffle=True, seed=seed)
        return [torch.cat(_epoch(loader)[1]).tolist() for _ in range(epochs)]

    first, second = orders(0), orders(0)
    assert first == second
    assert first[0] != first[1]
    assert sorted(first[1]) == list(range(50))
    assert orders(1)[0] != first[0]


def test_tensor_loader_not_affected_by_global_seed():
    x, y = torch.zeros(50, 2), torch.arange(50)
    torch.manual_seed(0)
    a = torch.cat(_epoch(tensor_loader(x, y, 8, shuffle=True, seed=5))[1])
    torch.manual_seed(1)
    b = torch.cat(_epoch(tensor_loader(x, y, 8, shuffle=True, seed=5))[1])
    assert torch.equal(a, b)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, None, "8"])
def test_tensor_loader_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        tensor_loader(torch.zeros(4, 2), torch.zeros(4), batch_size=batch_size)


def test_tensor_loader_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        tensor_loader(torch.zeros(5, 2), torch.zeros(4))


# fashion_mnist_loaders -------------------------------------------------------------------


def _all(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = _epoch(loader)
    return torch.cat(xs), torch.cat(ys)


def test_loaders_sizes(cached_tensors):
    train, val = fashion_mnist_loaders(batch_size=100, train_size=1000, val_size=500, seed=0)
    xt, yt = _all(train)
    xv, yv = _all(val)
    assert xt.shape == (1000, 1, 28, 28) and yt.shape == (1000,)
    assert xv.shape == (500, 1, 28, 28) and yv.shape == (500,)
    assert len(train) == 10
    assert len(val) == 1  # validation batches are at least 512
    assert abs(xt.mean().item()) < 0.1  # normalised by default


def test_loaders_split_the_training_set(cached_tensors):
    """Training and validation together are exactly the 60,000 training images."""
    train, val = fashion_mnist_loaders(batch_size=1000, val_size=10_000, normalize=False)
    xt, yt = _all(train)
    xv, yv = _all(val)
    assert len(yt) == 50_000 and len(yv) == 10_000
    full_x, full_y = data.fashion_mnist_tensors("train", normalize=False)
    weights = torch.rand(28 * 28, generator=torch.Generator().manual_seed(0))

    def keys(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # one number per (image, label) pair: identical pairs give (nearly) identical keys
        key = (images.reshape(len(images), -1) @ weights).double() + 1000.0 * labels.double()
        return torch.sort(key).values

    split_keys = keys(torch.cat([xt, xv]), torch.cat([yt, yv]))
    torch.testing.assert_close(split_keys, keys(full_x, full_y), rtol=0, atol=1e-3)
    assert torch.equal(torch.bincount(torch.cat([yt, yv])), torch.bincount(full_y))


def test_loaders_validation_is_a_seeded_random_subset(cached_tensors):
    full_y = cached_tensors["train"][1]
    labels = {}
    for seed in (0, 1):
        val = fashion_mnist_loaders(train_size=10, val_size=300, seed=seed)[1]
        labels[seed] = _all(val)[1]
        perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(labels[seed], full_y[perm[:300]])
    assert not torch.equal(labels[0], labels[1])


def test_loaders_training_order_is_seeded(cached_tensors):
    def order(seed):
        return _all(fashion_mnist_loaders(batch_size=64, train_size=200, val_size=50, seed=seed)[0])

    (xa, ya), (xb, yb), (xc, _) = order(3), order(3), order(4)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(xa, xc)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_size": 0}, "val_size"),
        ({"val_size": 60_000}, "val_size"),
        ({"val_size": True}, "val_size"),
        ({"val_size": 100.0}, "val_size"),
        ({"val_size": None}, "val_size"),
        ({"train_size": 0}, "train_size"),
        ({"train_size": 50_001, "val_size": 10_000}, "train_size"),
        ({"train_size": 1.5}, "train_size"),
        ({"train_size": True}, "train_size"),
    ],
)
def test_loaders_bad_sizes(cached_tensors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fashion_mnist_loaders(**kwargs)


def test_loaders_largest_train_size(cached_tensors):
    train, val = fashion_mnist_loaders(batch_size=5000, train_size=59_000, val_size=1000)
    assert sum(len(y) for _, y in train) == 59_000
    assert sum(len(y) for _, y in val) == 1000


# ------------------------------------------------------------------------------------------
# digits and photos
# ------------------------------------------------------------------------------------------


def test_digits_tensors():
    x, y = digits_tensors()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))


@pytest.mark.parametrize("name", PHOTOS)
def test_load_photo(name):
    img = load_photo(name)
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8
    if name == "camera":
        assert img.ndim == 2
    else:
        assert img.ndim == 3 and img.shape[2] == 3
    assert min(img.shape[:2]) >= 256
    assert img.std() > 10  # a real photo, not a blank image


def test_unknown_photo_lists_the_names():
    with pytest.raises(ValueError) as err:
        load_photo("mona_lisa")
    assert "mona_lisa" in str(err.value)
    for name in PHOTOS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["chelsea", "camera"])
def test_photo_tensor_full_size(name):
    img = load_photo(name)
    t = photo_tensor(name)
    channels = 1 if img.ndim == 2 else 3
    assert t.shape == (channels, *img.shape[:2]) and t.dtype == torch.float32
    assert t.min() >= 0.0 and t.max() <= 1.0
    expected = torch.from_numpy(img.astype(np.float32) / 255.0)
    expected = expected.unsqueeze(0) if img.ndim == 2 else expected.permute(2, 0, 1)
    torch.testing.assert_close(t, expected)


def test_photo_tensor_grey():
    img = load_photo("chelsea").astype(np.float64) / 255.0
    t = photo_tensor("chelsea", grey=True)
    assert t.shape == (1, *img.shape[:2])
    luma = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    np.testing.assert_allclose(t[0].numpy(), luma, atol=1e-5)
    assert photo_tensor("camera", grey=True).shape[0] == 1


@pytest.mark.parametrize(("name", "size"), [("chelsea", 100), ("grace_hopper", 64), ("coffee", 50)])
def test_photo_tensor_size_resizes_shorter_side(name, size):
    h, w = load_photo(name).shape[:2]
    t = photo_tensor(name, size=size)
    assert t.shape[0] == 3
    assert min(t.shape[1:]) == size
    long_expected = max(h, w) * size / min(h, w)
    assert abs(max(t.shape[1:]) - long_expected) <= 1
    assert (t.shape[1] >= t.shape[2]) == (h >= w)  # orientation kept
    assert t.min() >= 0.0 and t.max() <= 1.0


def test_photo_tensor_grey_and_size():
    t = photo_tensor("coffee", size=40, grey=True)
    assert t.shape == (1, 40, 60)


# ------------------------------------------------------------------------------------------
# ImageNet: classes, preprocessing, EfficientNet-Lite0
# ------------------------------------------------------------------------------------------


def test_imagenet_classes():
    classes = imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) == 1000
    assert classes[281] == "tabby"
    assert classes[967] == "espresso"
    assert classes[0] == "tench"


def test_imagenet_preprocess_output():
    img = load_photo("chelsea")
    x = imagenet_preprocess(img)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() < -0.5 and x.max() > 0.5  # the full range is used
    t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)
    torch.testing.assert_close(imagenet_preprocess(t), x)


def test_imagenet_preprocess_other_size():
    assert imagenet_preprocess(load_photo("coffee"), size=96).shape == (1, 3, 96, 96)


def test_imagenet_preprocess_is_a_centre_crop():
    """A constant image stays constant; the left/right halves of a split image stay apart."""
    img = np.zeros((300, 400, 3), dtype=np.uint8)
    img[:, 200:] = 255
    x = imagenet_preprocess(img)[0]
    torch.testing.assert_close(x[:, :, :50], torch.full((3, 224, 50), -1.0))
    torch.testing.assert_close(x[:, :, -50:], torch.full((3, 224, 50), 1.0))
    flat = imagenet_preprocess(np.full((300, 300, 3), 51, dtype=np.uint8))
    torch.testing.assert_close(flat, torch.full((1, 3, 224, 224), 51 / 255 * 2 - 1))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((50, 50), dtype=np.uint8),
        np.zeros((50, 50, 4), dtype=np.uint8),
        np.zeros((3, 50, 50), dtype=np.uint8),
        np.zeros((1, 50, 50, 3), dtype=np.uint8),
        torch.zeros(1, 50, 50),
        torch.zeros(50, 50, 3),
        torch.zeros(1, 3, 50, 50),
        [[0, 0, 0]],
    ],
    ids=["2d", "rgba", "chw-array", "batch-array", "1ch", "hwc-tensor", "batch", "list"],
)
def test_imagenet_preprocess_bad_shapes(bad):
    with pytest.raises(ValueError):
        imagenet_preprocess(bad)


@pytest.fixture(scope="module")
def efficientnet():
    return load_efficientnet_lite0()


def test_efficientnet_is_in_eval_mode(efficientnet):
    assert not efficientnet.training
    assert all(not m.training for m in efficientnet.modules())
    assert sum(p.numel() for p in efficientnet.parameters()) == pytest.approx(4.65e6, rel=0.02)


@pytest.mark.parametrize(
    ("photo", "allowed"),
    [("chelsea", range(281, 286)), ("coffee", [967])],  # 281-285: the domestic cats
)
def test_efficientnet_predictions(efficientnet, photo, allowed):
    with torch.no_grad():
        logits = efficientnet(imagenet_preprocess(load_photo(photo)))
    assert logits.shape == (1, 1000)
    top1 = logits.argmax(1).item()
    assert top1 in allowed, imagenet_classes()[top1]
    assert logits.softmax(1)[0, top1] > 0.3


def test_corrupted_weights_raise(tmp_path, monkeypatch):
    real = data.efficientnet_lite0_weights_path()
    fake = tmp_path / "efficientnet-lite0.pth"
    raw = bytearray(real.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    fake.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "efficientnet_lite0_weights_path", lambda: fake)
    with pytest.raises(DataUnavailableError) as err:
        load_efficientnet_lite0()
    assert str(fake) in str(err.value)
    assert "SHA-256" in str(err.value)


def test_missing_weights_raise(tmp_path, monkeypatch):
    missing = tmp_path / "nothere.pth"
    monkeypatch.setattr(data, "efficientnet_lite0_weights_path", lambda: missing)
    with pytest.raises(DataUnavailableError, match="missing"):
        load_efficientnet_lite0()


def test_weights_path_is_the_hashed_file():
    path = data.efficientnet_lite0_weights_path()
    assert path.is_file()
    assert data.sha256_file(path) == data.EFFICIENTNET_LITE0_SHA256


def test_imagenet_preprocess_rejects_ambiguous_dtypes():
    """A uint8 tensor or a float array would be scaled wrongly, so they are refused."""
    with pytest.raises(ValueError, match="uint8 array"):
        imagenet_preprocess(torch.zeros(3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="dtype float"):
        imagenet_preprocess(np.zeros((32, 32, 3), dtype=np.float32))
