"""Files that must not be lost or silently corrupted: atomic writes and hash checks.

A file is written to a temporary name in the same folder and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so a crash leaves either the old file or the
new one, never half of one. Checkpoints carry a SHA-256 side-car file, checked on load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(obj: Any, path: str | os.PathLike) -> str:
    """Save ``obj`` (a state dict or a dict of tensors/numbers) atomically; return its SHA-256.

    The digest is also written to ``<path>.sha256`` so :func:`load_checkpoint` can verify it.
    """
    path = Path(path)
    atomic_write(path, lambda f: torch.save(obj, f))
    digest = sha256_file(path)
    atomic_write(path.with_name(path.name + ".sha256"), lambda f: f.write(digest.encode()))
    return digest


def load_checkpoint(
    path: str | os.PathLike, expected_sha256: str | None = None, map_location: Any = "cpu"
) -> Any:
    """Load a checkpoint after checking its SHA-256, with ``weights_only=True``.

    The expected digest is ``expected_sha256`` if given, else the ``.sha256`` side-car file.
    A missing file, a missing digest or a mismatch raises an error that names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if expected_sha256 is None:
        side = path.with_name(path.name + ".sha256")
        if not side.is_file():
            raise FileNotFoundError(
                f"no digest for {path}: expected {side} (written by save_checkpoint) "
                "or pass expected_sha256"
            )
        expected_sha256 = side.read_text().strip()
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ValueError(
            f"checkpoint {path} is corrupted or was changed: SHA-256 {actual[:12]}... "
            f"does not match the expected {expected_sha256[:12]}...; delete it and recreate it"
        )
    return torch.load(path, map_location=map_location, weights_only=True)
