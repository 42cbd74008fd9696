"""A student's attempts, newest first, each with what changed since the previous attempt at the same lesson."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from grader.errors import UsageError
from grader.gradebook import store


@dataclass
class Change:
    what: str  # "params", "best accuracy", "status", "file", "recipe epochs" ...
    before: object
    after: object


@dataclass
class Attempt:
    run_id: int
    when: str  # when the grading finished, UTC ISO 8601
    lesson: str | None
    status: str
    params: int | None
    best_acc: float | None
    epochs_to_target: int | None
    seed: int
    quick: bool
    duration: float | None
    sha256: str
    source: str
    message: str | None
    changes: list[Change] = field(default_factory=list)  # empty for a lesson's first attempt
    first: bool = False  # the first attempt at its lesson: nothing to compare with


def pick_student(conn: sqlite3.Connection, student: str | None) -> str | None:
    """The student asked for, else the only one, else the login name; None when the gradebook is empty."""
    names = store.students(conn)
    if student is not None:
        if student not in names:
            raise UsageError(f"no attempts by {student!r} in this gradebook; it holds: {', '.join(names) or 'nobody'}")
        return student
    if len(names) <= 1:
        return names[0] if names else None
    if store.default_student() in names:
        return store.default_student()
    raise UsageError(f"this gradebook holds {len(names)} students; pass --student NAME ({', '.join(names[:5])} ...)")


def attempts(conn: sqlite3.Connection, student: str | None = None, lesson=store.ANY) -> list[Attempt]:
    """The student's runs newest first, each compared with their previous run at the same lesson."""
    who = pick_student(conn, student)
    if who is None:
        return []
    out, previous = [], {}
    for run in store.runs(conn, lesson=lesson, student=who):  # oldest first, so each knows its predecessor
        before = previous.get(run["lesson"])
        out.append(Attempt(
            run_id=run["id"], when=run["finished_at"], lesson=run["lesson"], status=run["status"],
            params=run["params"], best_acc=run["best_acc"], epochs_to_target=run["epochs_to_target"],
            seed=run["seed"], quick=run["quick"], duration=run["duration"], sha256=run["sha256"],
            source=run["source"], message=run["message"], changes=changes(before, run) if before else [],
            first=before is None,
        ))
        previous[run["lesson"]] = run
    return out[::-1]


def changes(before: dict, after: dict) -> list[Change]:
    """What differs between two runs: the file, status, parameters, accuracy, epochs to target, recipe."""
    out = []
    if before["sha256"] != after["sha256"]:
        out.append(Change("file", before["sha256"][:12], after["sha256"][:12]))
    for key, label in (("status", "status"), ("params", "params"), ("best_acc", "best accuracy"),
                       ("epochs_to_target", "epochs to target")):
        if before[key] != after[key]:
            out.append(Change(label, before[key], after[key]))
    old, new = before.get("recipe") or {}, after.get("recipe") or {}
    if old and new:  # an error run has no recipe: "recipe gone" would say nothing useful
        for key in sorted((set(old) | set(new)) - {"sources"}):
            if old.get(key) != new.get(key):
                out.append(Change(f"recipe {key}", _short(old.get(key)), _short(new.get(key))))
    return out


def _short(value) -> object:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return value
