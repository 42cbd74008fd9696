"""The student's progress in one workspace: current lesson, lessons started and passed, hints shown, last verdicts.

Every read and write of that progress goes through this module. It lives in the workspace's gradebook
(<workspace>/.course/gradebook.sqlite, beside the runs it summarises). A workspace from an earlier version kept it
in .course/state.json: load() reads that file until the gradebook holds progress, and the first save() moves it in
and keeps the old file as state.json.migrated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

from grader.course.verdict import PASSED
from grader.errors import CourseError
from grader.gradebook import store

LEGACY_FILE = Path(".course") / "state.json"  # where progress was kept before the gradebook held it
LEGACY_VERSION = 1  # the last layout of that file; a newer one is refused instead of misread


class StateError(CourseError):
    """The state file cannot be read; the message says how to recover."""

    kind = "state"


def now() -> str:
    """Local time with its UTC offset, to the second: readable in the file and sortable."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class VerdictRecord:
    """What one `course check` or `course grade` of a workspace file concluded."""

    mode: str  # "check" or "grade"
    status: str  # passed | failed | error | smoke
    failed: list[str] = field(default_factory=list)  # criterion names, so hints can answer them
    best_acc: float | None = None  # best test accuracy of a grade, in percent
    params: int | None = None
    message: str = ""
    quick: bool = False  # a --quick smoke run: its accuracy says nothing about the lesson
    sha256: str | None = None  # of the file judged, to tell whether it changed since
    when: str = field(default_factory=now)


@dataclass
class LessonState:
    """One lesson's history in this workspace."""

    started: str | None = None
    passed: str | None = None  # when a full grade first passed
    hints_shown: list[int] = field(default_factory=list)  # indices into the lesson's hints, in the order shown
    best_acc: float | None = None  # best over full (not --quick) gradings
    solution_seen: str | None = None  # when the reference solution was shown (with --force before passing)
    last: VerdictRecord | None = None


@dataclass
class State:
    """The whole progress of one workspace; load() it, call the record_* methods, then save()."""

    root: Path
    current: str | None = None
    lessons: dict[str, LessonState] = field(default_factory=dict)
    student: str = field(default_factory=lambda: store.default_student())  # whose progress, in the gradebook
    _changed: set[str] = field(default_factory=set, repr=False)  # lessons save() must write
    _legacy: bool = field(default=False, repr=False)  # read from state.json: save() moves it all in

    @property
    def path(self) -> Path:
        """The gradebook that holds the progress."""
        return self.root / store.GRADEBOOK

    @property
    def legacy_path(self) -> Path:
        return self.root / LEGACY_FILE

    @classmethod
    def load(cls, root: str | Path, student: str | None = None) -> State:
        """The progress kept in the workspace at `root`; empty if none was saved yet. Creates no file."""
        state = cls(Path(root), student=student or store.default_student())
        if state.path.is_file():
            try:
                with store.opened(state.path) as conn:
                    return cls.read(conn, state.root, state.student)
            except store.GradebookError as exc:
                reason = exc.__cause__ or exc  # the sqlite error, without advice meant for an instructor's --db
                raise StateError(f"{state.path} cannot be opened ({reason}). It holds your progress and run history: "
                                 "move it aside to start afresh (your model files are not touched)") from exc
        return cls._from_legacy(state)

    @classmethod
    def read(cls, conn, root: str | Path, student: str | None = None) -> State:
        """The progress as an open gradebook connection holds it (inside a caller's transaction, say)."""
        state = cls(Path(root), student=student or store.default_student())
        current, rows = store.load_progress(conn, state.student)
        if current is None and not rows:
            return cls._from_legacy(state)
        try:
            return cls._from_rows(state, current, rows)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateError(f"the progress in {state.path} cannot be read ({exc}); move the file aside to "
                             "start afresh (your model files are not touched)") from exc

    @classmethod
    def _from_rows(cls, state: State, current: str | None, rows: dict[str, dict]) -> State:
        state.current = current
        for lesson_id, row in rows.items():
            last = json.loads(row["last_verdict"] or "null")
            state.lessons[lesson_id] = _lesson_state({**row, "hints_shown": json.loads(row["hints_shown"]),
                                                      "last": last})
        return state

    @classmethod
    def _from_legacy(cls, state: State) -> State:
        try:
            raw = json.loads(state.legacy_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return state
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"{state.legacy_path} cannot be read ({exc}); delete it to start the progress record afresh "
                "(your model files are not touched)"
            ) from exc
        try:
            version = raw.get("version", LEGACY_VERSION)
            if version > LEGACY_VERSION:
                raise ValueError(f"it was written by a newer course (state version {version})")
            state.current = raw.get("current")
            state.lessons = {lesson_id: _lesson_state(entry) for lesson_id, entry in raw.get("lessons", {}).items()}
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateError(
                f"{state.legacy_path} is not a state file this course understands ({exc}); delete it to start "
                "the progress record afresh (your model files are not touched)"
            ) from exc
        state._legacy = True
        return state

    def save(self) -> Path:
        """Write the changed lessons and the current lesson in one transaction: all of it lands, or none."""
        try:
            with store.opened(self.path) as conn, store.transaction(conn):
                self.stage(conn)
        except store.GradebookError as exc:
            raise StateError(f"{exc}; choose a writable workspace with --workspace DIR or COURSE_WORKSPACE") from exc
        return self.path

    def stage(self, conn) -> None:
        """save()'s writes, inside a transaction the caller holds (a grading's run lands in the same one)."""
        changed = set(self.lessons) if self._legacy else self._changed
        rows = {lesson_id: _row(self.lessons[lesson_id]) for lesson_id in sorted(changed)}
        store.write_progress(conn, self.student, self.current, rows)
        self._changed.clear()
        if self._legacy:
            self._legacy = False
            try:  # kept, not deleted: nothing is lost if the move ever needs checking
                self.legacy_path.replace(self.legacy_path.with_name(self.legacy_path.name + ".migrated"))
            except OSError:
                pass  # the gradebook now holds progress, so the old file is no longer read either way

    # -------------------------------------------------------------------------------------------- reads

    def lesson(self, lesson_id: str) -> LessonState:
        """The lesson's record; an empty one (not stored) if it was never touched."""
        return self.lessons.get(lesson_id) or LessonState()

    def passed(self, lesson_id: str) -> bool:
        return self.lesson(lesson_id).passed is not None

    # ------------------------------------------------------------------------------------------- writes

    def _entry(self, lesson_id: str) -> LessonState:
        self._changed.add(lesson_id)
        return self.lessons.setdefault(lesson_id, LessonState())

    def record_start(self, lesson_id: str) -> None:
        """The student works on this lesson now."""
        entry = self._entry(lesson_id)
        entry.started = entry.started or now()
        self.current = lesson_id

    def record_verdict(self, lesson_id: str, verdict: VerdictRecord) -> None:
        """Keep the verdict as the lesson's last; a full passing grade marks the lesson passed."""
        entry = self._entry(lesson_id)
        entry.started = entry.started or verdict.when
        entry.last = verdict
        full_grade = verdict.mode == "grade" and not verdict.quick
        if full_grade and verdict.best_acc is not None:
            entry.best_acc = verdict.best_acc if entry.best_acc is None else max(entry.best_acc, verdict.best_acc)
        if full_grade and verdict.status == PASSED and entry.passed is None:
            entry.passed = verdict.when

    def record_hint(self, lesson_id: str, index: int) -> None:
        entry = self._entry(lesson_id)
        if index not in entry.hints_shown:
            entry.hints_shown.append(index)

    def record_solution_seen(self, lesson_id: str) -> None:
        entry = self._entry(lesson_id)
        entry.solution_seen = entry.solution_seen or now()

    def forget_last(self, lesson_id: str) -> None:
        """After a reset the last verdict was about a file that is gone; hints must not answer it."""
        if lesson_id in self.lessons:
            self._entry(lesson_id).last = None


def _lesson_state(entry: dict) -> LessonState:
    entry = _known(LessonState, entry)
    last = entry.get("last")
    entry["last"] = VerdictRecord(**_known(VerdictRecord, last)) if last else None
    entry["hints_shown"] = [int(i) for i in entry.get("hints_shown") or []]
    return LessonState(**entry)


def _known(cls, raw: dict) -> dict:
    # A field this version does not know (added without bumping VERSION) is dropped rather than fatal.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in dict(raw).items() if k in names}


def _row(entry: LessonState) -> dict:
    """A lesson's record as a gradebook progress row."""
    row = asdict(entry)
    row["hints_shown"] = json.dumps(row["hints_shown"])
    last = row.pop("last")
    row["last_verdict"] = json.dumps(last) if last else None
    return row
