"""Find-the-error exercises: questions whose answers live in lesson.toml, out of sight until the student asks.

A lesson's `[[exercise]]` entries give an id, the question, the answer and how to read a student's answer
(one integer, a list of integers in order, or a number within a tolerance). No torch here: checking an answer
is arithmetic on the text the student typed. The tests prove every answer against the tool (`measured`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from grader.errors import ManifestError, UsageError

KINDS = ("int", "ints", "number")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# A number as a student types it: 22, -3, 11,312, 11312, 0.077; "22x22" reads as 22 and 22.
_NUMBER = re.compile(r"(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_FIELDS = {"id", "question", "answer", "check", "tolerance", "explanation", "measured"}


@dataclass(frozen=True)
class Exercise:
    """One question; `answer` is an int, a tuple of ints or a float, as `kind` says."""

    id: str  # what the student types: `course answer lesson2 rf-row8 22`
    question: str
    kind: str  # "int": one integer; "ints": integers in order; "number": within tolerance
    answer: int | float | tuple[int, ...]
    tolerance: float = 0.0  # only for "number": |given - answer| <= tolerance counts as right
    explanation: str = ""  # shown with the answer: why, with the arithmetic
    # "KEY SOURCE" pairs as `course docs` markers take them, one per answer value ("" where the explanation's
    # arithmetic gives it): the tests compare each with what the tool measures, so no answer is typed on trust.
    measured: tuple[str, ...] = ()

    @property
    def values(self) -> tuple:
        """The answer as a tuple, whatever the kind."""
        return self.answer if isinstance(self.answer, tuple) else (self.answer,)


@dataclass(frozen=True)
class Attempt:
    """The verdict on one answer: correct, wrong, or unreadable (the message says how to write it)."""

    exercise: Exercise
    given: str
    status: str  # "correct" | "wrong" | "unreadable"
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def parse_exercises(raw, where: str) -> tuple[Exercise, ...]:
    """Validate a lesson.toml's `[[exercise]]` list; every error names the entry and field."""
    if not isinstance(raw, list):
        raise ManifestError(f"{where} must be a list of [[exercise]] tables, got {raw!r}")
    found: list[Exercise] = []
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ManifestError(f"{at} must be a table, got {entry!r}")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ManifestError(f"{at}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
        ex_id = _text(entry, "id", at)
        if not _ID.match(ex_id):
            raise ManifestError(f"{at}.id must be lower-case letters, digits and '-', got {ex_id!r}")
        if any(e.id == ex_id for e in found):
            raise ManifestError(f"{at}.id {ex_id!r} is used twice")
        kind = entry.get("check", "int")
        if kind not in KINDS:
            raise ManifestError(f"{at}.check must be one of {list(KINDS)}, got {kind!r}")
        answer = _answer(entry.get("answer"), kind, f"{at}.answer")
        tolerance = entry.get("tolerance", 0.0)
        if not _is_number(tolerance) or tolerance < 0 or (tolerance and kind != "number"):
            raise ManifestError(f"{at}.tolerance must be a number >= 0, and only with check = \"number\"; "
                                f"got {tolerance!r}")
        measured = entry.get("measured", [])
        measured = [measured] if isinstance(measured, str) else measured
        if not isinstance(measured, list) or not all(isinstance(m, str) for m in measured):
            raise ManifestError(f"{at}.measured must be a list of \"KEY SOURCE\" strings, got {measured!r}")
        count = len(answer) if isinstance(answer, tuple) else 1
        if measured and len(measured) != count:
            raise ManifestError(f"{at}.measured has {len(measured)} entries for {count} answer value(s)")
        if any(m and len(m.split()) != 2 for m in measured):
            raise ManifestError(f"{at}.measured entries are \"KEY SOURCE\", as in a value marker; got {measured!r}")
        explanation = entry.get("explanation", "")
        if not isinstance(explanation, str):
            raise ManifestError(f"{at}.explanation must be a string, got {explanation!r}")
        found.append(Exercise(ex_id, _text(entry, "question", at), kind, answer, float(tolerance),
                              explanation.strip(), tuple(measured)))
    return tuple(found)


def find(exercises: tuple[Exercise, ...], exercise_id: str, lesson_id: str = "this lesson") -> Exercise:
    """The exercise called `exercise_id`, or the N-th for "N" (1-based); UsageError lists the known ones."""
    for ex in exercises:
        if ex.id == exercise_id:
            return ex
    if exercise_id.isdigit() and 1 <= int(exercise_id) <= len(exercises):
        return exercises[int(exercise_id) - 1]
    known = ", ".join(e.id for e in exercises) or "none"
    raise UsageError(f"{lesson_id} has no exercise {exercise_id!r}; its exercises: {known}")


def check(exercise: Exercise, given: str) -> Attempt:
    """Read the student's answer and compare it; never reveals the answer in the message."""
    numbers = [_to_number(n) for n in _NUMBER.findall(given)]
    if exercise.kind == "ints":
        want = exercise.values
        if any(isinstance(n, float) for n in numbers) or len(numbers) != len(want):
            return Attempt(exercise, given, "unreadable",
                           f"Answer with {len(want)} whole numbers in order, separated by spaces or commas "
                           f"(you gave {len(numbers)}).")
        wrong = [i + 1 for i, (n, w) in enumerate(zip(numbers, want)) if n != w]
        if not wrong:
            return Attempt(exercise, given, "correct", "Correct.")
        which = ", ".join(map(str, wrong))
        return Attempt(exercise, given, "wrong", f"Not quite: value {which} of {len(want)} is off. "
                       "Walk the formula row by row again.")
    distinct = sorted(set(numbers))
    if len(distinct) != 1:
        return Attempt(exercise, given, "unreadable",
                       "Answer with one number" + (f" (you gave {len(distinct)})." if distinct else "."))
    value = distinct[0]
    if exercise.kind == "int":
        right = isinstance(value, int) and value == exercise.answer
    else:
        right = abs(value - exercise.answer) <= exercise.tolerance + 1e-12
    if right:
        return Attempt(exercise, given, "correct", "Correct.")
    return Attempt(exercise, given, "wrong", "Not quite. Work it through once more, or ask for the answer.")


def format_answer(exercise: Exercise) -> str:
    """The answer as the lesson writes numbers: 11,312; 3, 5, 6, 10; 0.08 (± tolerance)."""
    if exercise.kind == "ints":
        return ", ".join(f"{v:,}" for v in exercise.answer)
    if exercise.kind == "int":
        return f"{exercise.answer:,}"
    tol = f" (± {exercise.tolerance:g})" if exercise.tolerance else ""
    return f"{exercise.answer:g}{tol}"


def reveal(exercise: Exercise) -> str:
    """The answer and the explanation, for when the student asks to see it."""
    text = f"Answer: {format_answer(exercise)}"
    return f"{text}\n\n{exercise.explanation}" if exercise.explanation else text


def _text(entry: dict, key: str, at: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{at}.{key} must be a non-empty string, got {value!r}")
    return value.strip()


def _answer(value, kind: str, at: str):
    if kind == "ints":
        if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
            raise ManifestError(f"{at} must be a non-empty list of integers for check = \"ints\", got {value!r}")
        return tuple(value)
    if kind == "int":
        if not _is_int(value):
            raise ManifestError(f"{at} must be an integer for check = \"int\", got {value!r}")
        return value
    if not _is_number(value):
        raise ManifestError(f"{at} must be a number for check = \"number\", got {value!r}")
    return float(value)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _to_number(text: str) -> int | float:
    plain = text.replace(",", "")
    return float(plain) if "." in plain else int(plain)
