"""Tests for dlcourse.train: fit, evaluate and History on a tiny synthetic problem."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dlcourse.data import tensor_loader
from dlcourse.device import seed_everything
from dlcourse.train import History, StepInfo, evaluate, fit


def _separable(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in the plane, class 1 above the line x0 + 2 x1 = 0, with a margin of 0.2."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * n, 2, generator=g)
    score = (x[:, 0] + 2 * x[:, 1]) / math.sqrt(5)
    keep = score.abs() > 0.2
    x, score = x[keep][:n], score[keep][:n]
    return x, (score > 0).long()


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


@pytest.fixture
def data():
    x, y = _separable(256, seed=0)
    assert len(y) == 256 and 0.3 < y.float().mean() < 0.7
    return x, y


@pytest.fixture
def loaders(data):
    x, y = data
    xv, yv = _separable(64, seed=1)
    return tensor_loader(x, y, batch_size=32, shuffle=True, seed=0), tensor_loader(xv, yv, 64)


def _sgd(model: nn.Module, lr: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr)


# ------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------


def test_fit_learns_a_separable_problem(loaders):
    train, val = loaders
    model = _model()
    history = fit(model, train, val, epochs=8, optimizer=_sgd(model), progress=False)
    assert history.train_acc[-1] > 0.95
    assert history.val_acc[-1] > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.val_acc)


def test_history_has_one_entry_per_epoch(loaders):
    train, val = loaders
    model = _model()
    history = fit(model, train, val, epochs=3, optimizer=_sgd(model), progress=False)
    assert isinstance(history, History)
    assert history.epochs == 3
    for key, values in history.as_dict().items():
        assert len(values) == 3, key
    assert all(t > 0 for t in history.epoch_time)


def test_no_validation_metrics_without_val_loader(loaders):
    train, _ = loaders
    model = _model()
    history = fit(model, train, epochs=2, optimizer=_sgd(model), progress=False)
    assert history.val_loss == [] and history.val_acc == []
    assert len(history.train_loss) == 2 and len(history.train_acc) == 2


def test_train_metrics_are_sample_weighted_means(data):
    """With lr=0 the model never changes, so the epoch's training metrics equal evaluate's."""
    x, y = data
    model = _model()
    loader = tensor_loader(x, y, batch_size=100)  # uneven batches: 100, 100, 56
    history = fit(model, loader, epochs=1, optimizer=_sgd(model, lr=0.0), progress=False)
    loss, acc = evaluate(model, loader)
    assert history.train_loss[0] == pytest.approx(loss, rel=1e-5)
    assert history.train_acc[0] == pytest.approx(acc)


def test_default_optimizer_is_adam_and_trains(loaders):
    train, _ = loaders
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, train, epochs=3, progress=False)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_moves_model_to_requested_device(loaders):
    train, _ = loaders
    model = _model()
    fit(model, train, epochs=1, optimizer=_sgd(model), device="cpu", progress=False)
    assert all(p.device.type == "cpu" for p in model.parameters())


# ------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------


def test_evaluate_matches_a_manual_computation(data):
    x, y = data
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    model.train()
    loss, acc = evaluate(model, tensor_loader(x, y, batch_size=50))  # batches 50 x 5 + 6
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert acc == pytest.approx((out.argmax(1) == y).float().mean().item())


def test_evaluate_with_custom_loss(data):
    x, y = data
    model = _model()
    mse = nn.MSELoss()

    def loss_fn(out, target):
        return mse(out, nn.functional.one_hot(target, 2).float())

    loss, _ = evaluate(model, tensor_loader(x, y, batch_size=64), loss_fn=loss_fn)
    with torch.no_grad():
        expected = loss_fn(model(x), y).item()
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_model_mode(data, training):
    x, y = data
    model = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.2), nn.Linear(4, 2))
    model.train(training)
    evaluate(model, tensor_loader(x, y))
    assert model.training is training
    assert all(m.training is training for m in model.modules())


def test_evaluate_empty_loader_raises_and_restores_mode():
    model = _model().train()
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])
    assert model.training


def test_evaluate_rejects_non_iterable():
    with pytest.raises(TypeError):
        evaluate(_model(), 42)


def test_evaluate_does_not_track_gradients(data):
    x, y = data
    model = _model()
    evaluate(model, tensor_loader(x, y))
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------------------------------------------
# callbacks
# ------------------------------------------------------------------------------------------


def test_on_step_called_once_per_batch(loaders):
    train, _ = loaders  # 256 samples in batches of 32: 8 steps per epoch
    steps: list[StepInfo] = []
    model = _model()
    fit(model, train, epochs=2, optimizer=_sgd(model), on_step=steps.append, progress=False)
    assert len(steps) == 16
    assert [s.global_step for s in steps] == list(range(1, 17))
    assert [s.epoch for s in steps] == [0] * 8 + [1] * 8
    assert [s.step for s in steps] == list(range(8)) * 2
    assert all(s.batch_size == 32 for s in steps)
    for s in steps:
        assert isinstance(s.loss, torch.Tensor)
        assert s.loss.ndim == 0
        assert not s.loss.requires_grad
        assert math.isfinite(s.loss.item()) and s.loss.item() >= 0


def test_on_step_losses_average_to_train_loss(data):
    x, y = data
    steps: list[StepInfo] = []
    model = _model()
    loader = tensor_loader(x, y, batch_size=100)  # 100, 100, 56
    history = fit(
        model, loader, epochs=1, optimizer=_sgd(model, 0.1), on_step=steps.append, progress=False
    )
    assert [s.batch_size for s in steps] == [100, 100, 56]
    weighted = sum(s.loss.item() * s.batch_size for s in steps) / 256
    assert history.train_loss[0] == pytest.approx(weighted, rel=1e-5)


def test_on_epoch_called_per_epoch_with_growing_history(loaders):
    train, val = loaders
    calls = []
    model = _model()

    def on_epoch(epoch, history):
        calls.append((epoch, history.epochs, len(history.val_loss)))

    fit(model, train, val, epochs=3, optimizer=_sgd(model), on_epoch=on_epoch, progress=False)
    assert calls == [(0, 1, 1), (1, 2, 2), (2, 3, 3)]


# ------------------------------------------------------------------------------------------
# schedulers
# ------------------------------------------------------------------------------------------


def test_step_lr_is_stepped_once_per_epoch(loaders):
    train, _ = loaders
    model = _model()
    opt = _sgd(model, lr=0.4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    lrs = []
    fit(
        model,
        train,
        epochs=3,
        optimizer=opt,
        scheduler=sched,
        progress=False,
        on_epoch=lambda e, h: lrs.append(opt.param_groups[0]["lr"]),
    )
    assert lrs == pytest.approx([0.2, 0.1, 0.05])


class _RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics: list[float] = []

    def step(self, metrics, *args, **kwargs):
        self.metrics.append(float(metrics))
        return super().step(metrics, *args, **kwargs)


def _frozen_model_and_optimizer(lr: float):
    """A model that never changes (its loss plateaus) and an optimizer with a visible lr."""
    model = _model()
    dummy = nn.Parameter(torch.zeros(1))  # not used by the model: never gets a gradient
    return model, torch.optim.SGD([dummy], lr=lr)


def test_reduce_lr_on_plateau_uses_val_loss(loaders):
    train, val = loaders
    model, opt = _frozen_model_and_optimizer(lr=1.0)
    sched = _RecordingPlateau(opt, mode="min", factor=0.5, patience=0)
    history = fit(model, train, val, epochs=3, optimizer=opt, scheduler=sched, progress=False)
    assert sched.metrics == history.val_loss
    assert sched.metrics != history.train_loss
    # no improvement after the first epoch: halved after epochs 2 and 3
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)


def test_reduce_lr_on_plateau_uses_train_loss_without_val(loaders):
    train, _ = loaders
    model, opt = _frozen_model_and_optimizer(lr=1.0)
    sched = _RecordingPlateau(opt, mode="min", factor=0.1, patience=0)
    history = fit(model, train, epochs=2, optimizer=opt, scheduler=sched, progress=False)
    assert sched.metrics == history.train_loss
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_reduce_lr_on_plateau_keeps_lr_while_improving(loaders):
    train, val = loaders
    model = _model()
    opt = _sgd(model, lr=0.5)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=5)
    fit(model, train, val, epochs=2, optimizer=opt, scheduler=sched, progress=False)
    assert opt.param_groups[0]["lr"] == 0.5


# ------------------------------------------------------------------------------------------
# reproducibility and progress bar
# ------------------------------------------------------------------------------------------


def _seeded_run(data, progress: bool, dropout: float = 0.2) -> History:
    x, y = data
    seed_everything(3)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))
    train = tensor_loader(x, y, batch_size=32, shuffle=True, seed=3)
    val = tensor_loader(x[:64], y[:64], batch_size=64)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    return fit(model, train, val, epochs=3, optimizer=opt, progress=progress)


def _metrics(h: History) -> dict[str, list[float]]:
    d = h.as_dict()
    d.pop("epoch_time")
    return d


def test_same_seed_gives_identical_history(data, restore_global_state):
    first = _metrics(_seeded_run(data, progress=False))
    second = _metrics(_seeded_run(data, progress=False))
    assert first == second
    assert len(set(first["train_loss"])) == 3  # it did train: the losses differ per epoch
    other = _metrics(_seeded_run(data, progress=False, dropout=0.5))
    assert other != first


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_progress_bar_does_not_change_seeded_results(data, restore_global_state, dropout):
    """With dropout the global RNG is used every step: the bar must not consume from it
    (a tqdm that iterates the loader itself builds extra DataLoader iterators, which draw)."""
    quiet = _metrics(_seeded_run(data, progress=False, dropout=dropout))
    loud = _metrics(_seeded_run(data, progress=True, dropout=dropout))
    assert quiet == loud


def test_progress_bar_counts_all_steps(data, restore_global_state, capsys):
    _seeded_run(data, progress=True)  # 3 epochs of 8 batches
    err = capsys.readouterr().err
    assert "24/24" in err
    assert "25/24" not in err
    _seeded_run(data, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_with_a_loader_without_len(data):
    x, y = data
    batches = ((x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64))  # a generator
    model = _model()
    history = fit(model, batches, epochs=1, optimizer=_sgd(model), progress=True)
    assert history.epochs == 1 and 0.0 <= history.train_acc[0] <= 1.0


# ------------------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs", [0, -1, 1.5, 2.0, True, "2", None])
def test_bad_epochs_raise(loaders, epochs):
    train, _ = loaders
    with pytest.raises(ValueError, match="epochs"):
        fit(_model(), train, epochs=epochs, progress=False)


@pytest.mark.parametrize("bad", [42, None, object()])
def test_non_iterable_train_loader_raises_type_error(bad):
    with pytest.raises(TypeError, match="train_loader"):
        fit(_model(), bad, epochs=1, progress=False)


def test_non_iterable_val_loader_raises_type_error(loaders):
    train, _ = loaders
    with pytest.raises(TypeError, match="val_loader"):
        fit(_model(), train, val_loader=3.0, epochs=1, progress=False)


@pytest.mark.parametrize("progress", [False, True])
def test_empty_train_loader_raises(progress):
    with pytest.raises(ValueError, match="no batches"):
        fit(_model(), [], epochs=1, progress=progress)


def test_empty_tensor_loader_raises():
    loader = tensor_loader(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="no batches"):
        fit(_model(), loader, epochs=1, progress=False)


# ------------------------------------------------------------------------------------------
# batch_transform
# ------------------------------------------------------------------------------------------


def test_batch_transform_changes_what_the_model_sees(data):
    """Negating every input is the same as negating the first layer's weights (lr=0)."""
    x, y = data
    model = _model()
    loader = tensor_loader(x, y, batch_size=64)
    history = fit(
        model,
        loader,
        epochs=1,
        optimizer=_sgd(model, lr=0.0),
        progress=False,
        batch_transform=lambda xb, yb: (-xb, yb),
    )
    loss, acc = evaluate(model, tensor_loader(-x, y, batch_size=64))
    assert history.train_loss[0] == pytest.approx(loss, rel=1e-5)
    assert history.train_acc[0] == pytest.approx(acc)
    plain = evaluate(model, loader)
    assert plain[0] != pytest.approx(loss, rel=1e-3)


def test_batch_transform_with_soft_labels(data):
    """One-hot soft labels give the same loss and accuracy as the hard ones (lr=0)."""
    x, y = data
    model = _model()
    loader = tensor_loader(x, y, batch_size=64)
    history = fit(
        model,
        loader,
        epochs=1,
        optimizer=_sgd(model, lr=0.0),
        progress=False,
        batch_transform=lambda xb, yb: (xb, nn.functional.one_hot(yb, 2).float()),
    )
    loss, acc = evaluate(model, loader)
    assert history.train_loss[0] == pytest.approx(loss, rel=1e-5)
    assert history.train_acc[0] == pytest.approx(acc)


def test_batch_transform_must_be_callable(loaders):
    with pytest.raises(TypeError, match="batch_transform must be a callable"):
        fit(_model(), loaders[0], progress=False, batch_transform="mixup")
