"""The student's progress in one workspace: current lesson, lessons started and passed, hints shown, last verdicts.

Every read and write of that state goes through this module (stored as <workspace>/.course/state.json for
now), so that the gradebook can move it elsewhere behind the same interface.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

from grader import atomic
from grader.errors import CourseError

STATE_FILE = Path(".course") / "state.json"
VERSION = 1  # bump when the layout changes; load() refuses a newer one instead of misreading it


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
    """The whole state of one workspace; load() it, call the record_* methods, then save()."""

    root: Path
    current: str | None = None
    lessons: dict[str, LessonState] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / STATE_FILE

    @classmethod
    def load(cls, root: str | Path) -> "State":
        """The state of the workspace at `root`; empty if none was saved yet."""
        state = cls(Path(root))
        try:
            raw = json.loads(state.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return state
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"{state.path} cannot be read ({exc}); delete it to start the progress record afresh "
                "(your model files are not touched)"
            ) from exc
        try:
            return cls._from_dict(state.root, raw)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateError(
                f"{state.path} is not a state file this course understands ({exc}); delete it to start "
                "the progress record afresh (your model files are not touched)"
            ) from exc

    @classmethod
    def _from_dict(cls, root: Path, raw: dict) -> "State":
        version = raw.get("version", VERSION)
        if version > VERSION:
            raise ValueError(f"it was written by a newer course (state version {version})")
        lessons = {}
        for lesson_id, entry in raw.get("lessons", {}).items():
            entry = _known(LessonState, entry)
            last = entry.get("last")
            entry["last"] = VerdictRecord(**_known(VerdictRecord, last)) if last else None
            entry["hints_shown"] = [int(i) for i in entry.get("hints_shown", [])]
            lessons[lesson_id] = LessonState(**entry)
        return cls(root, raw.get("current"), lessons)

    def to_dict(self) -> dict:
        return {
            "version": VERSION,
            "current": self.current,
            "lessons": {k: asdict(v) for k, v in self.lessons.items()},
        }

    def save(self) -> Path:
        """Write the state atomically (temp file + rename): a crash leaves the old state, never half a file."""
        try:
            return atomic.write_text(self.path, json.dumps(self.to_dict(), indent=2) + "\n")
        except OSError as exc:
            raise StateError(f"cannot write {self.path} ({exc.strerror or exc}); choose a writable workspace with "
                             "--workspace DIR or COURSE_WORKSPACE") from exc

    # -------------------------------------------------------------------------------------------- reads

    def lesson(self, lesson_id: str) -> LessonState:
        """The lesson's record; an empty one (not stored) if it was never touched."""
        return self.lessons.get(lesson_id) or LessonState()

    def passed(self, lesson_id: str) -> bool:
        return self.lesson(lesson_id).passed is not None

    # ------------------------------------------------------------------------------------------- writes

    def _entry(self, lesson_id: str) -> LessonState:
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
        if full_grade and verdict.status == "passed" and entry.passed is None:
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
            self.lessons[lesson_id].last = None


def _known(cls, raw: dict) -> dict:
    # A field this version does not know (added without bumping VERSION) is dropped rather than fatal.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in dict(raw).items() if k in names}
