"""Gradescope's results.json: a test per row of the criteria table, scored with the lesson's weights.

Both the leaderboard export (`course leaderboard --format gradescope`, from gradebook rows) and the autograder
that runs on Gradescope (`course run-autograder`, from a fresh RunRecord) build their files here, so a student
sees the same tests either way. The fields follow Gradescope's autograder specification ("Output format").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grader.course.lesson import DEFAULT_CRITERIA, Criteria
from grader.course.verdict import expected_rows
from grader.errors import CourseError, UsageError

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's four, in its words
LEADERBOARD = (("Parameters", "params", "asc"), ("Best test accuracy (%)", "best_acc", "desc"),
               ("Epochs to target", "epochs_to_target", "asc"))
_NOT_JUDGED = re.compile(r"\s*\(not judged:[^)]*\)\s*$")  # what the verdict appends to such a threshold


@dataclass(frozen=True)
class Visibility:
    """Who sees what on Gradescope. Tests are visible by default: the criteria table is the student's feedback."""

    tests: str = "visible"
    stdout: str = "hidden"  # the grader's progress log: for the instructor's debugging, as Gradescope intends

    def __post_init__(self):
        for name in ("tests", "stdout"):
            if getattr(self, name) not in VISIBILITIES:
                raise UsageError(f"visibility {getattr(self, name)!r} is not one of Gradescope's: "
                                 f"{', '.join(VISIBILITIES)}")


def lesson_criteria(lesson_id: str | None) -> Criteria | None:
    """The lesson's criteria as the manifest says now (weights included); None for a lesson since removed."""
    from grader.course.lesson import get_lesson

    if lesson_id is None:
        return DEFAULT_CRITERIA
    try:
        return get_lesson(lesson_id).criteria
    except CourseError:
        return None


def max_score(criteria: Criteria | None, judged: Sequence[dict[str, Any]] = ()) -> float:
    """The points a submission can earn: every row the lesson's criteria table will have, weighted."""
    if criteria is None:
        return sum(float(c.get("weight", 1.0)) for c in judged) or 1.0
    return sum(criteria.weight(name) for name in expected_rows(criteria)) or 1.0


def _points(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


def criterion_tests(judged: Iterable[dict], criteria: Criteria | None, visibility: Visibility) -> list[dict]:
    """One Gradescope test per verdict row: full weight when it passed, nothing when it failed or was not judged.

    The weight is the lesson's current one (an instructor may reweigh and export again without regrading); a
    record of a lesson that no longer exists keeps the weight it was graded with.
    """
    tests = []
    for number, c in enumerate(judged, start=1):
        weight = criteria.weight(c["name"]) if criteria is not None else float(c.get("weight", 1.0))
        # the verdict's threshold of a criterion it did not judge already ends in "(not judged: --quick)"
        needs = _NOT_JUDGED.sub("", str(c["threshold"]))
        if c["passed"] is None:
            status, note = "failed", "; not judged: a --quick smoke run proves no accuracy"
        else:
            status, note = ("passed" if c["passed"] else "failed"), ""
        tests.append({"name": c["label"], "number": str(number), "score": _points(weight if c["passed"] else 0),
                      "max_score": _points(weight), "status": status,
                      "output": f"measured {c['measured']} (needs {needs}){note}",
                      "tags": [c["name"]], "visibility": visibility.tests})
    return tests


def error_test(message: str, points: float, visibility: Visibility, number: int = 1) -> dict:
    """What could not be graded scores nothing, and says why in the student's terms."""
    return {"name": "Grading", "number": str(number), "score": 0, "max_score": _points(points), "status": "failed",
            "output": message or "the submission could not be graded", "visibility": visibility.tests}


def results(tests: list[dict], *, output: str, execution_time: float | None, leaderboard: dict | None = None,
            visibility: Visibility = Visibility(), extra: dict | None = None) -> dict:
    """A results.json document; `leaderboard` maps a LEADERBOARD key to its value (None: left out)."""
    board = [{"name": name, "value": leaderboard[key], "order": order}
             for name, key, order in LEADERBOARD if leaderboard and leaderboard.get(key) is not None]
    doc: dict[str, Any] = {
        "score": _points(sum(t["score"] for t in tests)),
        "execution_time": round(execution_time or 0),
        "output": output,
        "output_format": "text",
        "visibility": visibility.tests,
        "stdout_visibility": visibility.stdout,
        "tests": tests,
        "leaderboard": board,
    }
    if extra:
        doc["extra_data"] = extra
    return doc


def from_row(row, visibility: Visibility = Visibility()) -> dict:
    """results.json for a leaderboard Row (the gradebook's best run of one student in one lesson)."""
    criteria = lesson_criteria(row.lesson)
    total = max_score(criteria, row.criteria)
    if row.status == "error":
        tests = [error_test(row.message or "", total, visibility)]
    else:
        tests = criterion_tests(row.criteria, criteria, visibility)
    output = (f"{row.status}: {row.message or ''} (seed {row.seed}, {row.device_name or row.device or '?'}, "
              f"grader {row.grader_version}, torch {row.torch_version or '?'}, run {row.run_id})")
    return results(tests, output=output, execution_time=row.duration, visibility=visibility,
                   leaderboard={"params": row.params, "best_acc": row.best_acc,
                                "epochs_to_target": row.epochs_to_target},
                   extra={"lesson": row.lesson, "max_score": _points(total), "sha256": row.sha256})


def from_record(record, visibility: Visibility = Visibility(), seconds: float | None = None) -> dict:
    """results.json for a finished grading (the autograder's own run)."""
    criteria = lesson_criteria(record.lesson)
    judged = [c.__dict__ for c in record.verdict.criteria]
    tests = criterion_tests(judged, criteria, visibility)
    v = record.verdict
    output = (f"{v.status}: {v.message}\n"
              f"seed {record.seed} on {record.device_name}, torch {record.versions.get('torch')}, "
              f"grader {record.versions.get('grader')}; every test accuracy measured by the clean evaluator")
    return results(tests, output=output, execution_time=seconds if seconds is not None else record.duration,
                   visibility=visibility,
                   leaderboard={"params": record.params, "best_acc": record.best_acc,
                                "epochs_to_target": record.epochs_to_target},
                   extra={"lesson": record.lesson, "max_score": _points(max_score(criteria, judged)),
                          "sha256": record.sha256, "quick": record.quick})


def from_error(lesson_id: str | None, error: str, checked=None, visibility: Visibility = Visibility(),
               seconds: float | None = None) -> dict:
    """results.json when grading stopped: the static rows `course check` judged still score, the rest is 0."""
    criteria = lesson_criteria(lesson_id)
    total = max_score(criteria)
    tests: list[dict] = []
    if checked is not None:
        tests = criterion_tests([c.__dict__ for c in checked.verdict.criteria], criteria, visibility)
    remaining = total - sum(t["max_score"] for t in tests)
    tests.append(error_test(error, max(remaining, 0), visibility, len(tests) + 1))
    return results(tests, output=f"error: {error}", execution_time=seconds, visibility=visibility,
                   extra={"lesson": lesson_id, "max_score": _points(total)})
