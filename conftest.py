"""Repository-wide pytest plugin: execution time of every notebook run by nbval.

Prints one line per notebook and the total after the run, and fails the run when a notebook
exceeds its budget (``DLCOURSE_NOTEBOOK_BUDGET_S``, default 240 s) or all of them together
exceed ``DLCOURSE_BOOK_BUDGET_S`` (default 2400 s = 40 min). The times are also written to
``_build/notebook-times.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

_start: dict[str, float] = {}
_end: dict[str, float] = {}
_over_budget: list[str] = []


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_runtest_logstart(nodeid, location):  # noqa: ARG001
    nb = _notebook_of(nodeid)
    if nb is not None:
        _start.setdefault(nb, time.perf_counter())


def pytest_runtest_logfinish(nodeid, location):  # noqa: ARG001
    nb = _notebook_of(nodeid)
    if nb is not None:
        _end[nb] = time.perf_counter()


def _budgets() -> tuple[float, float]:
    per_nb = float(os.environ.get("DLCOURSE_NOTEBOOK_BUDGET_S", 240))
    whole = float(os.environ.get("DLCOURSE_BOOK_BUDGET_S", 2400))
    return per_nb, whole


def _times() -> dict[str, float]:
    return {nb: _end.get(nb, _start[nb]) - _start[nb] for nb in _start}


def pytest_sessionfinish(session, exitstatus):
    """Runs before the terminal summary: check the budgets and fail the session if exceeded."""
    if not _start:
        return
    per_nb, whole = _budgets()
    times = _times()
    _over_budget.extend(
        f"{nb} took {sec:.0f} s (budget {per_nb:.0f} s)"
        for nb, sec in times.items()
        if sec > per_nb
    )
    if sum(times.values()) > whole:
        _over_budget.append(
            f"the notebooks took {sum(times.values()):.0f} s (budget {whole:.0f} s)"
        )
    out = Path(session.config.rootpath) / "_build" / "notebook-times.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds": times, "total": sum(times.values())}, indent=1))
    if _over_budget and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if not _start:
        return
    per_nb, whole = _budgets()
    times = _times()
    tr = terminalreporter
    tr.section("notebook execution times")
    for nb, seconds in times.items():
        flag = "  OVER BUDGET" if seconds > per_nb else ""
        tr.write_line(f"{seconds:8.1f} s  {nb}{flag}")
    total = sum(times.values())
    tr.write_line(f"{total:8.1f} s  total for {len(times)} notebooks (budget {whole:.0f} s)")
    for line in _over_budget:
        tr.write_line(f"FAILED time budget: {line}", red=True)
