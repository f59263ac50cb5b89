"""Print the notebooks listed in _toc.yml, one path a line, in reading order.

Exits with an error if a listed file is missing or a notebook in book/ is not listed, so that no
chapter can escape the regression run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every ``root``/``file`` entry of a jb-book table of contents, in order, without suffix."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return files


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The toc's notebooks; raises ``ValueError`` on a missing file or an unlisted notebook."""
    problems = []
    notebooks = []
    listed = set()
    for entry in toc_files(root / "_toc.yml"):
        stem = entry.removesuffix(".ipynb").removesuffix(".md")
        listed.add(stem)
        candidates = [root / f"{stem}.ipynb", root / f"{stem}.md"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            problems.append(f"_toc.yml lists {entry}, but neither .ipynb nor .md exists")
        elif found[0].suffix == ".ipynb":
            notebooks.append(found[0])
    for nb in sorted((root / "book").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        if nb.relative_to(root).with_suffix("").as_posix() not in listed:
            problems.append(f"{nb.relative_to(root)} is not listed in _toc.yml")
    if problems:
        raise ValueError("; ".join(problems))
    return notebooks


if __name__ == "__main__":
    try:
        paths = toc_notebooks()
    except ValueError as err:
        sys.exit(f"toc: {err}")
    print("\n".join(p.relative_to(ROOT).as_posix() for p in paths))
