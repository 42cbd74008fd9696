"""`course verify`: every stub fails its lesson's static checks, every solution passes them; with training,
every solution reaches its lesson's target on K seeds and the numbers go to solutions/RESULTS.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader import paths
from grader.authoring import results, trusted
from grader.course.lesson import Lesson, get_lesson, lesson_ids
from grader.errors import CourseError, SubmissionError, TrainingError
from grader.gradebook.progress import now

RESULTS_NAME = "RESULTS.md"


@dataclass
class StaticRow:
    """One file's static verdict and whether it is what the course needs (stub: fail, solution: pass)."""

    lesson: str
    kind: str  # "stub" or "solution"
    file: Path
    status: str  # the verdict's status, "error" (contract broken) or "missing"
    message: str
    ok: bool


@dataclass
class SeedRun:
    """One solution trained on one seed."""

    lesson: str
    seed: int
    status: str  # passed | failed | error | smoke
    message: str
    params: int | None = None
    rf: int | None = None
    best: float | None = None
    last: float | None = None
    epochs_to_target: int | None = None
    epochs: int = 0
    device: str | None = None
    seconds: float = 0.0
    ok: bool = False


@dataclass
class VerifyReport:
    static: list[StaticRow] = field(default_factory=list)
    runs: list[SeedRun] = field(default_factory=list)
    written: list[results.ResultRow] = field(default_factory=list)  # rows this run put into RESULTS.md
    results_path: Path | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.static) and all(r.ok for r in self.runs)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            "ok": self.ok,
            "static": [{**asdict(r), "file": str(r.file)} for r in self.static],
            "runs": [asdict(r) for r in self.runs],
            "results_path": str(self.results_path) if self.results_path else None,
        }


def command_line(lesson: str | None, train: bool, seeds: int, device: str) -> str:
    """The command that reproduces a verify run, as RESULTS.md quotes it."""
    words = ["course", "verify"]
    if train:
        words += ["--train", "--seeds", str(seeds), "--device", device]
    if lesson:
        words += ["--lesson", lesson]
    return " ".join(words)


def static_check(path: Path, lesson: Lesson, data_dir=None) -> tuple[str, str]:
    """(status, message) of `course check` on a course file, in this process: the course's own files are trusted."""
    from grader.course.verdict import judge

    if not path.is_file():
        return "missing", f"{path} does not exist"
    try:
        report = trusted.report_course_file(path, data_dir)
    except SubmissionError as exc:
        return "error", str(exc)
    verdict = judge(lesson.criteria, report)
    return verdict.status, verdict.message


def verify(
    lesson: str | None = None,
    train: bool = False,
    seeds: int = 3,
    device: str = "auto",
    data_dir=None,
    on_event: Callable[[dict], None] | None = None,
    lessons_root: Path | None = None,
    solutions_root: Path | None = None,
    results_path: Path | None = None,
    quick: bool = False,
) -> VerifyReport:
    """Verify every lesson (or one); with train, grade each solution on seeds 0..seeds-1 and update RESULTS.md.

    quick trains --quick smoke runs (for tests); they are written only to an explicit results_path.
    """
    lessons_root = Path(lessons_root) if lessons_root else paths.lessons_dir()
    solutions_root = Path(solutions_root) if solutions_root else paths.solutions_dir()
    ids = [get_lesson(lesson, lessons_root).id] if lesson else lesson_ids(lessons_root)
    emit = on_event or (lambda event: None)
    report = VerifyReport()
    lessons = [get_lesson(i, lessons_root) for i in ids]
    for les in lessons:
        emit({"event": "verify-static", "lesson": les.id})
        status, message = static_check(les.stub, les, data_dir)
        ok = status not in ("passed", "missing")  # a stub must exist, and must not already pass
        report.static.append(StaticRow(les.id, "stub", les.stub, status, message, ok))
        solution = solutions_root / les.id / "model.py"
        status, message = static_check(solution, les, data_dir)
        report.static.append(StaticRow(les.id, "solution", solution, status, message, ok=status == "passed"))
    if not train:
        return report
    if results_path is None and not quick:
        results_path = solutions_root / RESULTS_NAME
    report.results_path = results_path
    root = lessons_root.parent  # the repository: RESULTS.md names files as lesson markers do
    command = command_line(lesson, train, seeds, device)
    passing = {r.lesson for r in report.static if r.kind == "solution" and r.ok}
    todo = [les for les in lessons if les.id in passing]
    total = len(todo) * seeds
    for les in lessons:
        if les.id not in passing:  # a solution that fails statically cannot be calibrated
            report.runs.append(SeedRun(les.id, -1, "error", "the solution fails its static checks; not trained"))
    for n, les in enumerate(todo):
        solution = solutions_root / les.id / "model.py"
        runs, records = [], []
        for seed in range(seeds):
            emit({"event": "verify-run", "lesson": les.id, "seed": seed, "index": n * seeds + seed + 1, "total": total})
            run, record = _train_one(solution, les, seed, device, data_dir, quick, emit)
            runs.append(run)
            if record is not None:
                records.append(record)
            emit({"event": "verify-done", "run": run})
        report.runs.extend(runs)
        if records and results_path is not None and len(records) == len(runs):
            row = _result_row(les, solution, root, records, runs, command, quick)
            merged = results.merge(results.read(results_path), [row])
            results.write(results_path, merged, command, now())
            report.written.append(row)
    return report


def _train_one(solution: Path, lesson: Lesson, seed: int, device: str, data_dir, quick: bool, emit):
    from grader import api

    started = time.perf_counter()
    try:
        result = api.grade(solution, lesson.id, device=device, seed=seed, quick=quick, data_dir=data_dir, on_event=emit,
                           plot=False)
    except (SubmissionError, TrainingError) as exc:
        return SeedRun(lesson.id, seed, "error", str(exc), seconds=time.perf_counter() - started), None
    except CourseError as exc:
        if exc.kind != "worker":  # data, usage, device: nothing to learn from the other seeds either
            raise
        return SeedRun(lesson.id, seed, "error", str(exc), seconds=time.perf_counter() - started), None
    rec, verdict = result.record, result.verdict
    ok = verdict.status == "passed" or (quick and verdict.status == "smoke")
    run = SeedRun(
        lesson.id, seed, verdict.status, verdict.message, rec.params, rec.rf, rec.best_acc, rec.last_acc,
        verdict.epochs_to_target, len(rec.epochs), rec.device_name, rec.duration, ok,
    )
    return run, rec


def _result_row(lesson: Lesson, solution: Path, root: Path, records: list, runs: list[SeedRun],
                command: str, quick: bool) -> results.ResultRow:
    first = records[0]
    try:
        rel = solution.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = os.fspath(solution)
    return results.ResultRow(
        lesson=lesson.id, file=rel, sha256=first.sha256, device=first.device_name, params=first.params,
        rf=first.rf, seeds=[r.seed for r in runs], best=[r.best for r in runs], last=[r.last for r in runs],
        epochs_to_target=[r.epochs_to_target for r in runs], epochs=[r.epochs for r in runs],
        passed=[r.status == "passed" for r in runs], seconds=[round(r.seconds, 1) for r in runs], when=now(),
        command=command, torch=first.versions.get("torch"), quick=quick,
    )
