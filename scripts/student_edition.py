"""Build the student edition: the book without the solutions of its exercises.

    .venv/bin/python scripts/student_edition.py      # -> _build/student/_build/html/index.html

Every chapter ends with "## Exercises", whose solutions are collapsed ``{admonition} Solution``
(or ``Answer``) blocks on the website. This copies the book's sources to ``_build/student``,
removes those blocks from the Exercises sections (the self-check answers stay: they are for checking
oneself) and builds the copy with ``jupyter-book build -W``. It fails if a chapter has no
Exercises section or no solution in it, or if a built page still shows a solution.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toc import ROOT, toc_notebooks  # noqa: E402

OUT = ROOT / "_build" / "student"
COPIED = ("_config.yml", "_toc.yml", "references.bib", "book", "_ext", "_static", "_vendor")
SOLUTION = re.compile(
    r"^```\{admonition\} (?:Answer|Solution)[^\n]*\n.*?^```[ \t]*\n?", re.DOTALL | re.MULTILINE
)
HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


def strip_solutions(nb: nbformat.NotebookNode) -> int:
    """Remove the Solution (or Answer) blocks of the Exercises section in place; returns how
    many.

    Markdown cells are split at their level-2 headings; a piece belongs to the section of the
    last heading seen, so an Exercises section may span several cells.
    """
    removed = 0
    section = None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        pieces = re.split(r"(?m)^(?=## )", cell.source)
        for i, piece in enumerate(pieces):
            heading = HEADING.match(piece)
            if heading:
                section = heading.group(1).strip()
            if section == "Exercises":
                pieces[i], n = SOLUTION.subn("", piece)
                removed += n
        cell.source = "".join(pieces)
    return removed


def _shows_solution(page: str) -> bool:
    """Whether a built page's Exercises section still holds a Solution or Answer admonition."""
    start = page.find('<section id="exercises">')
    if start < 0:
        return False
    end = page.find("</section>", start)
    return re.search(r'admonition-title">(Solution|Answer)<', page[start:end]) is not None


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    for name in COPIED:
        src = ROOT / name
        if not src.exists():
            sys.exit(f"student_edition: {src} is missing (run scripts/site_assets.py for _vendor)")
        if src.is_dir():
            shutil.copytree(src, OUT / name)
        else:
            shutil.copy2(src, OUT / name)
    config = yaml.safe_load((OUT / "_config.yml").read_text())
    config["title"] = f"{config['title']} (student edition)"
    (OUT / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    problems = []
    total = 0
    for path in toc_notebooks():
        copy = OUT / path.relative_to(ROOT)
        nb = nbformat.read(copy, as_version=4)
        n = strip_solutions(nb)
        if n == 0:
            problems.append(f"{path.name}: no exercise solutions found under '## Exercises'")
        nbformat.write(nb, copy)
        total += n
    if problems:
        print("\n".join(f"student_edition: {p}" for p in problems))
        return 1
    build = subprocess.run(
        [Path(sys.executable).parent / "jupyter-book", "build", str(OUT), "-W", "--keep-going"],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        print(build.stdout[-5000:], build.stderr[-5000:])
        return 1
    html = OUT / "_build" / "html"
    left = [p.name for p in html.rglob("*.html") if _shows_solution(p.read_text())]
    if left:
        print(f"student_edition: solutions left in {', '.join(sorted(left))}")
        return 1
    print(
        f"student_edition: removed {total} exercise solutions from {len(toc_notebooks())} "
        f"chapters; open {OUT / '_build' / 'html' / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
