"""Self-check questions with immediate feedback in Jupyter and Colab, readable on the website.

    quiz(
        MultipleChoice("Which is a special case of which?", ["...", "..."], answer=1,
                       explanation="..."),
        Numeric("How many parameters has a 3x3 conv from 64 to 128 channels?",
                answer=conv_params(64, 128, 3), explanation="(3*3*64 + 1) * 128"),
    )

In a notebook, each question has its controls (radio buttons or a number box), a *Check* button
and a line of feedback. On the website, which has no kernel, the same cell shows the questions
with every answer and explanation collapsed under *Answer* (an HTML ``<details>`` toggle): the
widget is a :class:`~dlcourse.widgets.static.StaticViewBox` whose static view is that HTML.

Question text may contain inline maths as ``\\(...\\)`` (rendered by MathJax on the site and in
the widget) and is otherwise plain text: ``<`` and ``&`` are shown as typed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets

from dlcourse.widgets.static import StaticViewBox

__all__ = ["MultipleChoice", "Numeric", "check", "parse_number", "quiz", "quiz_html"]


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class MultipleChoice:
    """A question with ``options`` of which exactly one, ``options[answer]``, is right."""

    question: str
    options: Sequence[str]
    answer: int
    explanation: str

    def __post_init__(self) -> None:
        _text("question", self.question)
        _text("explanation", self.explanation)
        if isinstance(self.options, str) or not isinstance(self.options, Sequence):
            raise TypeError(f"options must be a list of strings, got {self.options!r}")
        if len(self.options) < 2:
            raise ValueError(
                f"a multiple-choice question needs at least 2 options, got {len(self.options)}"
            )
        for option in self.options:
            _text("every option", option)
        if len(set(self.options)) != len(self.options):
            raise ValueError(
                f"options must be different from each other, got {list(self.options)}"
            )
        if isinstance(self.answer, bool) or not isinstance(self.answer, int):
            raise TypeError(f"answer must be the index of the right option, got {self.answer!r}")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(
                f"answer must be an option index in 0..{len(self.options) - 1}, got {self.answer}"
            )

    @property
    def answer_text(self) -> str:
        return f"{'abcdefghijklmnopqrstuvwxyz'[self.answer]}) {self.options[self.answer]}"


@dataclass(frozen=True)
class Numeric:
    """A question whose answer is a number; a response within ``tolerance`` of it is right.

    ``tolerance`` is absolute; the default 0 accepts the exact value (up to a relative 1e-9,
    so that ``0.1 + 0.2`` counts as ``0.3``). ``unit`` is shown after the box and the answer.
    """

    question: str
    answer: float
    explanation: str
    tolerance: float = 0.0
    unit: str = ""

    def __post_init__(self) -> None:
        _text("question", self.question)
        _text("explanation", self.explanation)
        for name in ("answer", "tolerance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        if not isinstance(self.unit, str):
            raise TypeError(f"unit must be a string, got {self.unit!r}")

    @property
    def answer_text(self) -> str:
        value = f"{self.answer:,}" if float(self.answer).is_integer() else f"{self.answer:g}"
        if self.tolerance:
            value += f" (± {self.tolerance:g})"
        return f"{value} {self.unit}".strip()


Question = MultipleChoice | Numeric


def parse_number(text: str) -> float:
    """A number typed by a reader: ``1234``, ``1,234``, ``1_234``, ``1.5e6``, ``-0.25``."""
    if not isinstance(text, str):
        raise TypeError(f"expected the typed text, got {type(text).__name__}")
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a number; type digits like 1234 or 1.5e6") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def check(question: Question, response: int | str | None) -> tuple[bool, str]:
    """(right?, feedback) for a reader's ``response``: an option index for a
    :class:`MultipleChoice`, the typed text for a :class:`Numeric`."""
    if isinstance(question, MultipleChoice):
        if response is None:
            return False, "Pick an option first."
        if isinstance(response, bool) or not isinstance(response, int):
            raise TypeError(f"a multiple-choice response is an option index, got {response!r}")
        if not 0 <= response < len(question.options):
            raise ValueError(f"no option {response}; options are 0..{len(question.options) - 1}")
        if response == question.answer:
            return True, f"Right. {question.explanation}"
        return False, "Not quite; try again, or open the explanation."
    if isinstance(question, Numeric):
        if response is None or (isinstance(response, str) and not response.strip()):
            return False, "Type a number first."
        try:
            value = parse_number(response)
        except ValueError as exc:
            return False, str(exc)
        close = math.isclose(value, question.answer, rel_tol=1e-9, abs_tol=question.tolerance)
        if close:
            return True, f"Right: {question.answer_text}. {question.explanation}"
        direction = "high" if value > question.answer else "low"
        return False, f"Not quite: {value:g} is too {direction}."
    raise TypeError(f"expected a MultipleChoice or Numeric question, got {type(question).__name__}")


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _check_questions(questions: Sequence[object]) -> list[Question]:
    if not questions:
        raise ValueError("a quiz needs at least one question")
    for q in questions:
        if not isinstance(q, MultipleChoice | Numeric):
            raise TypeError(f"expected MultipleChoice or Numeric questions, got {type(q).__name__}")
    return list(questions)  # type: ignore[arg-type]


def quiz_html(questions: Sequence[Question], title: str = "Self-check") -> str:
    """The static view: numbered questions, options as a lettered list, and each answer with
    its explanation collapsed in a ``<details>`` element."""
    questions = _check_questions(questions)
    parts = [f'<div class="dlcourse-quiz"><p class="dlcourse-quiz-title">{_esc(title)}</p><ol>']
    for q in questions:
        parts.append(f"<li><p>{_esc(q.question)}</p>")
        if isinstance(q, MultipleChoice):
            items = "".join(f"<li>{_esc(o)}</li>" for o in q.options)
            parts.append(f'<ol type="a">{items}</ol>')
        parts.append(
            f"<details><summary>Answer</summary><p><strong>{_esc(q.answer_text)}</strong>. "
            f"{_esc(q.explanation)}</p></details></li>"
        )
    parts.append("</ol></div>")
    return "".join(parts)


def _question_widget(number: int, q: Question) -> widgets.VBox:
    label = widgets.HTMLMath(f"<b>{number}.</b> {_esc(q.question)}")
    feedback = widgets.HTMLMath("")
    button = widgets.Button(description="Check", layout=widgets.Layout(width="8em"))
    if isinstance(q, MultipleChoice):
        control = widgets.RadioButtons(
            options=[(o, i) for i, o in enumerate(q.options)],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
    else:
        control = widgets.Text(placeholder="a number", layout=widgets.Layout(width="14em"))

    def on_click(_button=None) -> None:
        right, text = check(q, control.value)
        colour = "green" if right else "#b35900"
        feedback.value = f'<span style="color: {colour}">{_esc(text)}</span>'

    button.on_click(on_click)
    row = [control, widgets.Label(q.unit)] if isinstance(q, Numeric) and q.unit else [control]
    box = widgets.VBox([label, widgets.HBox([*row, button]), feedback])
    box.control, box.button, box.feedback, box.check = control, button, feedback, on_click
    return box


def quiz(*questions: Question, title: str = "Self-check") -> StaticViewBox:
    """The questions as a widget with immediate feedback; on the website, :func:`quiz_html`.

    The returned box carries ``questions`` (one ``VBox`` per question, each with ``control``,
    ``button``, ``feedback`` and ``check()``) for use from code and tests.
    """
    qs = _check_questions(questions)
    _text("title", title)
    items = [_question_widget(n, q) for n, q in enumerate(qs, start=1)]
    box = StaticViewBox([widgets.HTML(f"<b>{_esc(title)}</b>"), *items])
    box.static_html = quiz_html(qs, title)
    box.questions = items
    return box
