"""The facade the CLI, the student workflow, batch jobs and notebooks call: check, grade, grade_all, leaderboard,
history. Each returns typed results the views render; the library raises CourseErrors, never exits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.lesson import DEFAULT_CRITERIA, Lesson, get_lesson
from grader.course.verdict import Verdict, judge
from grader.errors import CourseError, UsageError
from grader.record import GradeRequest, LoopOptions, RunRecord


@dataclass
class CheckResult:
    report: dict
    verdict: Verdict
    lesson: str | None
    log: str = ""

    def _repr_html_(self) -> str:  # Jupyter shows a result as its criteria table
        from grader.views.html import check_html

        return check_html(self)


@dataclass
class GradeResult:
    record: RunRecord
    lesson: str | None
    plot: Path | None = None
    log: str = ""
    run_id: int | None = None  # the gradebook row, when the run was recorded

    @property
    def verdict(self) -> Verdict:
        return self.record.verdict

    def _repr_html_(self) -> str:  # Jupyter: criteria, every epoch, and the curves
        from grader.views.html import grade_html

        return grade_html(self)


def _lesson(lesson_id: str | None) -> Lesson | None:
    return get_lesson(lesson_id) if lesson_id else None


def _request(file, lesson: str | None, **options) -> GradeRequest:
    if isinstance(file, GradeRequest):
        return file
    loop = LoopOptions(options.pop("compile", False) or False, options.pop("channels_last", False) or False)
    options = {k: v for k, v in options.items() if v is not None}
    return GradeRequest(Path(file), lesson, loop=loop, **options)


def check(file, lesson_id: str | None = None, data_dir=None, seed: int = 0, launch=None) -> CheckResult:
    """Contract, parameters, receptive field and structure of one submission, judged statically.

    `launch` starts the worker: None for a fresh interpreter, a Zygote's launch for a warm one (`course watch`).
    """
    from grader.host import grading

    request = _request(file, lesson_id, data_dir=data_dir, seed=seed)
    lesson = _lesson(request.lesson)
    checked = grading.check(request, lesson, **({"launch": launch} if launch else {}))
    criteria = lesson.criteria if lesson else DEFAULT_CRITERIA
    verdict = judge(criteria, checked.report)
    verdict.warnings = checked.warnings + verdict.warnings  # the policy's: code it skipped (file:line:col)
    return CheckResult(checked.report, verdict, lesson.id if lesson else None, checked.log)


def grade(file, lesson_id: str | None = None, *, device: str = "auto", seed: int = 0, epochs: int | None = None,
          quick: bool = False, data_dir=None, timeout: float | None = None, compile: bool | str = False,
          channels_last: bool = False, on_event: Callable[[dict], None] | None = None, plot: bool = True,
          db: Path | None = None, student: str | None = None, source: str | None = None,
          after: Callable[[sqlite3.Connection, RunRecord | CourseError], None] | None = None,
          launch=None) -> GradeResult:
    """Train one submission and judge it; `file` is a path (with the options) or a GradeRequest.

    With `db`, the run (or the error that stopped it) is recorded in that gradebook as `student`'s attempt at
    `source`, in one transaction that also runs `after(conn, record_or_error)` (the workflow's progress update).
    `launch` starts the worker and evaluator: None for fresh interpreters, a Zygote's launch for warm ones.
    """
    from grader.gradebook import store
    from grader.host import grading

    request = _request(file, lesson_id, device=device, seed=seed, epochs=epochs, quick=quick, data_dir=data_dir,
                       timeout=timeout, compile=compile, channels_last=channels_last)
    lesson = _lesson(request.lesson)
    recording = store.Recording(Path(db), student, source, after) if db is not None else None
    if recording is not None:
        store.check_writable(recording.db)  # a gradebook that cannot be opened says so before a long training
    started = store.utc_stamp()
    try:
        graded = grading.grade(request, lesson, on_event, **({"launch": launch} if launch else {}))
    except UsageError:
        raise  # a typo in the command is not an attempt
    except CourseError as exc:
        if recording is not None:
            store.record_failure(recording, request, exc, started)
        raise
    record = graded.record
    plot_path = _plot(record) if plot else None
    run_id = store.record_success(recording, record, request, started) if recording is not None else None
    return GradeResult(record, record.lesson, plot_path, graded.log, run_id)


def _plot(record: RunRecord) -> Path | None:
    from grader.views.plot import save_curves  # matplotlib is slow to import: only when a plot is wanted

    file = Path(record.file)
    return save_curves(record, file.with_name(file.stem + "_curves.png"), record.target)


# ------------------------------------------------------------------------ gradebook: batch, leaderboard, history


# grade-all's gradebook when no --db names one: in the folder the instructor runs it from, not in a student's
# workspace (./work/.course/ is where `course grade` keeps one student's runs)
CLASS_GRADEBOOK = Path("gradebook.sqlite")


def class_gradebook() -> Path:
    return Path.cwd() / CLASS_GRADEBOOK


def _gradebook(db, must_exist: bool = False, workspace=None) -> Path:
    from grader.gradebook import store

    path = Path(db) if db else store.workspace_gradebook(workspace)
    if must_exist and not path.is_file():
        raise UsageError(f"no gradebook at {path}; grade something first "
                         f"(course grade, or course grade-all DIR --db {path})")
    return path


def grade_all(folder, lesson_id: str | None = None, jobs: int | None = None, devices: list[str] | None = None,
              seeds: int = 1, db=None, regrade: bool = False, quick: bool = False, epochs: int | None = None,
              data_dir=None, timeout: float | None = None, on_event: Callable[[dict], None] | None = None,
              workspace=None, backend: str = "local", address: str | None = None, per_gpu: int | None = None):
    """Grade every submission in `folder` into the gradebook `db` (default: ./gradebook.sqlite); a BatchResult.

    `backend` "ray" grades on a Ray cluster: joined at `address` ("auto", HOST:PORT) or started here (None), with
    `per_gpu` gradings sharing each GPU. This process records every result either way.
    """
    from grader.gradebook.batch import BatchConfig
    from grader.gradebook.batch import grade_all as run_batch

    pool = None
    if backend == "ray":
        from grader.gradebook.ray_pool import pool_factory

        pool = pool_factory(address, per_gpu or 1, jobs, devices)
    elif backend != "local":
        raise UsageError(f"unknown backend {backend!r}; use local or ray")
    elif address or per_gpu:
        raise UsageError("--address and --per-gpu are for --backend ray")
    config = BatchConfig(lesson=lesson_id, jobs=jobs, devices=devices, seeds=seeds, quick=quick, epochs=epochs,
                         regrade=regrade, data_dir=str(data_dir) if data_dir else None, timeout=timeout, pool=pool)
    return run_batch(folder, Path(db) if db else class_gradebook(), config, on_event)


@dataclass
class LeaderboardResult:
    rows: list
    text: str | None = None  # the export, when it was not written to a file
    written: list[Path] = field(default_factory=list)


def leaderboard(lesson_id: str | None = None, db=None, fmt: str = "table", out=None,
                anonymize: bool = False, workspace=None) -> LeaderboardResult:
    """Rank the gradebook's students per lesson; export as csv/json/md/html/gradescope to `out` or as text."""
    from grader.gradebook import export, store
    from grader.gradebook import leaderboard as board

    if fmt == "gradescope" and not out:
        raise UsageError("--format gradescope writes a folder of results.json files; pass -o FOLDER")
    if not db and class_gradebook().is_file():  # grade-all's, in the folder the instructor works in
        db = class_gradebook()
    with store.opened(_gradebook(db, must_exist=True, workspace=workspace)) as conn:
        rows = board.build(conn, lesson=lesson_id if lesson_id else store.ANY)
        if anonymize:
            rows = board.anonymize(rows, store.salt(conn))
    title = f"Leaderboard: {lesson_id}" if lesson_id else "Leaderboard"
    if fmt == "table":
        return LeaderboardResult(rows)
    if out:
        return LeaderboardResult(rows, written=export.write(rows, fmt, Path(out), title))
    return LeaderboardResult(rows, text=export.render(rows, fmt, title))


def history(lesson_id: str | None = None, db=None, student: str | None = None, workspace=None) -> list:
    """A student's attempts (default: the workspace's), newest first, with what changed since the previous one."""
    from grader.gradebook import history as attempts
    from grader.gradebook import store

    path = _gradebook(db, workspace=workspace)
    if not path.is_file():
        return []
    with store.opened(path) as conn:
        return attempts.attempts(conn, student, lesson_id if lesson_id else store.ANY)


# ------------------------------------------------------------------------------------------ gradescope


def build_autograder(lesson_id: str, out, *, quick: bool = False, epochs: int | None = None,
                     timeout: int | None = None, seed: int = 0, visibility: str = "visible"):
    """Write Gradescope's autograder zip for one lesson to `out`; an autograder.Built."""
    from grader.gradebook import autograder

    config = autograder.AutograderConfig(lesson_id, quick, epochs, timeout or autograder.DEFAULT_TIMEOUT_S, seed,
                                         visibility)
    return autograder.build(config, Path(out))


def run_autograder(root, on_event: Callable[[dict], None] | None = None):
    """Grade ROOT/submission as ROOT/source/autograder.json says and write ROOT/results/results.json."""
    from grader.gradebook import autograder

    return autograder.run(Path(root), check, grade, on_event)
