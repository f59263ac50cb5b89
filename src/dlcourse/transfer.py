"""Transfer learning: reuse a trained network for a new task.

The three moves of every transfer recipe, on any ``nn.Module``:

- :func:`replace_head`: swap the last ``nn.Linear`` (or a named one) for a fresh layer with the
  new number of classes; the features below it are kept.
- :func:`freeze` / :func:`unfreeze`: switch ``requires_grad`` off or on for the parameters of
  modules chosen by name (exact, dotted prefix or glob such as ``"block*.norm"``) or by type
  (``nn.BatchNorm2d`` for "train only the normalization layers").
- :func:`param_groups`: one optimizer group per name prefix, each with its own learning rate,
  e.g. a small one for the pretrained body and a larger one for the new head.

Freezing only stops gradients: a frozen ``BatchNorm`` still updates its running statistics in
training mode (put it in eval mode to keep them fixed).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from torch import nn

__all__ = [
    "replace_head",
    "freeze",
    "unfreeze",
    "trainable_parameters",
    "trainable_names",
    "count_trainable",
    "param_groups",
]


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _matches(name: str, pattern: str) -> bool:
    """``name`` is ``pattern``, lies below it (``pattern + "."`` prefix) or matches it as a glob."""
    return (
        name == pattern
        or name.startswith(pattern + ".")
        or fnmatchcase(name, pattern)
        or fnmatchcase(name, pattern + ".*")
    )


def replace_head(model: nn.Module, num_classes: int, name: str | None = None) -> nn.Linear:
    """Replace a linear layer by a fresh ``nn.Linear(in_features, num_classes)`` and return it.

    ``name`` is the layer's dotted name (as in ``model.named_modules()``); without it the last
    ``nn.Linear`` in registration order is replaced, which is the classifier of the usual
    ``features -> pooling -> linear`` network. The new layer has the old one's ``in_features``,
    bias setting, device and dtype, and PyTorch's default initialisation; it is trainable.
    """
    _check_model(model)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be a positive int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes}")
    modules = dict(model.named_modules())
    if name is None:
        linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("model has no nn.Linear layer to replace; pass the head's name")
        name = linears[-1]
    elif not isinstance(name, str) or name not in modules or name == "":
        allowed = ", ".join(n for n, m in modules.items() if isinstance(m, nn.Linear)) or "none"
        raise ValueError(f"model has no module named {name!r}; its linear layers: {allowed}")
    old = modules[name]
    if not isinstance(old, nn.Linear):
        raise TypeError(f"module {name!r} is a {type(old).__name__}, not an nn.Linear")
    if name == "":
        raise ValueError("the model itself is a linear layer; build a new one instead")
    ref = old.weight
    new = nn.Linear(
        old.in_features, int(num_classes), bias=old.bias is not None,
        device=ref.device, dtype=ref.dtype,
    )  # fmt: skip
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new)
    return new


def _select(
    model: nn.Module,
    names: str | Iterable[str] | None,
    types: type | Iterable[type] | None,
) -> list[nn.Parameter]:
    """Parameters of the modules chosen by ``names`` and ``types`` (all of them if both None)."""
    _check_model(model)
    if names is None and types is None:
        return list(model.parameters())
    chosen: dict[int, nn.Parameter] = {}
    if names is not None:
        patterns = [names] if isinstance(names, str) else list(names)
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise TypeError(f"names must be a non-empty string or list of strings, got {names!r}")
        params = list(model.named_parameters())
        for pattern in patterns:
            hits = [p for n, p in params if _matches(n, pattern)]
            if not hits:
                tops = ", ".join(n for n, _ in model.named_children())
                raise ValueError(
                    f"no parameter matches the name {pattern!r}; use a module or parameter "
                    f"name, a dotted prefix or a glob (top-level modules: {tops})"
                )
            chosen.update((id(p), p) for p in hits)
    if types is not None:
        kinds = (types,) if isinstance(types, type) else tuple(types)
        if not kinds or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in kinds):
            raise TypeError(f"types must be nn.Module subclasses, got {types!r}")
        hits = [p for m in model.modules() if isinstance(m, kinds) for p in m.parameters()]
        if not hits:
            wanted = ", ".join(t.__name__ for t in kinds)
            raise ValueError(f"no module of type {wanted} with parameters in the model")
        chosen.update((id(p), p) for p in hits)
    return list(chosen.values())


def freeze(
    model: nn.Module,
    names: str | Iterable[str] | None = None,
    types: type | Iterable[type] | None = None,
) -> int:
    """Set ``requires_grad=False`` on the chosen parameters; return how many values that is.

    ``names`` selects by name: a module or parameter name (``"fc"``, ``"fc.bias"``), everything
    under a dotted prefix, or a glob (``"block*.norm"``). ``types`` selects every module of the
    given classes. Both together take the union; neither freezes the whole model. A name or
    type that selects nothing is an error, so a typo cannot silently freeze nothing.
    """
    params = _select(model, names, types)
    for p in params:
        p.requires_grad_(False)
    return sum(p.numel() for p in params)


def unfreeze(
    model: nn.Module,
    names: str | Iterable[str] | None = None,
    types: type | Iterable[type] | None = None,
) -> int:
    """Set ``requires_grad=True`` on the chosen parameters (selection as in :func:`freeze`)."""
    params = _select(model, names, types)
    for p in params:
        p.requires_grad_(True)
    return sum(p.numel() for p in params)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters with ``requires_grad``, in registration order: what an optimizer needs."""
    _check_model(model)
    return [p for p in model.parameters() if p.requires_grad]


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters with ``requires_grad``, in registration order."""
    _check_model(model)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def count_trainable(model: nn.Module) -> int:
    """Number of trainable values: ``sum(p.numel())`` over :func:`trainable_parameters`."""
    return sum(p.numel() for p in trainable_parameters(model))


def _check_lr(what: str, lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"{what} must be a positive number, got {type(lr).__name__}")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {lr}")
    return float(lr)


def param_groups(
    model: nn.Module, lrs: Mapping[str, float], default_lr: float | None = None
) -> list[dict]:
    """Optimizer parameter groups with one learning rate per name prefix.

    Every trainable parameter goes into exactly one group: that of the longest key of ``lrs``
    that matches its name (as in :func:`freeze`: exact, dotted prefix or glob), else the group
    ``"default"`` with ``default_lr``. Frozen parameters are left out. Each group is
    ``{"params": [...], "lr": lr, "name": key}``; pass the list to any ``torch.optim``
    optimizer. A key that matches no trainable parameter is an error, and so is a parameter
    left over when ``default_lr`` is None.
    """
    _check_model(model)
    if not isinstance(lrs, Mapping) or not lrs:
        raise TypeError(f"lrs must be a non-empty mapping name prefix -> lr, got {lrs!r}")
    rates = {}
    for key, lr in lrs.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"the keys of lrs must be non-empty strings, got {key!r}")
        rates[key] = _check_lr(f"lr of {key!r}", lr)
    if default_lr is not None:
        default_lr = _check_lr("default_lr", default_lr)
    groups: dict[str, list[nn.Parameter]] = {key: [] for key in rates}
    rest: list[nn.Parameter] = []
    left: list[str] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        keys = [k for k in rates if _matches(name, k)]
        if keys:
            groups[max(keys, key=len)].append(p)
        else:
            rest.append(p)
            left.append(name)
    for key in rates:
        if not groups[key]:
            raise ValueError(
                f"no trainable parameter matches {key!r}; trainable: "
                f"{', '.join(trainable_names(model)) or 'none'}"
            )
    if left and default_lr is None:
        raise ValueError(
            f"parameters {', '.join(left)} match no key of lrs; add a key or pass default_lr"
        )
    out = [{"params": groups[k], "lr": rates[k], "name": k} for k in rates]
    if rest:
        out.append({"params": rest, "lr": default_lr, "name": "default"})
    return out
