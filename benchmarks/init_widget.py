"""Time one update of the weight-initialization widget at its default settings.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/init_widget.py [--repeats N]

One update is what a change of a control costs: :func:`dlcourse.widgets.render_init` (the
experiment with ``keep=INIT_KEEP`` values per layer, then the figure) and the PNG the widget
shows (one ``savefig``; the layout is fixed, so no tight bounding box). The parts are timed too,
and, for comparison, the PNG with a tight bounding box that ``display(fig)`` in a notebook
would make (it draws the figure twice). Exits with status 1 if the median update takes over
0.5 s. The load average is printed: on a shared machine it explains slow runs.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from dlcourse.initialization import forward_stats  # noqa: E402
from dlcourse.plot import use_style  # noqa: E402
from dlcourse.timing import cpu_name, median_times_ms  # noqa: E402
from dlcourse.widgets import INIT_DEFAULTS, INIT_KEEP, render_init  # noqa: E402

BUDGET_MS = 500.0


def png(fig, tight: bool = False) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight" if tight else None)
    plt.close(fig)
    return buf.getvalue()


def stats_only() -> None:
    forward_stats(**INIT_DEFAULTS, keep=INIT_KEEP)


def render_only() -> None:
    plt.close(render_init({}))


def update() -> None:
    """What the widget does on a change: render_init, then one PNG."""
    png(render_init({}))


def update_tight() -> None:
    png(render_init({}), tight=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (default 10)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    use_style()  # the book's figure style, as in every chapter

    fns = {
        "forward_stats only": stats_only,
        "render_init (figure built, not drawn)": render_only,
        "widget update: render_init + PNG": update,
        "for comparison: render_init + tight PNG": update_tight,
    }
    medians = median_times_ms(fns, repeats=args.repeats, warmup=2)
    settings = ", ".join(f"{k}={v!r}" for k, v in INIT_DEFAULTS.items())
    lines = [
        f"init widget update time at the defaults ({settings}, keep={INIT_KEEP})",
        "",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads, matplotlib "
        f"{matplotlib.__version__}",
        f"- CPU: {cpu_name()} ({platform.machine()}, {platform.system()})",
        f"- median of {args.repeats} interleaved runs after warm-up; load average "
        f"{os.getloadavg()[0]:.1f} (1 min)",
        "",
        "| step | median ms |",
        "|---|---:|",
        *(f"| {name} | {ms:.1f} |" for name, ms in medians.items()),
    ]
    print("\n".join(lines))
    total = medians["widget update: render_init + PNG"]
    if total > BUDGET_MS:
        print(f"error: an update takes {total:.0f} ms, over {BUDGET_MS:.0f} ms", file=sys.stderr)
        return 1
    print(f"\nupdate {total:.0f} ms <= {BUDGET_MS:.0f} ms: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
