"""Find-the-error exercises: parsing lesson.toml entries, checking a student's answer, revealing it on request."""

import pytest

from grader.course.exercises import check, find, format_answer, parse_exercises, reveal
from grader.errors import ManifestError, UsageError

ENTRIES = [
    {"id": "rf-row8", "question": "What should row 8's RF out be?", "answer": 22,
     "explanation": "r_out = 18 + (3 − 1)·2 = 22.", "measured": ["rf lessons/lesson2/examples/seed000.py"]},
    {"id": "first-rows", "question": "The RF after conv1, conv2 and the pool?", "check": "ints", "answer": [3, 5, 6]},
    {"id": "total", "question": "The sum of the rows?", "answer": 11312},
    {"id": "stderr", "question": "The standard error in percent?", "check": "number", "answer": 0.077,
     "tolerance": 0.002},
]


@pytest.fixture
def exercises():
    return parse_exercises(ENTRIES, "lesson.toml: exercise")


def test_entries_parse_with_their_kinds(exercises):
    row8, rows, total, stderr = exercises
    assert (row8.kind, row8.answer, row8.measured) == ("int", 22, ("rf lessons/lesson2/examples/seed000.py",))
    assert (rows.kind, rows.answer, rows.values) == ("ints", (3, 5, 6), (3, 5, 6))
    assert total.values == (11312,) and total.explanation == ""
    assert (stderr.kind, stderr.answer, stderr.tolerance) == ("number", 0.077, 0.002)


@pytest.mark.parametrize("given, status", [
    ("22", "correct"), ("RF 22", "correct"), ("22x22", "correct"), (" 22 px ", "correct"),
    ("20", "wrong"), ("22.5", "wrong"), ("-22", "wrong"),
    ("", "unreadable"), ("twenty-two", "unreadable"), ("18 -> 22", "unreadable"),
])
def test_one_integer(exercises, given, status):
    attempt = check(exercises[0], given)
    assert attempt.status == status, attempt.message
    assert attempt.correct == (status == "correct")
    assert "22" not in attempt.message or status == "correct"  # a wrong answer is never told the right one


@pytest.mark.parametrize("given, status, says", [
    ("3 5 6", "correct", "Correct"), ("3, 5, 6", "correct", "Correct"), ("3,5,6", "correct", "Correct"),
    ("3 5 7", "wrong", "value 3 of 3"), ("5 3 6", "wrong", "value 1, 2 of 3"),
    ("3 5", "unreadable", "3 whole numbers"), ("3 5 6.0", "unreadable", "whole numbers"),
])
def test_integers_in_order(exercises, given, status, says):
    attempt = check(exercises[1], given)
    assert attempt.status == status and says in attempt.message


def test_thousands_separators_and_tolerances(exercises):
    assert check(exercises[2], "11,312").correct and check(exercises[2], "11312").correct
    assert check(exercises[2], "13,808").status == "wrong"
    assert check(exercises[3], "0.077").correct and check(exercises[3], "about 0.078 %").correct
    assert check(exercises[3], "0.08").status == "wrong"  # 0.003 off, the tolerance is 0.002


def test_reveal_gives_the_answer_and_the_explanation(exercises):
    assert reveal(exercises[0]) == "Answer: 22\n\nr_out = 18 + (3 − 1)·2 = 22."
    assert reveal(exercises[1]) == "Answer: 3, 5, 6"
    assert format_answer(exercises[2]) == "11,312" and format_answer(exercises[3]) == "0.077 (± 0.002)"


def test_find_by_id_or_number(exercises):
    assert find(exercises, "total") is exercises[2]
    assert find(exercises, "2") is exercises[1]
    with pytest.raises(UsageError, match="lesson2 has no exercise 'row9'; its exercises: rf-row8, first-rows"):
        find(exercises, "row9", "lesson2")
    with pytest.raises(UsageError, match="no exercise '5'"):
        find(exercises, "5")


@pytest.mark.parametrize("entry, message", [
    ({"question": "q", "answer": 1}, "[0].id must be a non-empty string"),
    ({"id": "Row 8", "question": "q", "answer": 1}, "[0].id must be lower-case"),
    ({"id": "a", "answer": 1}, "[0].question must be a non-empty string"),
    ({"id": "a", "question": "q", "answer": "22"}, "[0].answer must be an integer"),
    ({"id": "a", "question": "q", "answer": True}, "[0].answer must be an integer"),
    ({"id": "a", "question": "q", "check": "ints", "answer": [3, 5.5]}, "list of integers"),
    ({"id": "a", "question": "q", "check": "number", "answer": "x"}, "must be a number"),
    ({"id": "a", "question": "q", "check": "text", "answer": 1}, "[0].check must be one of"),
    ({"id": "a", "question": "q", "answer": 1, "tolerance": 0.5}, "only with check = \"number\""),
    ({"id": "a", "question": "q", "check": "number", "answer": 1, "tolerance": -1}, "tolerance must be a number >= 0"),
    ({"id": "a", "question": "q", "answer": 1, "measured": ["rf"]}, "\"KEY SOURCE\""),
    ({"id": "a", "question": "q", "check": "ints", "answer": [1, 2], "measured": ["rf x.py"]}, "1 entries for 2"),
    ({"id": "a", "question": "q", "answer": 1, "hint": "h"}, "unknown field(s) ['hint']"),
])
def test_bad_entries_name_the_field(entry, message):
    with pytest.raises(ManifestError) as err:
        parse_exercises([entry], "lesson.toml: exercise")
    assert message in str(err.value) and "lesson.toml: exercise[0]" in str(err.value)


def test_ids_are_unique_and_the_list_is_a_list():
    with pytest.raises(ManifestError, match="used twice"):
        parse_exercises([ENTRIES[0], ENTRIES[0]], "x")
    with pytest.raises(ManifestError, match="must be a list"):
        parse_exercises({"id": "a"}, "x")
    assert parse_exercises([], "x") == ()


def test_no_torch_is_needed():
    import subprocess
    import sys

    code = ("import sys, grader.course.exercises, grader.course.lesson; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
