"""A layer table for any ``nn.Module``: output shapes, parameters, activations and MACs.

:func:`summarize` runs one forward pass on an input of zeros of the given size (batch dimension
included, e.g. ``(1, 3, 224, 224)``) under ``torch.no_grad()`` in eval mode, with a forward hook
on every *leaf* module (a module without children). Each call of a leaf gives one row:

* ``output_shape``: the shape of the output. For an output that is a tuple, list or dict of
  tensors (an LSTM's ``(output, (h, c))``, a dict of heads) it is the shape of the *first*
  tensor found, searching depth-first in order; ``()`` when the output holds no tensor.
* ``params``: the number of parameters of the module, counted once: a module called twice gives
  two rows, the second with 0 parameters, so the rows add up to the model's total.
* ``activations``: the number of elements of that output (of the first tensor, as above). An
  in-place layer (``nn.ReLU(inplace=True)``) returns its input, so the total counts output
  elements, not distinct tensors in memory.
* ``macs``: the multiply-accumulates of that call (rules below); every call counts.

Parameters that belong directly to a module with children (ConvNeXt's ``layer_scale``, a ViT's
class token and position embedding) get a row for that module when it is called, with its own
output and 0 MACs, so no parameter is left out. ``nn.MultiheadAttention`` is treated as a leaf:
its forward uses its ``out_proj`` weight without calling that child module.

**Units.** 1 MAC = one multiply plus one add (``acc += w * x``). Counts of "FLOPs" differ by
convention: torchvision's weight metadata (``meta["_ops"]``, the "GFLOPS" column of its tables)
counts MACs, while :class:`torch.utils.flop_counter.FlopCounterMode` counts 2 FLOPs per MAC.
:func:`flop_counter_macs` divides the latter by 2 to cross-check :func:`summarize`.

**MAC rules**, per call, ``N`` being the batch size:

* ``Conv1d/2d/3d``: ``output elements * (C_in / groups) * prod(kernel_size)``. Every output
  element is a dot product over ``C_in/groups`` channels and the kernel taps; taps that land on
  zero padding are counted too, as every library does.
* ``ConvTranspose1d/2d/3d``: ``input elements * (C_out / groups) * prod(kernel_size)``. Every
  input element is multiplied by one kernel per output channel of its group and added into the
  output (the transpose of the rule above).
* ``Linear``: ``output elements / out_features * in_features * out_features``, i.e.
  ``output elements * in_features``: one dot product of length ``in_features`` per output.
* ``MultiheadAttention`` (``E`` = embed_dim, ``L`` target and ``S`` source length): the
  projections ``N*L*E*E + N*S*kdim*E + N*S*vdim*E``, the scores ``Q K^T`` and the weighted sum of
  the values ``N*L*S'*E`` each (``S' = S`` plus 1 for ``add_bias_kv`` and 1 for
  ``add_zero_attn``), and the output projection ``N*L*E*E``.
* Every other layer: 0 MACs. Normalization, activations, pooling, dropout and reshapes are cheap
  elementwise operations, and FlopCounterMode does not count them either. Biases are not counted
  (one add per output, no multiply). Recurrent layers (``nn.LSTM``, ...), ``nn.Bilinear`` and
  arithmetic written in a ``forward`` outside leaf modules (e.g. a residual ``x + identity``, a
  ``torch.matmul``) are not counted: compare with :func:`flop_counter_macs` when a model has them.

torchvision's AlexNet, VGG, ResNet, MobileNetV2 and ConvNeXt (whose blocks permute to channels
last and use ``Linear`` layers) do all their products in ``Conv2d`` and ``Linear`` leaves: for
them the two counts agree exactly and match ``meta["_ops"]`` to within 0.1% at 224x224.
"""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "Row",
    "Summary",
    "summarize",
    "flop_counter_macs",
]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# Modules with children that are summarized as one unit: their forward does not call them all.
_ATOMIC = (nn.MultiheadAttention,)

DeviceLike = torch.device | str | None


# --- MAC formulas (pure arithmetic on ints) -------------------------------------------------


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def _conv_macs(
    output_elements: int, in_channels: int, groups: int, kernel_size: tuple[int, ...]
) -> int:
    """MACs of a convolution: ``output elements * (C_in / groups) * prod(kernel_size)``."""
    _check_counts(output_elements=output_elements, in_channels=in_channels, groups=groups)
    if groups < 1 or in_channels % groups:
        raise ValueError(f"groups must be >= 1 and divide in_channels={in_channels}, got {groups}")
    return output_elements * (in_channels // groups) * math.prod(kernel_size)


def _conv_transpose_macs(
    input_elements: int, out_channels: int, groups: int, kernel_size: tuple[int, ...]
) -> int:
    """MACs of a transposed convolution: ``input elements * (C_out / groups) * prod(kernel)``."""
    _check_counts(input_elements=input_elements, out_channels=out_channels, groups=groups)
    if groups < 1 or out_channels % groups:
        raise ValueError(
            f"groups must be >= 1 and divide out_channels={out_channels}, got {groups}"
        )
    return input_elements * (out_channels // groups) * math.prod(kernel_size)


def _linear_macs(output_elements: int, in_features: int, out_features: int) -> int:
    """MACs of a linear layer: ``output elements / out_features * in_features * out_features``."""
    _check_counts(
        output_elements=output_elements, in_features=in_features, out_features=out_features
    )
    if out_features and output_elements % out_features:
        raise ValueError(
            f"output_elements={output_elements} must be a multiple of out_features={out_features}"
        )
    return output_elements * in_features


def _attention_macs(
    batch: int,
    target_len: int,
    source_len: int,
    embed_dim: int,
    kdim: int,
    vdim: int,
    extra_keys: int = 0,
) -> int:
    """MACs of multi-head attention (any number of heads), with ``S' = S + extra_keys``::

        N*L*E*E + N*S*kdim*E + N*S*vdim*E   (Q, K, V projections)
        + 2 * N*L*S'*E                      (scores Q K^T, then weights times V)
        + N*L*E*E                           (output projection)
    """
    _check_counts(
        batch=batch,
        target_len=target_len,
        source_len=source_len,
        embed_dim=embed_dim,
        kdim=kdim,
        vdim=vdim,
        extra_keys=extra_keys,
    )
    n, lq, s, e = batch, target_len, source_len, embed_dim
    projections = n * lq * e * e + n * s * kdim * e + n * s * vdim * e
    attention = 2 * n * lq * (s + extra_keys) * e
    return projections + attention + n * lq * e * e


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One call of one module. ``name`` is the qualified name, ``""`` for the model itself."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    activations: int
    macs: int


@dataclass
class Summary:
    """The rows of :func:`summarize` and the model's parameter totals.

    ``total_params`` and ``trainable_params`` count every parameter of the model once, also
    those of modules the forward pass did not call; ``total_macs`` and ``total_activations``
    are the sums over the rows.
    """

    rows: list[Row]
    input_size: tuple[int, ...]
    total_params: int
    trainable_params: int

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def total_activations(self) -> int:
        return sum(row.activations for row in self.rows)

    def _cells(self) -> tuple[list[str], list[list[str]], list[str]]:
        """Header, one list of strings per row, and the totals line."""
        header = ["Layer", "Type", "Output shape", "Params", "Activations", "MACs"]
        body = [
            [
                row.name or "(model)",
                row.type,
                str(row.output_shape),
                f"{row.params:,}",
                f"{row.activations:,}",
                f"{row.macs:,}",
            ]
            for row in self.rows
        ]
        total = [
            "Total",
            "",
            "",
            f"{self.total_params:,}",
            f"{self.total_activations:,}",
            f"{self.total_macs:,}",
        ]
        return header, body, total

    def to_text(self) -> str:
        """A fixed-width table: one line per row, a totals line and the units."""
        header, body, total = self._cells()
        widths = [max(len(line[i]) for line in [header, *body, total]) for i in range(6)]

        def fmt(cells: list[str]) -> str:
            left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True)]
            right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:], strict=True)]
            return "  ".join(left + right).rstrip()

        rule = "-" * len(fmt(["x" * w for w in widths]))
        macs = self.total_macs
        lines = [
            f"Input size: {self.input_size}",
            rule,
            fmt(header),
            rule,
            *(fmt(cells) for cells in body),
            rule,
            fmt(total),
            rule,
            f"Trainable params: {self.trainable_params:,}",
            f"Total MACs: {macs:,} ({_short(macs)}MACs = {_short(2 * macs)}FLOPs; "
            "1 MAC = 1 multiply + 1 add = 2 FLOPs)",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        """An HTML table for notebooks: a header row, one row per call and the totals row."""
        header, body, total = self._cells()

        def tr(cells: list[str], tag: str) -> str:
            tds = []
            for i, cell in enumerate(cells):
                align = ' style="text-align:right"' if i >= 3 else ' style="text-align:left"'
                tds.append(f"<{tag}{align}>{html.escape(cell)}</{tag}>")
            return "<tr>" + "".join(tds) + "</tr>"

        caption = (
            f"Input size {self.input_size}; trainable params {self.trainable_params:,}; "
            f"1 MAC = 1 multiply + 1 add"
        )
        return (
            "<table>"
            f"<caption>{html.escape(caption)}</caption>"
            f"<thead>{tr(header, 'th')}</thead>"
            f"<tbody>{''.join(tr(cells, 'td') for cells in body)}</tbody>"
            f"<tfoot>{tr(total, 'th')}</tfoot>"
            "</table>"
        )


def _short(n: int) -> str:
    """``1_814_073_344`` -> ``"1.81 G"``: three significant digits and a metric prefix."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= factor:
            return f"{n / factor:.3g} {prefix}"
    return f"{n} "


# --- running the model -----------------------------------------------------------------------


def _check_model_and_size(model: object, input_size: object) -> tuple[int, ...]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (
        not isinstance(input_size, tuple)
        or not input_size
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_size)
    ):
        raise ValueError(
            "input_size must be a non-empty tuple of positive ints including the batch "
            f"dimension, e.g. (1, 3, 224, 224); got {input_size!r}"
        )
    return tuple(input_size)


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer; CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _run_forward(
    model: nn.Module,
    input_size: tuple[int, ...],
    device: DeviceLike,
    dtype: torch.dtype,
    around: Callable[[Callable[[], Any]], None],
) -> None:
    """Call ``around(forward)`` with the model in eval mode under ``torch.no_grad()``.

    The input is zeros of ``input_size`` and ``dtype`` on ``device`` (default: the model's
    device); a model elsewhere is moved there and back. Every module's training flag is
    restored afterwards. A forward that fails raises ``ValueError`` with the original message.
    """
    original_device = _model_device(model)
    target = torch.device(device) if device is not None else original_device
    modes = [(module, module.training) for module in model.modules()]
    moved = target != original_device
    try:
        if moved:
            model.to(target)
        model.eval()
        x = torch.zeros(input_size, dtype=dtype, device=target)

        def forward() -> Any:
            try:
                return model(x)
            except Exception as err:
                raise ValueError(
                    f"input_size {input_size} does not fit {type(model).__name__}: the forward "
                    f"pass on a {dtype} input failed with {type(err).__name__}: {err}"
                ) from err

        with torch.no_grad():
            around(forward)
    finally:
        for module, training in modes:
            module.training = training
        if moved:
            model.to(original_device)


def _tensors(output: object) -> Iterator[torch.Tensor]:
    """Every tensor in ``output``, depth-first through tuples, lists and dict values."""
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _tensors(item)


def _first_tensor(output: object) -> torch.Tensor | None:
    return next(_tensors(output), None)


def _attention_call_macs(
    module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> int:
    names = ("query", "key", "value")
    query, key = (args[i] if len(args) > i else kwargs[names[i]] for i in range(2))
    if query.dim() == 2:  # unbatched (L, E)
        batch, target_len, source_len = 1, query.shape[0], key.shape[0]
    elif module.batch_first:  # (N, L, E)
        batch, target_len, source_len = query.shape[0], query.shape[1], key.shape[1]
    else:  # (L, N, E)
        batch, target_len, source_len = query.shape[1], query.shape[0], key.shape[0]
    extra = int(module.bias_k is not None) + int(module.add_zero_attn)
    return _attention_macs(
        batch, target_len, source_len, module.embed_dim, module.kdim, module.vdim, extra
    )


def _call_macs(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output_elements: int
) -> int:
    """MACs of one call of ``module``, following the rules in the module docstring."""
    if isinstance(module, _CONV_TRANSPOSE):
        x = _first_tensor(args)
        input_elements = x.numel() if x is not None else 0
        return _conv_transpose_macs(
            input_elements, module.out_channels, module.groups, tuple(module.kernel_size)
        )
    if isinstance(module, _CONV):
        return _conv_macs(
            output_elements, module.in_channels, module.groups, tuple(module.kernel_size)
        )
    if isinstance(module, nn.Linear):
        return _linear_macs(output_elements, module.in_features, module.out_features)
    if isinstance(module, nn.MultiheadAttention):
        return _attention_call_macs(module, args, kwargs)
    return 0


def _units(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """The modules that get a row: ``(name, module, recurse)``.

    Leaves and ``_ATOMIC`` modules count all their parameters (``recurse=True``) and their MACs;
    a module with children but with parameters of its own counts only those.
    """
    units = []
    inside_atomic: list[str] = []
    for name, module in model.named_modules():
        if any(prefix == "" or name.startswith(prefix + ".") for prefix in inside_atomic):
            continue
        if isinstance(module, _ATOMIC) or not any(True for _ in module.children()):
            units.append((name, module, True))
            inside_atomic.append(name)
        elif any(True for _ in module.parameters(recurse=False)):
            units.append((name, module, False))
    return units


def summarize(
    model: nn.Module,
    input_size: tuple[int, ...],
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> Summary:
    """One row per call of every leaf module of ``model`` on zeros of ``input_size``.

    ``input_size`` includes the batch dimension, e.g. ``(1, 3, 224, 224)``. The forward pass
    runs under ``torch.no_grad()`` in eval mode (the modes are restored afterwards) on
    ``device``, default the model's device. See the module docstring for what each column
    counts and the MAC rules (1 MAC = one multiply plus one add).
    """
    size = _check_model_and_size(model, input_size)
    rows: list[Row] = []
    seen: set[int] = set()

    def make_hook(name: str, recurse: bool) -> Callable[..., None]:
        def hook(
            module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
        ) -> None:
            params = 0
            for p in module.parameters(recurse=recurse):
                if id(p) not in seen:
                    seen.add(id(p))
                    params += p.numel()
            out = _first_tensor(output)
            shape = tuple(out.shape) if out is not None else ()
            elements = out.numel() if out is not None else 0
            macs = _call_macs(module, args, kwargs, elements) if recurse else 0
            rows.append(Row(name, type(module).__name__, shape, params, elements, macs))

        return hook

    handles = []
    try:
        for name, module, recurse in _units(model):
            hook = make_hook(name, recurse)
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        _run_forward(model, size, device, dtype, lambda forward: forward())
    finally:
        for handle in handles:
            handle.remove()

    unique = {id(p): p for p in model.parameters()}.values()
    return Summary(
        rows=rows,
        input_size=size,
        total_params=sum(p.numel() for p in unique),
        trainable_params=sum(p.numel() for p in unique if p.requires_grad),
    )


def flop_counter_macs(
    model: nn.Module,
    input_size: tuple[int, ...],
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> int:
    """Total FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``, divided by 2.

    An independent count of the MACs of one forward pass, set up like :func:`summarize`.
    FlopCounterMode counts matrix products and convolutions only, at the level of PyTorch's
    operators, so it also sees products written outside leaf modules. Two switches make it see
    attention: the fused fast path of ``nn.MultiheadAttention`` (taken under ``no_grad`` in eval
    mode) is turned off, and scaled dot-product attention uses its plain "math" version, whose
    matrix products FlopCounterMode counts (it has no formula for the fused CPU kernel).
    """
    size = _check_model_and_size(model, input_size)
    counter = FlopCounterMode(display=False)

    def around(forward: Callable[[], Any]) -> None:
        mha = getattr(torch.backends, "mha", None)  # torch >= 2.3, as is sdpa_kernel
        fastpath = mha.get_fastpath_enabled() if mha is not None else None
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            math_attention = sdpa_kernel(SDPBackend.MATH)
        except ImportError:
            math_attention = contextlib.nullcontext()
        try:
            if mha is not None:
                mha.set_fastpath_enabled(False)
            with math_attention, counter:
                forward()
        finally:
            if mha is not None:
                mha.set_fastpath_enabled(fastpath)

    _run_forward(model, size, device, dtype, around)
    return counter.get_total_flops() // 2
