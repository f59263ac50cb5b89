"""The one training loop of the book.

``fit`` trains any classifier on any device and returns a :class:`History` with the training
and validation loss and accuracy of every epoch. Every chapter trains through it, so every
chapter's curves mean the same thing.

Overhead is kept out of the inner loop: loss and accuracy are summed on the device as tensors
and read back once per epoch (``.item()`` every step would force a GPU sync every step).
``benchmarks/train_overhead.py`` measures the loop against a bare hand-written PyTorch loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from .device import get_device


@dataclass
class History:
    """Per-epoch results of :func:`fit`. Accuracies are fractions in [0, 1]."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "epoch_time": self.epoch_time,
        }


@dataclass
class StepInfo:
    """What a per-step callback receives. ``loss`` is a 0-d tensor (call ``.item()`` to read it)."""

    epoch: int
    step: int
    global_step: int
    loss: torch.Tensor
    batch_size: int


def _check_loader(loader: object, name: str) -> None:
    if not isinstance(loader, Iterable):
        raise TypeError(
            f"{name} must be an iterable of (inputs, targets) batches, e.g. a DataLoader"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode (mode restored after)."""
    _check_loader(loader, "loader")
    device = torch.device(device) if device is not None else get_device()
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        out = model(x)
        total_loss += loss_fn(out, y).detach() * len(y)
        correct += (out.argmax(1) == y).sum()
        count += len(y)
    model.train(was_training)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total_loss.item() / count, correct.item() / count


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    epochs: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    scheduler: object | None = None,
    device: torch.device | str | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[int, History], None] | None = None,
    progress: bool = True,
    batch_transform: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    - ``optimizer`` defaults to Adam (lr 1e-3); ``loss_fn`` to cross-entropy.
    - ``scheduler`` (any ``torch.optim.lr_scheduler``) is stepped once per epoch; a
      ``ReduceLROnPlateau`` is stepped with the validation loss (training loss without one).
    - ``on_step(StepInfo)`` is called after every optimisation step (e.g. for a live plot);
      ``on_epoch(epoch, history)`` after every epoch.
    - ``batch_transform(x, y) -> (x, y)`` is applied to every training batch on the device,
      before the forward pass: batch-level augmentation such as Mixup or CutMix
      (:mod:`dlcourse.augment`). It may return soft labels ``(N, classes)``; the training
      accuracy then counts the predictions that match each sample's largest label weight.
    - ``progress`` shows one tqdm bar over all steps (``tqdm.auto``: a widget in Jupyter,
      text in a terminal); it disappears when training ends.
    The model is moved to ``device`` (default: :func:`dlcourse.device.get_device`).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    _check_loader(train_loader, "train_loader")
    if batch_transform is not None and not callable(batch_transform):
        raise TypeError(
            f"batch_transform must be a callable (x, y) -> (x, y), got {type(batch_transform)}"
        )
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    optimizer = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    history = History()
    global_step = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
        total = per_epoch * epochs if per_epoch is not None else None
        bar = tqdm(total=total, desc="training", unit="batch", leave=False)

    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            model.train()
            total_loss = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            count = 0
            for step, (x, y) in enumerate(train_loader):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if batch_transform is not None:
                    x, y = batch_transform(x, y)
                out = model(x)
                loss = loss_fn(out, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    total_loss += loss.detach() * len(y)
                    hard = y.argmax(1) if y.ndim == 2 else y
                    correct += (out.argmax(1) == hard).sum()
                count += len(y)
                global_step += 1
                if bar is not None:
                    bar.update()
                if on_step is not None:
                    on_step(StepInfo(epoch, step, global_step, loss.detach(), len(y)))
            if count == 0:
                raise ValueError("train_loader yielded no batches")
            history.train_loss.append(total_loss.item() / count)
            history.train_acc.append(correct.item() / count)
            if val_loader is not None:
                val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    losses = history.val_loss if val_loader is not None else history.train_loss
                    scheduler.step(losses[-1])
                else:
                    scheduler.step()
            history.epoch_time.append(time.perf_counter() - start)
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, loss=f"{history.train_loss[-1]:.3f}")
            if on_epoch is not None:
                on_epoch(epoch, history)
    finally:
        if bar is not None:
            bar.close()
    return history
