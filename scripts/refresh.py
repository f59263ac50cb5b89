"""Re-execute notebooks and store their outputs in place (what the website shows).

    .venv/bin/python scripts/refresh.py book/convolution.ipynb [more.ipynb ...]
    .venv/bin/python scripts/refresh.py --all        # every notebook of _toc.yml
    .venv/bin/python scripts/refresh.py --all --output-dir executed --timeout 600   # (GPU CI)

Each notebook runs top to bottom in a fresh kernel of the current environment, with its own
folder as working directory; the time it took is printed. A failing cell stops that notebook and
leaves the file unchanged. The file is replaced atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toc import toc_notebooks  # noqa: E402


def refresh(path: Path, timeout: int = 900, output_dir: Path | None = None) -> float:
    """Execute ``path`` (``timeout`` seconds per cell); write it in place or into ``output_dir``."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    # The site shows each widget's static view and a notebook front end re-runs the cell, so
    # the widgets' last state (a copy of every figure they drew) is not stored. (It is kept
    # during the run: nbclient's Output-widget capture needs it.)
    nb.metadata.pop("widgets", None)
    seconds = time.perf_counter() - start
    target = path if output_dir is None else output_dir / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(target)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true", help="every notebook listed in _toc.yml")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument("--output-dir", type=Path, help="write executed copies here instead")
    args = parser.parse_args()
    paths = toc_notebooks() if args.all else args.notebooks
    if not paths:
        parser.error("name notebooks or pass --all")
    total = 0.0
    for path in paths:
        seconds = refresh(path, args.timeout, args.output_dir)
        total += seconds
        print(f"{seconds:7.1f} s  {path}", flush=True)
    print(f"{total:7.1f} s  total for {len(paths)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
