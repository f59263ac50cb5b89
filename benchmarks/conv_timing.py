"""Time the from-scratch convolutions against torch.nn.functional.conv2d on the CPU.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/conv_timing.py [--repeats N] [--out FILE]

The layer is a typical ResNet stage-1 convolution: input (1, 64, 56, 56), weight (64, 64, 3, 3),
padding 1. Each implementation is warmed up, then timed ``--repeats`` times with
``time.perf_counter``; the table reports the median. The naive version is timed only a few times
because it is slow. Exits with status 1 if im2col is more than 3x slower than F.conv2d.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from dlcourse.layers import conv2d_im2col, conv2d_naive
from dlcourse.timing import cpu_name, median_times_ms

INPUT_SHAPE = (1, 64, 56, 56)
WEIGHT_SHAPE = (64, 64, 3, 3)
PADDING = 1
MAX_IM2COL_RATIO = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed runs for im2col and F.conv2d (default 30)"
    )
    parser.add_argument(
        "--naive-repeats", type=int, default=3, help="timed runs for the naive loop (default 3)"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.naive_repeats < 1:
        parser.error("--repeats and --naive-repeats must be >= 1")

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*INPUT_SHAPE, generator=gen)
    w = torch.randn(*WEIGHT_SHAPE, generator=gen)
    b = torch.randn(WEIGHT_SHAPE[0], generator=gen)

    impls: dict[str, Callable[..., torch.Tensor]] = {
        "F.conv2d": F.conv2d,
        "conv2d_im2col": conv2d_im2col,
        "conv2d_naive": conv2d_naive,
    }

    def bind(fn: Callable[..., torch.Tensor]) -> Callable[[], torch.Tensor]:
        return lambda: fn(x, w, b, padding=PADDING)

    with torch.inference_mode():
        reference = F.conv2d(x, w, b, padding=PADDING)
        for name in ("conv2d_im2col", "conv2d_naive"):
            if not torch.allclose(bind(impls[name])(), reference, atol=1e-3, rtol=1e-4):
                print(f"error: {name} does not match F.conv2d", file=sys.stderr)
                return 1

        fast = ("F.conv2d", "conv2d_im2col")
        medians = median_times_ms({k: bind(impls[k]) for k in fast}, args.repeats, warmup=5)
        naive = {"conv2d_naive": bind(conv2d_naive)}
        medians |= median_times_ms(naive, args.naive_repeats, warmup=1)

    base = medians["F.conv2d"]
    lines = [
        f"Conv2d timing: input {INPUT_SHAPE}, weight {WEIGHT_SHAPE}, padding {PADDING}, "
        "float32, CPU",
        "",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- CPU: {cpu_name()} ({platform.machine()}, {platform.system()})",
        f"- median of {args.repeats} runs (naive: {args.naive_repeats}) after warm-up",
        "",
        "| implementation | median ms | ratio to F.conv2d |",
        "|---|---:|---:|",
    ]
    for name in impls:
        lines.append(f"| {name} | {medians[name]:.3f} | {medians[name] / base:.2f}x |")
    table = "\n".join(lines) + "\n"

    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)

    ratio = medians["conv2d_im2col"] / base
    if ratio > MAX_IM2COL_RATIO:
        print(
            f"FAIL: conv2d_im2col is {ratio:.2f}x slower than F.conv2d "
            f"(allowed: at most {MAX_IM2COL_RATIO:g}x).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
