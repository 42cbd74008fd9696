"""The facade the CLI, the student workflow, batch jobs and notebooks call: check, grade, grade_all, leaderboard,
history. Each returns typed results the views render; the library raises CourseErrors, never exits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.lesson import DEFAULT_CRITERIA, Lesson, get_lesson
from grader.course.options import GradeOptions
from grader.course.verdict import Verdict, judge
from grader.errors import UsageError
from grader.events import BatchEvent, Shown
from grader.record import GradeRequest, RunRecord


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
        verdict = self.record.verdict
        assert verdict is not None  # api.grade judges every record it returns
        return verdict

    def _repr_html_(self) -> str:  # Jupyter: criteria, every epoch, and the curves
        from grader.views.html import grade_html

        return grade_html(self)


def _lesson(lesson_id: str | None) -> Lesson | None:
    return get_lesson(lesson_id) if lesson_id else None


def check(request: GradeRequest, launch=None) -> CheckResult:
    """Contract, parameters, receptive field and structure of one submission, judged statically.

    `launch` starts the worker: None for a fresh interpreter, a Zygote's launch for a warm one (`course watch`).
    """
    from grader.host import grading

    lesson = _lesson(request.lesson)
    checked = grading.check(request, lesson, **({"launch": launch} if launch else {}))
    criteria = lesson.criteria if lesson else DEFAULT_CRITERIA
    verdict = judge(criteria, checked.report)
    verdict.warnings = checked.warnings + verdict.warnings  # the policy's: code it skipped (file:line:col)
    return CheckResult(checked.report, verdict, lesson.id if lesson else None, checked.log)


def grade(request: GradeRequest, on_event: Callable[[Shown], None] | None = None, launch=None) -> GradeResult:
    """Train one submission and judge it. Writes nothing: grader.workflow records a student's run, `with_plot`
    saves the curves.

    `launch` starts the worker and evaluator: None for fresh interpreters, a Zygote's launch for warm ones.
    """
    from grader.host import grading

    graded = grading.grade(request, _lesson(request.lesson), on_event, **({"launch": launch} if launch else {}))
    return GradeResult(graded.record, graded.record.lesson, None, graded.log)


def with_plot(result: GradeResult) -> GradeResult:
    """The result with its curves saved as a PNG next to the graded file."""
    from dataclasses import replace

    from grader.views.plot import save_curves  # matplotlib is slow to import: only when a plot is wanted

    file = Path(result.record.file)
    return replace(result, plot=save_curves(result.record, file.with_name(file.stem + "_curves.png"),
                                            result.record.target))


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
                         f"(course grade, or course teach grade-all DIR --db {path})")
    return path


def grade_all(folder, lesson_id: str | None = None, options: GradeOptions = GradeOptions(), jobs: int | None = None,
              devices: list[str] | None = None, seeds: int = 1, db=None, regrade: bool = False,
              on_event: Callable[[BatchEvent], None] | None = None, backend: str = "local", address: str | None = None,
              per_gpu: int | None = None):
    """Grade every submission in `folder` into the gradebook `db` (default: ./gradebook.sqlite); a BatchResult.

    `options` applies to every grading, but for its seed (seeds 0..`seeds`-1) and device (`devices`' slots).

    `backend` "ray" grades on a Ray cluster: joined at `address` ("auto", HOST:PORT) or started here (None), with
    `per_gpu` gradings sharing each GPU. This process records every result either way.
    """
    from grader.batch.head import BatchConfig
    from grader.batch.head import grade_all as run_batch

    pool = None
    if backend == "ray":
        from grader.batch.ray_pool import pool_factory

        pool = pool_factory(address, per_gpu or 1, jobs, devices)
    elif backend != "local":
        raise UsageError(f"unknown backend {backend!r}; use local or ray")
    elif address or per_gpu:
        raise UsageError("--address and --per-gpu are for --backend ray")
    config = BatchConfig(lesson=lesson_id, options=options, jobs=jobs, devices=devices, seeds=seeds, regrade=regrade,
                         pool=pool)
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


def build_autograder(lesson_id: str, out, options: GradeOptions = GradeOptions(), visibility: str = "visible"):
    """Write Gradescope's autograder zip for one lesson to `out`; an autograder.Built."""
    from grader.gradescope import autograder

    return autograder.build(autograder.AutograderConfig(lesson_id, options, visibility), Path(out))


def run_autograder(root, on_event: Callable[[Shown], None] | None = None):
    """Grade ROOT/submission as ROOT/source/autograder.json says and write ROOT/results/results.json."""
    from grader.gradescope import autograder

    return autograder.run(Path(root), check, grade, on_event)
