"""Tests for scripts/student_edition.py: exercise solutions removed, everything else kept."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
_spec = importlib.util.spec_from_file_location(
    "dlcourse_student_edition", REPO / "scripts" / "student_edition.py"
)
student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)

ANSWER = "```{admonition} Answer\n:class: dropdown\n%s\n```\n"
SOLUTION = "```{admonition} Solution\n:class: dropdown\n%s\n```\n"


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(s[5:])
        if s.startswith("code:")
        else nbformat.v4.new_markdown_cell(s)
        for s in sources
    ]
    return nb


def test_only_exercise_solutions_go():
    nb = notebook(
        "## Self-check\n\n1. Q?\n" + ANSWER % "self-check answer",
        "## Exercises\n\n1. Do this.\n" + SOLUTION % "solution one" + "2. Do that.\n",
        "More exercises.\n" + ANSWER % "solution two\nover two lines",
        "code:print('an exercise cell stays')",
        "## Further reading\n\n" + ANSWER % "not an exercise",
    )
    assert student.strip_solutions(nb) == 2
    text = "\n".join(c.source for c in nb.cells)
    assert "solution one" not in text and "solution two" not in text
    assert "over two lines" not in text
    for kept in (
        "self-check answer",
        "1. Do this.",
        "2. Do that.",
        "More exercises.",
        "an exercise cell stays",
        "not an exercise",
    ):
        assert kept in text


def test_exercises_and_next_section_in_one_cell():
    nb = notebook("## Exercises\n\n1. X.\n" + ANSWER % "gone" + "\n## Notes\n\n" + ANSWER % "kept")
    assert student.strip_solutions(nb) == 1
    assert "gone" not in nb.cells[0].source and "kept" in nb.cells[0].source


def test_no_exercises_means_nothing_removed():
    nb = notebook("## Self-check\n\n" + ANSWER % "kept")
    assert student.strip_solutions(nb) == 0
    assert "kept" in nb.cells[0].source
