"""Tests for dlcourse.quiz: answers checked, feedback given, and the static view for the site."""

from __future__ import annotations

import re

import pytest

from dlcourse.arithmetic import conv_params
from dlcourse.quiz import MultipleChoice, Numeric, check, parse_number, quiz, quiz_html

MC = MultipleChoice(
    "Which is a special case of which?",
    ["Convolution is a special case of a fully connected layer", "Neither", "x < y & z"],
    answer=0,
    explanation="A conv layer is an FC layer with shared, mostly zero weights.",
)
NUM = Numeric(
    "Parameters of a 3x3 conv from 64 to 128 channels, with bias?",
    answer=conv_params(64, 128, 3),
    explanation="(3 * 3 * 64 + 1) * 128.",
)


def test_conv_params_of_the_example_is_the_hand_count():
    assert NUM.answer == (3 * 3 * 64 + 1) * 128 == 73_856


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("73856", 73856),
        ("73,856", 73856),
        ("73_856", 73856),
        (" 7.3856e4 ", 73856),
        ("-0.25", -0.25),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["abc", "1..2", "", "nan", "inf"])
def test_parse_number_rejects_non_numbers(text):
    with pytest.raises(ValueError, match="number"):
        parse_number(text)


def test_multiple_choice_feedback():
    assert check(MC, 0) == (True, f"Right. {MC.explanation}")
    right, text = check(MC, 1)
    assert not right and "Not quite" in text
    assert check(MC, None) == (False, "Pick an option first.")
    with pytest.raises(ValueError, match="no option 3"):
        check(MC, 3)


def test_numeric_feedback_exact_and_direction():
    assert check(NUM, "73,856")[0]
    assert check(NUM, "73857") == (False, "Not quite: 73857 is too high.")
    assert check(NUM, "100") == (False, "Not quite: 100 is too low.")
    assert check(NUM, "")[1] == "Type a number first."
    right, text = check(NUM, "many")
    assert not right and "is not a number" in text


def test_numeric_tolerance_is_absolute():
    q = Numeric("Std after 10 layers?", answer=0.1, tolerance=0.01, explanation="Measured.")
    assert check(q, "0.109")[0] and check(q, "0.091")[0]
    assert not check(q, "0.111")[0]
    exact = Numeric("0.1 + 0.2?", answer=0.3, explanation="Floating point.")
    assert check(exact, str(0.1 + 0.2))[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"options": ["only one"]}, ValueError, "at least 2 options"),
        ({"options": "ab"}, TypeError, "options must be a list"),
        ({"options": ["a", "a"]}, ValueError, "different from each other"),
        ({"answer": 2, "options": ["a", "b"]}, ValueError, r"0\.\.1, got 2"),
        ({"answer": True}, TypeError, "index of the right option"),
        ({"question": " "}, ValueError, "question must be a non-empty string"),
        ({"explanation": ""}, ValueError, "explanation must be a non-empty string"),
    ],
)
def test_multiple_choice_bad_input(kwargs, error, match):
    base = {"question": "Q?", "options": ["a", "b"], "answer": 0, "explanation": "E."}
    with pytest.raises(error, match=match):
        MultipleChoice(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"answer": "12"}, TypeError, "answer must be a number"),
        ({"answer": float("nan")}, ValueError, "answer must be finite"),
        ({"tolerance": -1}, ValueError, "tolerance must be >= 0"),
        ({"unit": 3}, TypeError, "unit must be a string"),
    ],
)
def test_numeric_bad_input(kwargs, error, match):
    base = {"question": "Q?", "answer": 1, "explanation": "E."}
    with pytest.raises(error, match=match):
        Numeric(**{**base, **kwargs})


def test_static_view_has_questions_options_and_collapsed_answers():
    page = quiz_html([MC, NUM], title="Check yourself")
    assert page.count("<details><summary>Answer</summary>") == 2
    assert "<li>x &lt; y &amp; z</li>" in page  # shown as typed, not as markup
    assert "<strong>a) Convolution is a special case of a fully connected layer</strong>" in page
    assert "<strong>73,856</strong>" in page
    # answers sit only inside the collapsed part
    outside = re.sub(r"<details>.*?</details>", "", page)
    assert "73,856" not in outside and MC.explanation not in outside


def test_quiz_widget_gives_feedback_and_carries_the_static_view():
    box = quiz(MC, NUM)
    assert box._repr_mimebundle_()["text/html"] == quiz_html([MC, NUM])
    first, second = box.questions
    first.control.value = 1
    first.check()
    assert "Not quite" in first.feedback.value
    first.control.value = 0
    first.button.click()
    assert "Right." in first.feedback.value
    second.control.value = "73856"
    second.button.click()
    assert "Right: 73,856" in second.feedback.value


@pytest.mark.parametrize(
    ("questions", "error"), [((), ValueError), (("What?",), TypeError), ((MC, 3), TypeError)]
)
def test_quiz_rejects_bad_questions(questions, error):
    with pytest.raises(error):
        quiz(*questions)
