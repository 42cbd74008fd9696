"""The student's workflow: start, show, hint, reset, solution, progress, status, and checks of workspace files.

No torch here: `course list` and bare `course` must answer in a fraction of a second.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from grader import atomic, digest, events, paths
from grader.course import exercises
from grader.course.exercises import Attempt, Exercise
from grader.course.lesson import MODEL_FILE, Lesson, get_lesson, lesson_ids
from grader.course.options import GradeOptions
from grader.errors import CourseError, DataError, ManifestError, UsageError
from grader.gradebook.progress import LessonState, State, VerdictRecord
from grader.record import GradeRequest
from grader.workspace import workspace_root

NOT_STARTED, IN_PROGRESS, PASSED = "not started", "in progress", "passed"


@dataclass
class Target:
    """What `course check` / `course grade` judge: the file, the lesson's criteria, and whose state to update."""

    file: Path
    lesson: str | None  # criteria to judge by; None = the course target
    record_as: str | None  # the lesson whose state records the verdict (only for workspace files)


@dataclass
class Started:
    lesson: Lesson
    file: Path
    created: bool  # False: the student's file was already there and was left alone
    readme: str | None
    earlier_unpassed: list[str]
    next_command: str


@dataclass
class Reset:
    lesson: Lesson
    file: Path
    backup: Path | None  # None when there was no file to back up
    next_command: str


@dataclass
class Shown:
    lesson: Lesson
    text: str
    file: Path | None  # the student's file, if the lesson was started
    next_command: str
    note: str | None = None  # where the student is, when the lesson shown is not the one they are on


@dataclass
class HintAnswer:
    lesson: Lesson
    text: str | None  # None when every hint was already shown
    number: int | None  # 1-based position among the lesson's hints
    total: int
    criterion: str | None  # set when this hint answers the criterion the last check or grade failed
    failed: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # hints shown before, in order (repeated when exhausted)

    @property
    def exhausted(self) -> bool:
        return self.text is None


@dataclass
class Answered:
    """`course answer`: the student's answer checked (without giving it away), or the answer shown when asked."""

    lesson: Lesson
    exercise: Exercise
    attempt: Attempt | None  # None: no answer given, so the answer is revealed
    revealed: str | None
    others: list[str]  # the lesson's other exercise ids, to say what else there is


@dataclass
class SolutionShown:
    lesson: Lesson
    path: Path
    text: str
    forced: bool  # shown before the lesson was passed


@dataclass
class LessonRow:
    """One lesson as `course list` and `course progress` show it."""

    id: str
    title: str
    status: str  # not started | in progress | passed
    current: bool
    file: Path
    best_acc: float | None
    target_acc: float | None
    max_params: int | None
    last: VerdictRecord | None
    hints_shown: int
    hints_total: int
    started: str | None
    passed_at: str | None
    solution_seen: str | None


@dataclass
class Progress:
    rows: list[LessonRow]
    current: str | None
    workspace: Path

    @property
    def passed(self) -> int:
        return sum(r.status == PASSED for r in self.rows)

    @property
    def total(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict:
        return {"workspace": str(self.workspace), "current": self.current, "passed": self.passed,
                "total": self.total, "lessons": [_row_dict(r) for r in self.rows]}


@dataclass
class Status:
    """Where the student is and the one command to type next."""

    progress: Progress
    lesson: LessonRow | None  # the current lesson
    message: str
    next_command: str
    tip: str | None = None
    changed_since_last: bool = False  # the file was edited after its last check or grade

    def to_dict(self) -> dict:
        return {"message": self.message, "next_command": self.next_command, "tip": self.tip,
                "changed_since_last": self.changed_since_last,
                "lesson": _row_dict(self.lesson) if self.lesson else None, "progress": self.progress.to_dict()}


@dataclass
class Judged:
    """A check or grade result (grader.api's) and the target it was run on."""

    result: object  # api.CheckResult or api.GradeResult
    target: Target
    recorded: bool


@dataclass
class Outcome:
    """One file of `course check A B ...`: judged, or the error that stopped its check (not the others')."""

    file: Path
    judged: Judged | None = None
    error: CourseError | None = None

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error is not None else self.judged.result.verdict.exit_code


def _row_dict(row: LessonRow) -> dict:
    from dataclasses import asdict

    d = asdict(row)
    d["file"] = str(row.file)
    return d


class Workflow:
    """The student's commands over one workspace and one course (lessons and solutions folders)."""

    def __init__(self, workspace=None, lessons_root: Path | None = None, solutions_root: Path | None = None):
        self.workspace_flag = workspace  # echoed in suggested commands so they work when pasted
        self.root = workspace_root(workspace)
        self.lessons_root = Path(lessons_root) if lessons_root else paths.lessons_dir()
        self.solutions_root = Path(solutions_root) if solutions_root else paths.solutions_dir()

    # ------------------------------------------------------------------------------------------ lookups

    def state(self) -> State:
        return State.load(self.root)

    def lesson(self, lesson_id: str) -> Lesson:
        return get_lesson(lesson_id, self.lessons_root)

    def lessons(self) -> list[Lesson]:
        return [self.lesson(i) for i in lesson_ids(self.lessons_root)]

    def work_file(self, lesson_id: str) -> Path:
        return self.root / lesson_id / MODEL_FILE

    def solution_file(self, lesson_id: str) -> Path:
        return self.solutions_root / lesson_id / MODEL_FILE

    def command(self, *words: str) -> str:
        """A command line the student can paste, carrying --workspace when they gave one."""
        line = "course " + " ".join(words)
        if self.workspace_flag:
            line += f" --workspace {shlex.quote(str(self.workspace_flag))}"
        return line

    def _current_or(self, lesson_id: str | None, state: State | None = None) -> Lesson:
        if lesson_id:
            return self.lesson(lesson_id)
        current = (state or self.state()).current
        if not current:
            first = (lesson_ids(self.lessons_root) or ["lesson1"])[0]
            raise UsageError(f"no lesson started yet; run `{self.command('start', first)}` or name a lesson")
        return self.lesson(current)

    # ------------------------------------------------------------------------------------------ commands

    def start(self, lesson_id: str) -> Started:
        """Copy the lesson's stub into the workspace (never over the student's work) and make it current."""
        lesson = self.lesson(lesson_id)
        if not lesson.stub.is_file():
            raise ManifestError(f"{lesson.id} has no stub: {lesson.stub} is missing")
        file = self.work_file(lesson.id)
        created = not file.exists()
        if created:
            _copy_stub(lesson, file)
        state = self.state()
        state.record_start(lesson.id)
        state.save()
        earlier = []
        for other in lesson_ids(self.lessons_root):
            if other == lesson.id:
                break
            if not state.passed(other):
                earlier.append(other)
        readme = lesson.readme.read_text(encoding="utf-8") if lesson.readme.is_file() else None
        return Started(lesson, file, created, readme, earlier, self.command("check"))

    def reset(self, lesson_id: str) -> Reset:
        """Put the stub back in place of the student's file, keeping the old file as model.py.bak-<time>."""
        lesson = self.lesson(lesson_id)
        if not lesson.stub.is_file():
            raise ManifestError(f"{lesson.id} has no stub: {lesson.stub} is missing")
        file = self.work_file(lesson.id)
        backup = None
        if file.exists():
            backup = _free_name(file.with_name(f"{MODEL_FILE}.bak-{datetime.now():%Y%m%d-%H%M%S}"))
            try:
                shutil.copy2(file, backup)
            except OSError as exc:
                raise UsageError(f"cannot back up {file} to {backup} ({exc.strerror or exc}); "
                                 "nothing was reset") from exc
        _copy_stub(lesson, file)
        state = self.state()
        state.record_start(lesson.id)
        state.forget_last(lesson.id)
        state.save()
        return Reset(lesson, file, backup, self.command("check"))

    def show(self, lesson_id: str | None = None) -> Shown:
        """The lesson text: the named lesson, else the current one, else the first."""
        state = self.state()
        if lesson_id is None and state.current is None:
            ids = lesson_ids(self.lessons_root)
            if not ids:
                raise UsageError(f"no lessons found in {self.lessons_root}")
            lesson_id = ids[0]
        lesson = self._current_or(lesson_id, state)
        if lesson.readme.is_file():
            text = lesson.readme.read_text(encoding="utf-8")
        else:  # a lesson without prose still has a title and objectives worth showing
            text = f"# {lesson.title}\n\n" + "\n".join(f"- {o}" for o in lesson.objectives)
        file = self.work_file(lesson.id)
        started = file.is_file()
        if state.current not in (None, lesson.id) and not state.passed(state.current):
            # reading ahead (or back) while another lesson is open: the next step is still that lesson's
            status = self.status()
            here = status.lesson
            note = f"You are on {here.id} ({here.title}); `course start {lesson.id}` opens this one." if here else None
            return Shown(lesson, text, file if started else None, status.next_command, note)
        nxt = self.command("check") if started and state.current == lesson.id else self.command("start", lesson.id)
        return Shown(lesson, text, file if started else None, nxt)

    def hint(self, lesson_id: str | None = None) -> HintAnswer:
        """The next unseen hint; one that answers the criterion the last check or grade failed comes first."""
        state = self.state()
        lesson = self._current_or(lesson_id, state)
        entry = state.lesson(lesson.id)
        failed = list(entry.last.failed) if entry.last else []
        seen = [lesson.hints[i].text for i in entry.hints_shown if i < len(lesson.hints)]
        unseen = [i for i in range(len(lesson.hints)) if i not in entry.hints_shown]
        answering = [i for i in unseen if lesson.hints[i].criterion in failed]
        if not unseen:
            return HintAnswer(lesson, None, None, len(lesson.hints), None, failed, seen)
        index = answering[0] if answering else unseen[0]
        state.record_hint(lesson.id, index)
        state.save()
        hint = lesson.hints[index]
        return HintAnswer(lesson, hint.text, index + 1, len(lesson.hints),
                          hint.criterion if answering else None, failed, seen)

    def answer(self, lesson_id: str, exercise_id: str | None = None, given: str | None = None) -> Answered:
        """Check an answer to one of the lesson's find-the-error exercises, or show the answer when none is given."""
        lesson = self.lesson(lesson_id)
        if not lesson.exercises:
            raise UsageError(f"{lesson.id} has no exercises to answer; "
                             f"`{self.command('hint', lesson.id)}` helps instead")
        if exercise_id is None:
            known = ", ".join(e.id for e in lesson.exercises)
            example = self.command("answer", lesson.id, lesson.exercises[0].id, "N")
            raise UsageError(f"name the exercise: {known} (e.g. `{example}`)")
        exercise = exercises.find(lesson.exercises, exercise_id, lesson.id)
        others = [e.id for e in lesson.exercises if e.id != exercise.id]
        if given is None:
            return Answered(lesson, exercise, None, exercises.reveal(exercise), others)
        return Answered(lesson, exercise, exercises.check(exercise, given), None, others)

    def solution(self, lesson_id: str, force: bool = False) -> SolutionShown:
        """The reference solution: once the lesson is passed, or earlier with force (and a warning)."""
        lesson = self.lesson(lesson_id)
        state = self.state()
        passed = state.passed(lesson.id)
        if not passed and not force:
            raise UsageError(
                f"{lesson.id} is not passed yet; its solution opens once `{self.command('grade')}` passes it. "
                f"Try `{self.command('hint', lesson.id)}` first, or look anyway: "
                f"`{self.command('solution', lesson.id, '--force')}`"
            )
        path = self.solution_file(lesson.id)
        if not path.is_file():
            raise UsageError(f"{lesson.id} has no reference solution ({path} is missing)")
        state.record_solution_seen(lesson.id)
        state.save()
        return SolutionShown(lesson, path, path.read_text(encoding="utf-8"), forced=not passed)

    def progress(self) -> Progress:
        """Every lesson with its status, best result and hints used."""
        state = self.state()
        return Progress([self._row(lesson, state) for lesson in self.lessons()], state.current, self.root)

    def _row(self, lesson: Lesson, state: State) -> LessonRow:
        entry: LessonState = state.lesson(lesson.id)
        file = self.work_file(lesson.id)
        if entry.passed:
            status = PASSED
        elif entry.started or file.exists():
            status = IN_PROGRESS
        else:
            status = NOT_STARTED
        acc = lesson.criteria.accuracy
        return LessonRow(
            id=lesson.id, title=lesson.title, status=status, current=state.current == lesson.id, file=file,
            best_acc=entry.best_acc, target_acc=acc.target if acc else None, max_params=lesson.criteria.max_params,
            last=entry.last, hints_shown=len(entry.hints_shown), hints_total=len(lesson.hints),
            started=entry.started, passed_at=entry.passed, solution_seen=entry.solution_seen,
        )

    def status(self) -> Status:
        """Where the student is, and the exact next command to type."""
        progress = self.progress()
        rows = progress.rows
        if not rows:
            raise UsageError(f"no lessons found in {self.lessons_root}")
        current = next((r for r in rows if r.current), None)
        if current is None:
            first = next((r for r in rows if r.status != PASSED), rows[0])
            return Status(progress, None,
                          f"Welcome: {len(rows)} lessons, from a first working CNN to a very small, very accurate one.",
                          self.command("start", first.id))
        if current.status == PASSED:
            later = rows[rows.index(current) + 1:] + rows[: rows.index(current)]
            nxt = next((r for r in later if r.status != PASSED), None)
            if nxt is None:
                return Status(progress, current, f"Every lesson passed ({progress.total}/{progress.total}). Well done!",
                              self.command("progress"))
            return Status(progress, current, f"{current.id} ({current.title}) is passed.",
                          self.command("start", nxt.id))
        return self._status_in_lesson(progress, current)

    def _status_in_lesson(self, progress: Progress, row: LessonRow) -> Status:
        here = f"You are on {row.id}: {row.title}."
        if not row.file.is_file():
            return Status(progress, row, f"{here} Your file {row.file} is missing.", self.command("start", row.id))
        last = row.last
        changed = last is not None and last.sha256 is not None and digest.sha256_if_readable(row.file) != last.sha256
        hint_tip = f"Stuck? {self.command('hint')}"
        if last is None:
            return Status(progress, row, f"{here} Edit {row.file} (follow the TODOs), then check it.",
                          self.command("check"), hint_tip)
        if changed:
            return Status(progress, row, f"{here} {row.file} changed since its last {last.mode}; check it again.",
                          self.command("check"), hint_tip, changed_since_last=True)
        if last.status == "error":
            return Status(progress, row, f"{here} The last {last.mode} could not judge your file: {last.message}",
                          self.command("check"), hint_tip)
        if last.status == "failed":
            static = [c for c in last.failed if c != "accuracy"]
            return Status(progress, row, f"{here} The last {last.mode} {last.message}. Edit {row.file}, then:",
                          self.command("check" if static else "grade"), hint_tip)
        if last.mode == "check" or last.status == "smoke":
            return Status(progress, row, f"{here} The static checks pass; train it for real.", self.command("grade"))
        return Status(progress, row, here, self.command("grade"), hint_tip)

    # ------------------------------------------------------------------------------ checking workspace files

    def target(self, file=None, lesson_id: str | None = None) -> Target:
        """Resolve `course check [FILE] [--lesson L]`: no FILE means the (current) lesson's workspace file."""
        if file is None:
            lesson = self._current_or(lesson_id)
            path = self.work_file(lesson.id)
            if not path.is_file():
                raise UsageError(f"{path} does not exist; "
                                 f"run `{self.command('start', lesson.id)}` to copy the stub there")
            return Target(path, lesson.id, lesson.id)
        path = Path(file).resolve()
        own = self._workspace_lesson(path)
        lesson = self.lesson(lesson_id).id if lesson_id else own  # a workspace file is judged by its own lesson
        return Target(path, lesson, own if own is not None and own == lesson else None)

    def _workspace_lesson(self, path: Path) -> str | None:
        if path.name != MODEL_FILE or path.parent.parent != self.root:
            return None
        return path.parent.name if path.parent.name in lesson_ids(self.lessons_root) else None

    def check(self, request: GradeRequest | None = None, launch=None) -> Judged:
        """`course check`: grader.api.check on the resolved target (no file: the current lesson's), recorded in the
        progress for workspace files."""
        from grader import api

        request = request or GradeRequest(None)
        target = self.target(request.file, request.lesson)
        try:
            result = api.check(replace(request, file=target.file, lesson=target.lesson), launch)
        except CourseError as exc:
            verdict = self._error_verdict(target, "check", exc)
            if verdict is not None:
                self._save_verdict(target, verdict)
            raise
        v = result.verdict
        verdict = VerdictRecord("check", v.status, v.failed, params=result.report["params"], message=v.message,
                                sha256=result.report["sha256"])
        recorded = self._save_verdict(target, verdict) if target.record_as else False
        return Judged(result, target, recorded)

    def check_each(self, files, lesson_id: str | None = None, options: GradeOptions = GradeOptions()) -> list[Outcome]:
        """`course check A B ...` (pre-commit passes every staged model.py): each file checked on its own."""
        outcomes = []
        for file in files:
            try:
                outcomes.append(Outcome(Path(file), judged=self.check(GradeRequest(file, lesson_id, options))))
            except CourseError as exc:
                outcomes.append(Outcome(Path(file), error=exc))
        return outcomes

    def grade(self, request: GradeRequest | None = None, on_event: Callable[[events.Shown], None] | None = None,
              plot: bool = True, launch=None) -> Judged:
        """`course grade`: grader.api.grade on the resolved target (no file: the current lesson's), its curves saved
        when `plot`; for a workspace file the run (or the error that stopped it) and the progress land in the
        workspace gradebook together, in one transaction opened here."""
        from grader import api
        from grader.gradebook import store

        request = request or GradeRequest(None)
        target = self.target(request.file, request.lesson)
        request = replace(request, file=target.file, lesson=target.lesson)
        # a workspace file is the student's attempt: the gradebook keeps each run for `course history`
        db = store.workspace_gradebook(self.root) if target.record_as else None
        if db is not None:
            store.check_writable(db)  # a gradebook that cannot be opened says so before a long training
        started = store.utc_stamp()
        try:
            result = api.grade(request, on_event, launch)
        except UsageError:
            raise  # a typo in the command is not an attempt
        except CourseError as exc:
            if db is not None:
                self._record_error(db, target, request, exc, started)
            raise
        if plot:
            result = api.with_plot(result)
        if db is not None:
            result = replace(result, run_id=self._record_run(db, target, request, result.record, started))
        return Judged(result, target, db is not None)

    def _record_run(self, db: Path, target: Target, request: GradeRequest, record, started: str) -> int:
        """The run and the progress it makes, in one transaction."""
        from grader.gradebook import store

        with store.opened(db) as conn, store.transaction(conn):
            run_id = store.add_run(conn, record, started_at=started, epochs_limit=request.options.epochs)
            self._stage_verdict(conn, target, self._grade_verdict(record))
        return run_id

    def _record_error(self, db: Path, target: Target, request: GradeRequest, exc: CourseError, started: str) -> None:
        """The error run and the progress it leaves (an error verdict), in one transaction."""
        from grader.gradebook import store

        options = request.options
        with store.opened(db) as conn, store.transaction(conn):
            store.add_error(conn, file=request.file, lesson=request.lesson, seed=options.seed, message=str(exc),
                            kind=exc.kind, quick=options.quick, epochs_limit=options.epochs, device=options.device,
                            started_at=started)
            self._stage_verdict(conn, target, self._error_verdict(target, "grade", exc, options.quick))

    def _stage_verdict(self, conn, target: Target, verdict: VerdictRecord | None) -> None:
        if verdict is not None and target.record_as is not None:
            state = State.read(conn, self.root)  # afresh: a hint asked for during the grading is kept
            state.record_verdict(target.record_as, verdict)
            state.stage(conn)

    @staticmethod
    def _grade_verdict(record) -> VerdictRecord:
        v = record.verdict
        return VerdictRecord("grade", v.status, v.failed, record.best_acc, record.params, v.message, record.quick,
                             record.sha256)

    def _save_verdict(self, target: Target, verdict: VerdictRecord) -> bool:
        if target.record_as is None:
            return False
        state = self.state()  # loaded afresh: the student may have asked for hints meanwhile
        state.record_verdict(target.record_as, verdict)
        state.save()
        return True

    def _error_verdict(self, target: Target, mode: str, exc: CourseError, quick: bool = False) -> VerdictRecord | None:
        if target.record_as is None or isinstance(exc, (UsageError, DataError, ManifestError)):
            return None  # not about the student's file
        return VerdictRecord(mode, "error", message=str(exc).splitlines()[0] if str(exc) else exc.kind, quick=quick,
                             sha256=digest.sha256_if_readable(target.file))


def _copy_stub(lesson: Lesson, file: Path) -> None:
    try:
        atomic.write_text(file, lesson.stub.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {file} ({exc.strerror or exc}); choose a writable workspace with "
                         "--workspace DIR or COURSE_WORKSPACE") from exc


def _free_name(path: Path) -> Path:
    """`path`, or path-1, path-2 ... if a backup of the same second already exists."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
