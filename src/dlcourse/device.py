"""Where code runs, and how to make a run repeatable.

Every chapter starts with ``device = get_device()`` and ``seed_everything(0)``; nothing else in
the book picks a device or a seed on its own.
"""

from __future__ import annotations

import numbers
import os
import random

import numpy as np
import torch

_ALLOWED = ("cuda", "mps", "cpu")


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the environment variable ``DLCOURSE_DEVICE``) forces one of
    ``"cuda"``, ``"mps"`` or ``"cpu"``; asking for one that is not available is an error
    rather than a silent fall-back.
    """
    choice = prefer if prefer is not None else os.environ.get("DLCOURSE_DEVICE") or None
    if choice is not None:
        if not isinstance(choice, str) or choice.split(":")[0] not in _ALLOWED:
            raise ValueError(f"unknown device {choice!r}; allowed: {', '.join(_ALLOWED)}")
        kind = choice.split(":")[0]
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available")
        if kind == "mps" and not _mps_available():
            raise RuntimeError("device 'mps' was requested but Apple MPS is not available")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) in one call; return a seeded CPU generator.

    With ``deterministic=True`` cuDNN autotuning is switched off and PyTorch is asked to use
    deterministic algorithms where they exist (``warn_only``: an op without a deterministic
    version warns instead of failing). Results then repeat on the same machine and software;
    across different hardware they may still differ in the last bits.

    It also switches off TF32 for convolutions and matrix products. On recent NVIDIA GPUs
    cuDNN's float32 convolutions use TF32 by default, which keeps 10 mantissa bits instead of
    23: errors of about 1e-3 relative, far above the 1e-5 at which the book checks its
    from-scratch layers against PyTorch's. ``deterministic=False`` leaves these settings alone.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # Needed by cuBLAS for deterministic matrix products on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.allow_tf32 = False  # full float32 in cuDNN convolutions
        torch.backends.cuda.matmul.allow_tf32 = False  # and in cuBLAS matrix products
    else:
        torch.use_deterministic_algorithms(False)
    return torch.Generator().manual_seed(seed)
