"""Tests for dlcourse.distributed: a real two-process DDP run (gloo on the CPU) ends with the
same weights in both processes and as one process on the combined batch; errors and time-outs
in the processes reach the caller, and no process is left behind."""

from __future__ import annotations

import copy
import multiprocessing

import pytest
import torch
from torch import nn

from dlcourse.distributed import choose_backend, ddp_train, free_port, train_single


def tiny_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 10)
    )


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(48, 1, 12, 12, generator=g), torch.randint(0, 10, (48,), generator=g)


def test_two_processes_equal_one_process_on_the_combined_batch(data):
    x, y = data
    model = tiny_cnn()
    before = copy.deepcopy(model.state_dict())
    result = ddp_train(model, x, y, steps=4, batch_size=16, lr=0.5, backend="gloo")
    single = train_single(copy.deepcopy(model), x, y, steps=4, batch_size=16, lr=0.5)
    assert result.backend == "gloo" and len(result.state_dicts) == 2
    rank0, rank1 = result.state_dicts
    for name, value in single.items():
        assert torch.equal(rank0[name], rank1[name]), name  # all-reduce: bit-identical copies
        torch.testing.assert_close(rank0[name], value, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(value, before[name])  # training did change the weights
        assert torch.equal(model.state_dict()[name], before[name])  # the caller's model is kept
    # each process saw a different half of every batch, so their own losses differ
    assert len(result.losses[0]) == 4 and result.losses[0] != result.losses[1]


def test_an_error_in_a_process_reaches_the_caller(data):
    x, y = data
    wrong = torch.randn(48, 1, 10, 10)  # the Linear layer expects 12x12 images
    with pytest.raises(Exception, match="shapes cannot be multiplied"):
        ddp_train(tiny_cnn(), wrong, y, steps=1, batch_size=16, lr=0.1, world_size=1)
    assert multiprocessing.active_children() == []


def test_timeout_stops_the_processes(data):
    x, y = data
    with pytest.raises(TimeoutError, match="did not finish within"):
        ddp_train(tiny_cnn(), x, y, steps=1, batch_size=16, lr=0.1, timeout_s=0.2)
    assert multiprocessing.active_children() == []


def test_train_single_by_hand():
    # one linear layer, one step: w <- w - lr * mean gradient of the cross-entropy
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    w = model.weight.detach().clone().requires_grad_()
    b = model.bias.detach().clone().requires_grad_()
    nn.functional.cross_entropy(x @ w.T + b, y).backward()
    state = train_single(model, x, y, steps=1, batch_size=4, lr=0.1)
    torch.testing.assert_close(state["weight"], w.detach() - 0.1 * w.grad)
    torch.testing.assert_close(state["bias"], b.detach() - 0.1 * b.grad)


def test_backend_and_port():
    expected = "nccl" if torch.cuda.device_count() >= 2 else "gloo"
    assert choose_backend(2) == expected
    assert 0 < free_port() < 65536


def test_bad_input(data):
    x, y = data
    model = tiny_cnn()
    with pytest.raises(ValueError, match="divisible by world_size"):
        ddp_train(model, x, y, steps=1, batch_size=15, lr=0.1)
    with pytest.raises(ValueError, match="allowed: gloo, nccl"):
        ddp_train(model, x, y, steps=1, batch_size=16, lr=0.1, backend="mpi")
    if torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match="needs 2 CUDA GPUs"):
            ddp_train(model, x, y, steps=1, batch_size=16, lr=0.1, backend="nccl")
    with pytest.raises(ValueError, match="world_size"):
        ddp_train(model, x, y, steps=1, batch_size=16, lr=0.1, world_size=0)
    with pytest.raises(ValueError, match="same first dimension"):
        ddp_train(model, x, y[:-1], steps=1, batch_size=16, lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        train_single(model, x, y, steps=0, batch_size=16, lr=0.1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        train_single("model", x, y, steps=1, batch_size=16, lr=0.1)
