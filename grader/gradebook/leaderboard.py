"""The leaderboard: one row per student per lesson (their best passing run, else their best run), ranked."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import sqlite3
from dataclasses import dataclass, field, replace

from grader.course.verdict import ERROR, FAILED, PASSED, SMOKE
from grader.errors import CourseError
from grader.gradebook import store

# Passed first; a failed run and a smoke run both fall short of a pass; an error measured nothing.
STATUS_ORDER = {PASSED: 0, FAILED: 1, SMOKE: 1, ERROR: 2}


@dataclass
class Row:
    """A student's standing in one lesson, with the provenance of the run it stands on."""

    rank: int
    student: str
    lesson: str | None
    status: str
    params: int | None
    rf: int | None
    best_acc: float | None
    last_acc: float | None
    epochs_to_target: int | None
    epochs_run: int
    target: float | None  # the lesson's accuracy target, percent
    attempts: int  # runs of this student for this lesson in the gradebook
    seed: int
    quick: bool
    device: str | None
    device_name: str | None
    duration: float | None
    submitted_at: str
    finished_at: str
    sha256: str
    source: str | None  # None once anonymized: a path usually names the student
    run_id: int
    grader_version: str
    python_version: str | None
    torch_version: str | None
    torchvision_version: str | None
    cuda_version: str | None
    message: str | None
    failed: list[str] = field(default_factory=list)  # names of the criteria the run failed
    criteria: list[dict] = field(default_factory=list)  # the verdict's per-criterion results
    curve: list[float] = field(default_factory=list)  # test accuracy per epoch
    error_kind: str | None = None  # what stopped a run with status "error": policy, worker, training ...
    reason: str = ""  # why the run did not pass, in a few words (see reason())


def rank_key(run: dict) -> tuple:
    """Passed first, then fewer parameters, higher accuracy, fewer epochs to target, earlier submission."""
    return (
        STATUS_ORDER.get(run["status"], 3),
        run["params"] if run["params"] is not None else math.inf,
        -run["best_acc"] if run["best_acc"] is not None else math.inf,
        run["epochs_to_target"] if run["epochs_to_target"] is not None else math.inf,
        run["submitted_at"],
        run["id"],  # two runs of one file: the first one stands
    )


def lesson_order(lesson: str | None) -> tuple:
    """lesson2 before lesson10; the course target (no lesson) last."""
    if lesson is None:
        return (1, 0, "")
    from grader.course.lesson import lesson_sort_key

    return (0, *lesson_sort_key(lesson))


def _target(lesson: str | None) -> float | None:
    from grader.course.lesson import DEFAULT_CRITERIA, get_lesson

    try:
        criteria = get_lesson(lesson).criteria if lesson else DEFAULT_CRITERIA
    except CourseError:  # a lesson since removed from the course: its rows stay, without a target line
        return None
    return criteria.accuracy.target if criteria.accuracy else None


def build(conn: sqlite3.Connection, lesson=store.ANY) -> list[Row]:
    """The ranked rows of every lesson in the gradebook (or of one), lesson by lesson."""
    best: dict[tuple, dict] = {}
    attempts: dict[tuple, int] = {}
    for run in store.runs(conn, lesson=lesson):
        key = (run["lesson"], run["student"])
        attempts[key] = attempts.get(key, 0) + 1
        if key not in best or rank_key(run) < rank_key(best[key]):
            best[key] = run
    rows: list[Row] = []
    targets: dict = {}
    for lesson_id in sorted({k[0] for k in best}, key=lesson_order):
        ranked = sorted((r for k, r in best.items() if k[0] == lesson_id), key=rank_key)
        if lesson_id not in targets:
            targets[lesson_id] = _target(lesson_id)
        for rank, run in enumerate(ranked, start=1):
            rows.append(_row(conn, run, rank, attempts[(lesson_id, run["student"])], targets[lesson_id]))
    return rows


def _row(conn, run: dict, rank: int, attempts: int, target: float | None) -> Row:
    verdict = run["verdict"] or {}
    curve = [e["test_acc"] for e in store.epochs(conn, run["id"]) if e["test_acc"] is not None]
    return Row(
        rank=rank, student=run["student"], lesson=run["lesson"], status=run["status"], params=run["params"],
        rf=run["rf"], best_acc=run["best_acc"], last_acc=run["last_acc"], epochs_to_target=run["epochs_to_target"],
        epochs_run=len(curve), target=target, attempts=attempts, seed=run["seed"], quick=run["quick"],
        device=run["device"], device_name=run["device_name"], duration=run["duration"],
        submitted_at=run["submitted_at"], finished_at=run["finished_at"], sha256=run["sha256"], source=run["source"],
        run_id=run["id"], grader_version=run["grader_version"], python_version=run["python_version"],
        torch_version=run["torch_version"], torchvision_version=run["torchvision_version"],
        cuda_version=run["cuda_version"], message=run["message"], failed=list(verdict.get("failed", [])),
        criteria=list(verdict.get("criteria", [])), curve=curve, error_kind=run.get("error_kind"),
        reason=reason(run["status"], run.get("error_kind"), run["message"], verdict.get("criteria") or [],
                      run["quick"]),
    )


# NAME:LINE:COL: what, as the policy and the syntax check word each finding
_FINDING = re.compile(r"^[^\n]+?:(?P<line>\d+):\d+: (?P<what>.+)$", re.M)  # a name may hold ':' itself
REASON_CHARS = 160  # a board's cell; the full message stays in the export's message column


def reason(status: str, kind: str | None, message: str | None, criteria: list[dict], quick: bool) -> str:
    """Why a run did not pass: a syntax error, a refusal, a timeout, a crash, or the criteria it failed."""
    smoke = "smoke run (--quick)"
    if status == PASSED:
        return ""
    if status == SMOKE:
        return f"{smoke}: accuracy not judged"
    if status == FAILED:
        failed = [f"{c.get('label') or c.get('name')} {c.get('measured')} (needs {c.get('threshold')})"
                  for c in criteria if c.get("passed") is False]
        text = "failed: " + ("; ".join(failed) if failed else (message or "a criterion"))
        return _short(f"{smoke}, {text}" if quick else text)
    return _short(_error_reason(kind, message or ""))


def _error_reason(kind: str | None, message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "no message"
    finding = _FINDING.search(message)
    if "syntax error" in message.lower():
        if finding is None:
            return first
        what = finding.group("what").split("syntax error", 1)[-1].lstrip(": ")
        return f"syntax error at line {finding.group('line')}" + (f": {what}" if what else "")
    if "timed out" in first:
        return first
    if kind == "policy":
        return f"refused (line {finding.group('line')}): {finding.group('what')}" if finding else f"refused: {first}"
    label = {"worker": "grading crashed", "training": "training failed", "submission": "could not load the model",
             "integrity": "result not trusted", "data": "data missing"}.get(kind or "", "could not grade")
    return f"{label}: {first}"


def _short(text: str) -> str:
    text = " ".join(text.split())  # one line, whatever the message held
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1].rstrip() + "…"


def pseudonym(name: str, salt: str) -> str:
    """A stable stand-in for a name: the same in every export of one gradebook, not guessable from the name."""
    return "anon-" + hmac.new(salt.encode(), name.encode(), hashlib.sha256).hexdigest()[:8]


def anonymize(rows: list[Row], salt: str) -> list[Row]:
    """The rows with pseudonyms for names and no submission paths (a path usually names the student)."""
    return [replace(r, student=pseudonym(r.student, salt), source=None) for r in rows]
