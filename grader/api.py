"""The calls the CLI makes: one function per command, each returning plain results the renderer shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.errors import UsageError
from grader.course.lesson import DEFAULT_CRITERIA, Lesson, get_lesson
from grader.host.runner import run_worker
from grader.course.verdict import Verdict, judge


@dataclass
class CheckResult:
    report: dict
    verdict: Verdict
    lesson: str | None
    log: str = ""


@dataclass
class GradeResult:
    record: dict
    verdict: Verdict
    lesson: str | None
    plot: Path | None = None
    log: str = ""
    extra: dict = field(default_factory=dict)


def _lesson(lesson_id: str | None) -> Lesson | None:
    return get_lesson(lesson_id) if lesson_id else None


def _file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist; pass the path of a model.py")
    return path.resolve()


def _screen(path: Path, lesson: Lesson | None) -> str:
    """The static policy, in this process, before any worker starts: a refused file never runs. Its sha256."""
    from grader.walls.policy import check_file

    return check_file(path, lesson.allowed_imports if lesson else ())


def check(path, lesson_id: str | None = None, data_dir=None) -> CheckResult:
    """Contract, parameters, receptive field and structure of one submission, judged statically."""
    lesson = _lesson(lesson_id)
    file = _file(path)
    request = {"mode": "check", "file": str(file), "data_dir": _str(data_dir), "sha256": _screen(file, lesson)}
    out = run_worker(request, timeout=120)
    report = out.result["report"]
    criteria = lesson.criteria if lesson else DEFAULT_CRITERIA
    return CheckResult(report, judge(criteria, report), lesson.id if lesson else None, out.log)


def grade(
    path,
    lesson_id: str | None = None,
    device: str = "auto",
    seed: int = 0,
    epochs: int | None = None,
    quick: bool = False,
    data_dir=None,
    timeout: float | None = None,
    on_event: Callable[[dict], None] | None = None,
    plot: bool = True,
    db: Path | None = None,
    student: str | None = None,
    source: str | None = None,
    compile: bool = False,
    channels_last: bool = False,
) -> GradeResult:
    """Train one submission in a worker and judge it; the record holds everything needed to reproduce it.

    With `db`, the run (or the error that stopped it) is recorded in that gradebook when it ends, as
    `student`'s attempt (default: the login name) at `source` (default: the file itself).
    """
    if db is not None:
        from grader.gradebook import store

        kw = dict(path=path, lesson_id=lesson_id, device=device, seed=seed, epochs=epochs, quick=quick,
                  data_dir=data_dir, timeout=timeout, on_event=on_event, plot=plot, compile=compile,
                  channels_last=channels_last)
        return store.graded(db, lambda: grade(**kw), file=path, lesson=lesson_id, seed=seed, quick=quick,
                            epochs_limit=epochs, device=device, student=student, source=source)
    lesson = _lesson(lesson_id)
    criteria = lesson.criteria if lesson else DEFAULT_CRITERIA
    file = _file(path)
    request = {
        "mode": "grade",
        "file": str(file),
        "sha256": _screen(file, lesson),
        "max_params": criteria.max_params,
        "data_dir": _str(data_dir),
        "device": device,
        "seed": seed,
        "epochs": epochs,
        "quick": quick,
        "max_epochs": criteria.max_epochs,
        "lesson_recipe": lesson.recipe if lesson else None,
        "loop": {"compile": compile, "channels_last": channels_last},
    }
    from grader.evaluator.evaluate import Evaluator  # re-measures the exported model in a process of its own

    with Evaluator(data_dir) as evaluator:

        def events(event: dict) -> None:
            # On a GPU the CPU idles while the worker trains: the evaluator warms up meanwhile. On the CPU it
            # would take cores from training (OpenMP stalls at every barrier), so it starts afterwards.
            if event.get("event") == "start" and event.get("device_type") not in (None, "cpu"):
                evaluator.start(beside_training=True)
            if on_event is not None:
                on_event(event)

        out = run_worker(request, events, timeout=timeout or (lesson.timeout if lesson else 3600),
                         after=lambda workdir, out: evaluator.verify(workdir, out.result["record"]))
    record = out.result["record"]
    record["lesson"] = lesson.id if lesson else None
    verdict = judge(criteria, record["report"], [e["test_acc"] for e in record["epochs"]], quick=quick)
    record["verdict"] = verdict.to_dict()
    plot_path = None
    if plot:
        from grader.views.plot import save_curves  # matplotlib is slow to import: only when a plot is wanted

        target = criteria.accuracy.target if criteria.accuracy else None
        plot_path = save_curves(record, Path(record["file"]).with_name(Path(record["file"]).stem + "_curves.png"), target)
    return GradeResult(record, verdict, record["lesson"], plot_path, out.log)


def _str(value) -> str | None:
    return str(value) if value else None


# ------------------------------------------------------------------------ gradebook: batch, leaderboard, history


def _gradebook(db, must_exist: bool = False, workspace=None) -> Path:
    from grader.gradebook import store

    path = Path(db) if db else store.workspace_gradebook(workspace)
    if must_exist and not path.is_file():
        raise UsageError(f"no gradebook at {path}; grade something first (course grade, or course grade-all DIR --db {path})")
    return path


def grade_all(folder, lesson_id: str | None = None, jobs: int | None = None, devices: list[str] | None = None,
              seeds: int = 1, db=None, regrade: bool = False, quick: bool = False, epochs: int | None = None,
              data_dir=None, timeout: float | None = None, on_event: Callable[[dict], None] | None = None,
              workspace=None):
    """Grade every submission in `folder` into the gradebook `db` (default: the workspace's); a BatchResult."""
    from grader.gradebook.batch import BatchConfig, grade_all as run_batch

    config = BatchConfig(lesson=lesson_id, jobs=jobs, devices=devices, seeds=seeds, quick=quick, epochs=epochs,
                         regrade=regrade, data_dir=_str(data_dir), timeout=timeout)
    return run_batch(folder, _gradebook(db, workspace=workspace), config, on_event)


@dataclass
class LeaderboardResult:
    rows: list
    text: str | None = None  # the export, when it was not written to a file
    written: list[Path] = field(default_factory=list)


def leaderboard(lesson_id: str | None = None, db=None, fmt: str = "table", out=None,
                anonymize: bool = False, workspace=None) -> LeaderboardResult:
    """Rank the gradebook's students per lesson; export as csv/json/md/html/gradescope to `out` or as text."""
    from grader.gradebook import export
    from grader.gradebook import store
    from grader.gradebook import leaderboard as board

    if fmt == "gradescope" and not out:
        raise UsageError("--format gradescope writes a folder of results.json files; pass -o FOLDER")
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
