"""Tests for scripts/toc.py: the notebooks of _toc.yml, and no notebook left out."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("dlcourse_toc_script", REPO / "scripts" / "toc.py")
toc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toc)

TOC = """\
format: jb-book
root: book/intro
parts:
  - caption: "Part I"
    chapters:
      - file: book/b_second
      - file: book/a_first.ipynb
        sections:
          - file: book/sub/section
  - caption: "Part II"
    chapters:
      - file: book/notes
      - file: book/c_third
"""


def _notebook(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small, consistent book: md root and notes, notebooks in parts, chapters, sections."""
    (tmp_path / "_toc.yml").write_text(TOC)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "notes.md").write_text("# Notes\n")
    for name in ("b_second", "a_first", "sub/section", "c_third"):
        _notebook(tmp_path / "book" / f"{name}.ipynb")
    return tmp_path


def test_toc_files_in_order(tree):
    assert toc.toc_files(tree / "_toc.yml") == [
        "book/intro",
        "book/b_second",
        "book/a_first.ipynb",
        "book/sub/section",
        "book/notes",
        "book/c_third",
    ]


def test_correct_tree_gives_notebooks_in_toc_order(tree):
    assert toc.toc_notebooks(tree) == [
        tree / "book" / "b_second.ipynb",
        tree / "book" / "a_first.ipynb",
        tree / "book" / "sub" / "section.ipynb",
        tree / "book" / "c_third.ipynb",
    ]


def test_notebook_is_preferred_over_markdown_of_same_name(tree):
    (tree / "book" / "c_third.md").write_text("# also markdown\n")
    assert toc.toc_notebooks(tree)[-1] == tree / "book" / "c_third.ipynb"


def test_unlisted_notebook_raises_naming_it(tree):
    _notebook(tree / "book" / "extra" / "forgotten.ipynb")
    with pytest.raises(ValueError) as err:
        toc.toc_notebooks(tree)
    assert "book/extra/forgotten.ipynb is not listed" in str(err.value)


def test_checkpoint_copies_are_not_unlisted_notebooks(tree):
    _notebook(tree / "book" / ".ipynb_checkpoints" / "a_first-checkpoint.ipynb")
    assert len(toc.toc_notebooks(tree)) == 4


def test_listed_but_missing_file_raises_naming_it(tree):
    (tree / "book" / "c_third.ipynb").unlink()
    with pytest.raises(ValueError) as err:
        toc.toc_notebooks(tree)
    assert "book/c_third" in str(err.value)
    assert "a_first" not in str(err.value)


def test_missing_root_raises(tree):
    (tree / "book" / "intro.md").unlink()
    with pytest.raises(ValueError, match="book/intro"):
        toc.toc_notebooks(tree)


def test_every_problem_is_reported(tree):
    (tree / "book" / "b_second.ipynb").unlink()
    _notebook(tree / "book" / "stray.ipynb")
    with pytest.raises(ValueError) as err:
        toc.toc_notebooks(tree)
    assert "book/b_second" in str(err.value)
    assert "book/stray.ipynb" in str(err.value)


def test_toc_with_chapters_only(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/one\n"
    )
    _notebook(tmp_path / "book" / "index.ipynb")
    _notebook(tmp_path / "book" / "one.ipynb")
    assert toc.toc_notebooks(tmp_path) == [
        tmp_path / "book" / "index.ipynb",
        tmp_path / "book" / "one.ipynb",
    ]


def _real_toc_state() -> tuple[list[str], list[str]]:
    listed = toc.toc_files(REPO / "_toc.yml")
    missing = [
        entry
        for entry in listed
        if not any(
            (REPO / f"{entry.removesuffix('.ipynb').removesuffix('.md')}{suffix}").is_file()
            for suffix in (".ipynb", ".md")
        )
    ]
    return listed, missing


def test_real_repository():
    """Every returned notebook exists and is listed, and every notebook in book/ is returned;
    while the toc lists a file that does not exist yet, the error must name it."""
    listed, missing = _real_toc_state()
    if missing:
        with pytest.raises(ValueError) as err:
            toc.toc_notebooks()
        for entry in missing:
            assert f"lists {entry}," in str(err.value)
        return
    paths = toc.toc_notebooks()
    assert len(set(paths)) == len(paths)
    stems = {e.removesuffix(".ipynb").removesuffix(".md") for e in listed}
    for path in paths:
        assert path.is_file() and path.suffix == ".ipynb"
        assert path.relative_to(REPO).with_suffix("").as_posix() in stems
    in_book = {p for p in (REPO / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert in_book <= set(paths)


def test_command_line_on_real_repository():
    _, missing = _real_toc_state()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "toc.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if missing:
        assert result.returncode != 0
        assert result.stderr.startswith("toc: ")
        assert result.stdout == ""
    else:
        assert result.returncode == 0, result.stderr
        expected = [p.relative_to(REPO).as_posix() for p in toc.toc_notebooks()]
        assert result.stdout.splitlines() == expected
