"""Tests for dlcourse.checkpoint: atomic writes and hash-checked checkpoints."""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch
from torch import nn

from dlcourse.checkpoint import atomic_write, load_checkpoint, save_checkpoint, sha256_file

_SIDE_EFFECTS: list[str] = []


def _record(tag: str) -> str:
    _SIDE_EFFECTS.append(tag)
    return tag


class Payload:
    """A pickled object that runs code on unpickling: what weights_only must refuse."""

    def __reduce__(self):
        return (_record, ("unpickled",))


def _state_dict() -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    return model.state_dict()


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # bigger than one chunk of 1 KiB below
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk=1024) == expected


def test_round_trip_of_a_state_dict(tmp_path):
    state = _state_dict()
    path = tmp_path / "model.pt"
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value), key


def test_round_trip_of_a_dict_of_tensors_and_numbers(tmp_path):
    obj = {"epoch": 3, "lr": 0.01, "weights": torch.arange(6.0).view(2, 3), "name": "run"}
    path = tmp_path / "ckpt.pt"
    save_checkpoint(obj, path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["lr"] == 0.01 and loaded["name"] == "run"
    assert torch.equal(loaded["weights"], obj["weights"])


def test_side_car_digest_is_written(tmp_path):
    path = tmp_path / "model.pt"
    digest = save_checkpoint(_state_dict(), path)
    side = tmp_path / "model.pt.sha256"
    assert side.is_file()
    assert side.read_text().strip() == digest
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


def test_save_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "model.pt"
    save_checkpoint({"x": torch.ones(2)}, path)
    assert torch.equal(load_checkpoint(path)["x"], torch.ones(2))


def test_modified_file_is_rejected(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(_state_dict(), path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_replaced_file_is_rejected(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint({"x": torch.zeros(3)}, path)
    torch.save({"x": torch.ones(3)}, path)  # a valid checkpoint, but not the one hashed
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(path)


def test_missing_digest_raises_file_not_found(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"x": torch.ones(1)}, path)
    with pytest.raises(FileNotFoundError) as err:
        load_checkpoint(path)
    assert "model.pt.sha256" in str(err.value)


def test_missing_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt")


def test_explicit_expected_sha256(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"x": torch.arange(4)}, path)  # no side-car file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert torch.equal(load_checkpoint(path, expected_sha256=digest)["x"], torch.arange(4))
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(path, expected_sha256="0" * 64)


def test_explicit_digest_takes_precedence_over_side_car(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint({"x": torch.ones(1)}, path)
    (tmp_path / "model.pt.sha256").write_text("f" * 64)  # a wrong side-car
    with pytest.raises(ValueError):
        load_checkpoint(path)
    assert torch.equal(load_checkpoint(path, expected_sha256=sha256_file(path))["x"], torch.ones(1))


def test_atomic_write_writes_content(tmp_path):
    path = tmp_path / "out.bin"
    returned = atomic_write(path, lambda f: f.write(b"hello"))
    assert returned == path
    assert path.read_bytes() == b"hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_write_keeps_old_file_when_writer_raises(tmp_path, exc):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def writer(f):
        f.write(b"half of the new")
        raise exc

    with pytest.raises(type(exc)):
        atomic_write(path, writer)
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_failure_without_old_file_leaves_nothing(tmp_path):
    def writer(f):
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        atomic_write(tmp_path / "new.bin", writer)
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_arbitrary_pickled_objects(tmp_path):
    _SIDE_EFFECTS.clear()
    path = tmp_path / "evil.pt"
    save_checkpoint({"payload": Payload()}, path)  # hash is valid: only weights_only protects
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)
    assert _SIDE_EFFECTS == []
    # the same file does unpickle (and run the code) without weights_only
    torch.load(path, weights_only=False)
    assert _SIDE_EFFECTS == ["unpickled"]
