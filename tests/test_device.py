"""Tests for dlcourse.device: device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dlcourse import device as device_mod
from dlcourse.device import get_device, seed_everything


@pytest.fixture(autouse=True)
def _no_device_env(monkeypatch):
    """The tests choose DLCOURSE_DEVICE themselves; one set in the shell must not leak in."""
    monkeypatch.delenv("DLCOURSE_DEVICE", raising=False)


@pytest.fixture
def no_accelerator(monkeypatch):
    """Pretend neither CUDA nor MPS is available, whatever machine runs the tests."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)


# ------------------------------------------------------------------------------------------
# get_device
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_get_device_is_cpu_on_this_machine():
    if device_mod._mps_available():
        pytest.skip("this machine has Apple MPS")
    assert get_device() == torch.device("cpu")


def test_get_device_without_accelerator_is_cpu(no_accelerator):
    assert get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("mps")


def test_prefer_cpu_wins_over_an_available_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device(prefer="cpu") == torch.device("cpu")
    assert get_device(prefer="cpu").type == "cpu"


def test_prefer_with_index_keeps_the_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device(prefer="cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["gpu", "tpu", "CPU", "", "xla:0"])
def test_unknown_device_name_raises_value_error_listing_allowed(name):
    with pytest.raises(ValueError) as err:
        get_device(prefer=name)
    message = str(err.value)
    for allowed in ("cuda", "mps", "cpu"):
        assert allowed in message
    assert repr(name) in message


def test_cuda_requested_but_unavailable_raises(no_accelerator):
    with pytest.raises(RuntimeError, match="cuda"):
        get_device(prefer="cuda")


def test_mps_requested_but_unavailable_raises(no_accelerator):
    with pytest.raises(RuntimeError, match="mps"):
        get_device(prefer="mps")


def test_env_var_forces_cpu_over_available_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_env_var_is_validated(monkeypatch, no_accelerator):
    monkeypatch.setenv("DLCOURSE_DEVICE", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        get_device()
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError):
        get_device()


def test_empty_env_var_means_automatic(monkeypatch, no_accelerator):
    monkeypatch.setenv("DLCOURSE_DEVICE", "")
    assert get_device() == torch.device("cpu")


def test_prefer_overrides_env_var(monkeypatch, no_accelerator):
    monkeypatch.setenv("DLCOURSE_DEVICE", "bogus")
    assert get_device(prefer="cpu") == torch.device("cpu")


# ------------------------------------------------------------------------------------------
# seed_everything
# ------------------------------------------------------------------------------------------


def _draw() -> tuple[torch.Tensor, np.ndarray, list[float]]:
    return torch.randn(5), np.random.rand(5), [random.random() for _ in range(5)]


def test_seed_everything_repeats_all_generators(restore_global_state):
    seed_everything(123)
    t1, n1, r1 = _draw()
    seed_everything(123)
    t2, n2, r2 = _draw()
    assert torch.equal(t1, t2)
    np.testing.assert_array_equal(n1, n2)
    assert r1 == r2
    seed_everything(124)
    t3, n3, r3 = _draw()
    assert not torch.equal(t1, t3)
    assert not np.array_equal(n1, n3)
    assert r1 != r3


def test_seed_everything_matches_the_libraries_own_seeding(restore_global_state):
    seed_everything(7)
    t, n, r = _draw()
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    assert torch.equal(t, torch.randn(5))
    np.testing.assert_array_equal(n, np.random.rand(5))
    assert r == [random.random() for _ in range(5)]


def test_seed_everything_switches_tf32_off_only_when_deterministic(restore_global_state):
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    seed_everything(0, deterministic=False)
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    seed_everything(0)
    assert not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32


def test_seed_everything_returns_a_seeded_generator(restore_global_state):
    g = seed_everything(42)
    assert isinstance(g, torch.Generator)
    assert g.initial_seed() == 42
    a = torch.randn(4, generator=g)
    b = torch.randn(4, generator=seed_everything(42))
    assert torch.equal(a, b)
    assert torch.equal(a, torch.randn(4, generator=torch.Generator().manual_seed(42)))


@pytest.mark.parametrize(
    ("seed", "error"),
    [
        (1.5, TypeError),
        (1.0, TypeError),
        (True, TypeError),
        (False, TypeError),
        ("3", TypeError),
        (None, TypeError),
        (-1, ValueError),
        (2**32, ValueError),
    ],
)
def test_bad_seed_raises(seed, error, restore_global_state):
    with pytest.raises(error):
        seed_everything(seed)


@pytest.mark.parametrize("seed", [0, 2**32 - 1])
def test_seed_bounds_are_accepted(seed, restore_global_state):
    assert seed_everything(seed).initial_seed() == seed


def test_deterministic_flag_sets_torch_state(restore_global_state):
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False
    seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
