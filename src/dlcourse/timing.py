"""Wall-clock timing that is fair to every contestant.

Functions are timed in turns, one run of each per round, and the median is reported, so a slow
phase of the machine (another process, a busy neighbour on a shared VM) hits all of them alike
and single outliers do not move the result.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median_times_ms(
    fns: dict[str, Callable[[], Any]], repeats: int = 30, warmup: int = 3
) -> dict[str, float]:
    """Median wall-clock time of each ``fn()`` in milliseconds, timed in interleaved rounds."""
    if not fns:
        raise ValueError("give at least one function to time")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) * 1000.0 for name, ts in times.items()}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo when present, otherwise what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"
