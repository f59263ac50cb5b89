"""Making a trained CNN smaller and faster: magnitude pruning, batch-norm folding and int8
post-training quantization.

- **Pruning** (:func:`magnitude_prune`, :func:`apply_masks`, :func:`sparsity`): set the weights
  of smallest magnitude ``|w|`` to zero, per layer or over all layers at once, and keep them at
  zero while the network retrains. The same choice as ``torch.nn.utils.prune.l1_unstructured``
  and ``global_unstructured`` with ``L1Unstructured``: the ``round(amount * n)`` smallest.
- **Size** (:func:`model_size_bytes`): the bytes of the serialized state dict.
- **Batch-norm folding** (:func:`fold_bn_model`): every conv -> BN pair of an ``nn.Sequential``
  replaced by one convolution (:func:`dlcourse.layers.fold_batch_norm`), for inference.
- **int8 quantization** (:func:`quantize_int8`): eager-mode post-training static quantization
  with ``torch.ao.quantization`` (QuantStub/DeQuantStub, fusion, observers, calibration,
  conversion). Quantized kernels run on the CPU only, so the result lives on the CPU.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .layers import fold_batch_norm

__all__ = [
    "PRUNABLE",
    "prunable_weights",
    "magnitude_prune",
    "apply_masks",
    "sparsity",
    "model_size_bytes",
    "fold_bn_model",
    "fusion_groups",
    "quantize_int8",
]

#: The layer types whose ``weight`` pruning acts on.
PRUNABLE = (nn.Conv2d, nn.Linear)

# torch.ao.quantization's eager mode still works in torch 2.x but announces its move to the
# separate torchao package with a DeprecationWarning on every call; we silence only that one.
_AO_DEPRECATION = "torch.ao.quantization is deprecated"
# Converting also triggers (once per process) a warning that quantized tensor dtypes are to move.
_QTENSOR_DEPRECATION = "torch.quantize_per_tensor, torch.quantize_per_channel"


# --- pruning ---------------------------------------------------------------------------------


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The ``weight`` of every ``nn.Conv2d`` and ``nn.Linear`` in ``model``, by qualified name
    (``"conv1.weight"``, ``"block2.pointwise.conv.weight"``), in module order. Biases and
    batch-norm parameters are few and are left alone, as is usual."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {
        f"{name}.weight" if name else "weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE)
    }


def _check_amount(amount: object) -> float:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"amount must be a fraction in [0, 1], got {type(amount).__name__}")
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount!r}")
    return float(amount)


def _smallest_mask(magnitudes: torch.Tensor, amount: float) -> torch.Tensor:
    """A 0/1 mask of the shape of ``magnitudes`` with 0 at its ``round(amount * n)`` smallest
    entries (``torch.topk(largest=False)``, the rule of ``torch.nn.utils.prune``)."""
    k = round(amount * magnitudes.numel())
    mask = torch.ones_like(magnitudes)
    if k > 0:
        smallest = torch.topk(magnitudes.reshape(-1), k=k, largest=False).indices
        mask.view(-1)[smallest] = 0
    return mask


def magnitude_prune(
    model: nn.Module, amount: float, scope: str = "global"
) -> dict[str, torch.Tensor]:
    """Zero the weights of smallest magnitude in place and return the 0/1 masks, by name.

    ``amount`` is the fraction of the weights of :func:`prunable_weights` to remove.
    ``scope="layer"``: every layer loses the fraction ``amount`` of its own weights.
    ``scope="global"``: the ``round(amount * n)`` smallest ``|w|`` over all ``n`` weights of
    all layers together, so layers with many small weights lose more than others. Weights
    that are zero already count among the smallest, so pruning again with a larger
    ``amount`` extends the earlier masks. Re-apply the masks after every optimizer step
    (:func:`apply_masks`) to keep the pruned weights at zero while retraining.
    """
    amount = _check_amount(amount)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    weights = prunable_weights(model)
    if not weights:
        raise ValueError("model has no nn.Conv2d or nn.Linear weight to prune")
    with torch.no_grad():
        if scope == "layer":
            masks = {name: _smallest_mask(w.abs(), amount) for name, w in weights.items()}
        else:
            flat = torch.cat([w.abs().reshape(-1) for w in weights.values()])
            flat_mask = _smallest_mask(flat, amount)
            masks, start = {}, 0
            for name, w in weights.items():
                masks[name] = flat_mask[start : start + w.numel()].reshape(w.shape)
                start += w.numel()
    apply_masks(model, masks)
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Multiply every weight named in ``masks`` by its mask, in place (pruned weights -> 0).

    Call it after each optimizer step while retraining a pruned model, e.g. as
    ``fit(..., on_step=lambda info: apply_masks(model, masks))``: the optimizer (with momentum
    or Adam's running averages) would otherwise move the pruned weights away from zero.
    """
    if not isinstance(masks, dict):
        raise TypeError(f"masks must be a dict name -> mask tensor, got {type(masks).__name__}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            if name not in params:
                raise ValueError(f"the model has no parameter {name!r}")
            if mask.shape != params[name].shape:
                raise ValueError(
                    f"mask of {name!r} has shape {tuple(mask.shape)}, the parameter "
                    f"{tuple(params[name].shape)}"
                )
            params[name].mul_(mask.to(params[name].device))


def sparsity(model: nn.Module, per_layer: bool = False) -> float | dict[str, float]:
    """The fraction of exact zeros among the weights of :func:`prunable_weights`: over all of
    them together, or with ``per_layer=True`` one fraction per weight, by name."""
    weights = prunable_weights(model)
    if not weights:
        raise ValueError("model has no nn.Conv2d or nn.Linear weight")
    zeros = {name: int((w == 0).sum()) for name, w in weights.items()}
    if per_layer:
        return {name: zeros[name] / w.numel() for name, w in weights.items()}
    return sum(zeros.values()) / sum(w.numel() for w in weights.values())


# --- size ------------------------------------------------------------------------------------


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the weights and buffers as stored on disk
    (4 bytes per float32 value, 1 per int8 value, plus a small header per tensor). Pruned
    weights are stored as zeros, so pruning alone does not change this size."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


# --- batch-norm folding ------------------------------------------------------------------------


def _is_plain_sequential(module: nn.Module) -> bool:
    """An ``nn.Sequential`` (or subclass) that calls its children in order, one after another."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _fold_in_place(module: nn.Module) -> int:
    """Fold the conv -> BN pairs below ``module``; returns how many were folded."""
    folded = 0
    for name, child in list(module.named_children()):
        if _is_plain_sequential(child):
            items = list(child.named_children())
            kept: OrderedDict[str, nn.Module] = OrderedDict()
            i = 0
            while i < len(items):
                sub_name, sub = items[i]
                nxt = items[i + 1][1] if i + 1 < len(items) else None
                if (
                    isinstance(sub, nn.Conv2d)
                    and isinstance(nxt, nn.BatchNorm2d)
                    and nxt.track_running_stats
                    and nxt.num_features == sub.out_channels
                ):
                    kept[sub_name] = fold_batch_norm(sub, nxt)
                    folded += 1
                    i += 2
                else:
                    kept[sub_name] = sub
                    i += 1
            new_child = nn.Sequential(kept)
            folded += _fold_in_place(new_child)
            setattr(module, name, new_child)
        else:
            folded += _fold_in_place(child)
    return folded


def fold_bn_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every conv -> BN pair folded into one convolution.

    A pair is an ``nn.Conv2d`` directly followed by an ``nn.BatchNorm2d`` (with running
    statistics) among the children of an ``nn.Sequential``, whose order is the order of the
    calls; the convolution becomes :func:`dlcourse.layers.fold_batch_norm` ``(conv, bn)``, the
    batch norm disappears and the other children keep their names. Modules with their own
    ``forward`` are searched for such Sequentials but not rewired: there the order of the
    children need not be the order of the calls. The copy computes the same as
    ``model.eval()`` up to rounding, and only in eval mode: batch norm in training mode uses
    each batch's statistics.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parent = nn.Module()  # so that a top-level nn.Sequential is rebuilt like any other child
    parent.add_module("model", copy.deepcopy(model))
    _fold_in_place(parent)
    return parent.model.eval()


# --- int8 quantization -------------------------------------------------------------------------


def _plain_sequentials(model: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    if _is_plain_sequential(model):
        yield prefix, model
    for name, child in model.named_children():
        yield from _plain_sequentials(child, f"{prefix}.{name}" if prefix else name)


def fusion_groups(model: nn.Module) -> list[list[str]]:
    """The runs of modules that ``torch.ao.quantization.fuse_modules`` can merge, by name:
    conv -> BN -> ReLU, conv -> BN, conv -> ReLU and linear -> ReLU, adjacent in an
    ``nn.Sequential`` (whose order is the order of the calls)."""
    groups: list[list[str]] = []
    for prefix, seq in _plain_sequentials(model):
        items = list(seq.named_children())
        full = [f"{prefix}.{n}" if prefix else n for n, _ in items]
        mods = [m for _, m in items]
        i = 0
        while i < len(mods):
            kinds = [type(m) for m in mods[i : i + 3]]
            if kinds[:3] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]:
                length = 3
            elif kinds[:2] in ([nn.Conv2d, nn.BatchNorm2d], [nn.Conv2d, nn.ReLU]):
                length = 2
            elif kinds[:2] == [nn.Linear, nn.ReLU]:
                length = 2
            else:
                length = 1
            if length > 1:
                groups.append(full[i : i + length])
            i += length
    return groups


def quantize_int8(model: nn.Module, calibration: Iterable, backend: str = "x86") -> nn.Module:
    """An int8 copy of ``model`` on the CPU, by eager-mode post-training static quantization.

    The steps of ``torch.ao.quantization``, with its deprecation warnings silenced:

    1. copy the model to the CPU in eval mode and wrap it as QuantStub -> model -> DeQuantStub
       (``QuantWrapper``): float input in, int8 inside, float output out;
    2. fuse the runs of :func:`fusion_groups` (conv + BN + ReLU become one int8 kernel);
    3. attach observers (``prepare``): per-channel symmetric int8 weights; activations as
       ``quint8`` limited to ``[0, 127]`` with a histogram observer, i.e. the ``x86`` backend's
       default ``reduce_range`` written explicitly, which avoids overflow in the int16
       intermediate sums of its kernels on CPUs without VNNI instructions;
    4. run the ``calibration`` batches (an iterable of inputs or of ``(inputs, targets)``)
       through it, so the observers record the range of every activation;
    5. ``convert``: replace every layer by its int8 version with the recorded scales.

    ``backend``: ``"x86"`` (default) or ``"fbgemm"`` (server CPUs) or ``"qnnpack"`` (ARM).
    The model must use modules for its operations (no ``x + y`` or ``torch.cat`` in a
    ``forward``, which would need ``nn.quantized.FloatFunctional``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(
            f"backend {backend!r} is not supported by this PyTorch build; "
            f"allowed: {torch.backends.quantized.supported_engines}"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_AO_DEPRECATION, category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=_QTENSOR_DEPRECATION, category=UserWarning)
        from torch.ao import quantization as tq

        torch.backends.quantized.engine = backend
        float_model = copy.deepcopy(model).cpu().eval()
        groups = fusion_groups(float_model)
        if groups:
            tq.fuse_modules(float_model, groups, inplace=True)
        wrapped = tq.QuantWrapper(float_model).eval()
        wrapped.qconfig = tq.QConfig(
            activation=tq.HistogramObserver.with_args(
                dtype=torch.quint8, quant_min=0, quant_max=127
            ),
            weight=tq.default_per_channel_weight_observer,
        )
        tq.prepare(wrapped, inplace=True)
        batches = 0
        with torch.no_grad():
            for batch in calibration:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                wrapped(x.cpu())
                batches += 1
        if batches == 0:
            raise ValueError("calibration yielded no batches: the observers saw no data")
        tq.convert(wrapped, inplace=True)
    return wrapped
