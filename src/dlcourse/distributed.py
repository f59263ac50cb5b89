"""Data-parallel training in several processes with ``DistributedDataParallel`` (DDP).

AlexNet was split over two GPUs by hand. Today a model that fits on one device is trained on
several by *data parallelism*: every process holds a full copy of the model, gets its own slice
of every global batch, computes gradients on it, and DDP averages the gradients over the
processes (an all-reduce) during ``backward``, so every copy takes the same step.

:func:`ddp_train` runs such a training for real, with ``world_size`` processes on this machine
(``torch.multiprocessing`` with the *spawn* start method, so it also works from a Jupyter
notebook: the worker function lives in this module, which the new processes import). The
processes meet at ``MASTER_ADDR=127.0.0.1`` on a free port chosen at run time. The backend is
``"nccl"`` (one GPU per process) when at least ``world_size`` CUDA GPUs are available, and
``"gloo"`` on the CPU otherwise. :func:`train_single` is the same training in one process on the
whole batch; for a model without batch statistics both end with the same weights.
"""

from __future__ import annotations

import copy
import datetime
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import atomic_write

__all__ = ["DDPResult", "choose_backend", "ddp_train", "free_port", "train_single"]

BACKENDS = ("gloo", "nccl")


@dataclass
class DDPResult:
    """What :func:`ddp_train` returns: the backend used, and per process (rank) the final
    ``state_dict`` (on the CPU) and the loss of its own slice at every step."""

    backend: str
    state_dicts: list[dict[str, torch.Tensor]]
    losses: list[list[float]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_backend(world_size: int) -> str:
    """``"nccl"`` if NCCL is built in and at least ``world_size`` CUDA GPUs are visible (one per
    process), else ``"gloo"``, which runs on the CPU."""
    if (
        torch.cuda.is_available()
        and torch.cuda.device_count() >= world_size
        and dist.is_nccl_available()
    ):
        return "nccl"
    return "gloo"


def _global_batch(x: torch.Tensor, y: torch.Tensor, step: int, batch_size: int):
    """Batch number ``step``: samples ``step * batch_size`` onwards, wrapping around the data."""
    idx = (torch.arange(batch_size) + step * batch_size) % len(x)
    return x[idx], y[idx]


def _check(
    model: object, x: object, y: object, steps: object, batch_size: object, lr: object
) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or len(x) != len(y):
        raise ValueError("x and y must be tensors with the same first dimension (samples)")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")


def train_single(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, lr: float
) -> dict[str, torch.Tensor]:
    """Train ``model`` (in place, on the CPU) for ``steps`` steps of plain SGD with the mean
    cross-entropy over whole global batches of ``batch_size`` samples; return its state dict."""
    _check(model, x, y, steps, batch_size, lr)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        xb, yb = _global_batch(x, y, step, batch_size)
        loss = F.cross_entropy(model(xb), yb)  # mean over the whole batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    timeout_s: float,
    out_dir: str,
) -> None:
    """One process of :func:`ddp_train` (rank ``rank`` of ``world_size``)."""
    torch.set_num_threads(1)
    # The tensors a spawned process receives live in shared memory, shared with the other
    # processes: a private copy keeps one process's update from writing into another's model.
    model = copy.deepcopy(model)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(
        backend,
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    try:
        device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
        # DDP copies rank 0's parameters to every process here, and from now on averages the
        # gradients over the processes during backward (all-reduce).
        ddp_model = DistributedDataParallel(
            model.to(device), device_ids=[rank] if device.type == "cuda" else None
        )
        optimizer = torch.optim.SGD(ddp_model.parameters(), lr=lr)
        shard = batch_size // world_size
        losses = []
        for step in range(steps):
            xb, yb = _global_batch(x, y, step, batch_size)
            # this process's slice of the global batch: samples rank*shard .. (rank+1)*shard-1
            xb = xb[rank * shard : (rank + 1) * shard].to(device)
            yb = yb[rank * shard : (rank + 1) * shard].to(device)
            loss = F.cross_entropy(ddp_model(xb), yb)  # mean over this process's slice
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # gradients are averaged over the processes here
            optimizer.step()
            losses.append(loss.item())
        state = {k: v.detach().cpu().clone() for k, v in ddp_model.module.state_dict().items()}
        # written under a temporary name and renamed: the parent never sees half a file
        result = {"state_dict": state, "losses": losses}
        atomic_write(Path(out_dir) / f"rank{rank}.pt", lambda f: torch.save(result, f))
    finally:
        dist.destroy_process_group()


def ddp_train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    world_size: int = 2,
    backend: str | None = None,
    timeout_s: float = 120.0,
) -> DDPResult:
    """Train copies of ``model`` in ``world_size`` processes with DDP and plain SGD.

    Step ``t`` uses the global batch of ``batch_size`` samples starting at ``t * batch_size``
    (wrapping around); process ``r`` gets the ``r``-th of ``world_size`` equal consecutive
    slices and the mean cross-entropy over its slice. ``backend``: ``None`` chooses with
    :func:`choose_backend`. ``model`` itself is not changed (each process trains its own copy).
    An exception in a process is raised here with that process's traceback; a run that takes
    longer than ``timeout_s`` seconds is stopped and raises ``TimeoutError``.
    """
    _check(model, x, y, steps, batch_size, lr)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    if batch_size % world_size:
        raise ValueError(
            f"batch_size ({batch_size}) must be divisible by world_size ({world_size}): every "
            "process gets an equal slice of each global batch"
        )
    backend = choose_backend(world_size) if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if backend == "nccl" and choose_backend(world_size) != "nccl":
        raise ValueError(f"backend 'nccl' needs {world_size} CUDA GPUs (one per process)")
    if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")

    model = copy.deepcopy(model).cpu()  # the caller's model stays as it is
    with tempfile.TemporaryDirectory(prefix="dlcourse-ddp-") as out_dir:
        args = (world_size, free_port(), backend, model, x.cpu(), y.cpu(), steps, batch_size,
                float(lr), float(timeout_s), out_dir)  # fmt: skip
        context = mp.start_processes(
            _worker, args=args, nprocs=world_size, join=False, start_method="spawn"
        )
        deadline = time.monotonic() + timeout_s
        try:
            # join() raises ProcessRaisedException (with the child's traceback) or
            # ProcessExitedException when a process fails, after stopping the others.
            while not context.join(timeout=0.5):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the {world_size} DDP processes did not finish within {timeout_s} s"
                    )
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
                    process.join(5)
                    if process.is_alive():
                        process.kill()
                        process.join()
        results = [
            torch.load(Path(out_dir) / f"rank{rank}.pt", weights_only=True)
            for rank in range(world_size)
        ]
    return DDPResult(
        backend=backend,
        state_dicts=[r["state_dict"] for r in results],
        losses=[r["losses"] for r in results],
    )
