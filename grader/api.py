"""The calls the CLI makes: one function per command, each returning plain results the renderer shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.errors import UsageError
from grader.lesson import DEFAULT_CRITERIA, Lesson, get_lesson
from grader.runner import run_worker
from grader.verdict import Verdict, judge


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


def check(path, lesson_id: str | None = None, data_dir=None) -> CheckResult:
    """Contract, parameters, receptive field and structure of one submission, judged statically."""
    lesson = _lesson(lesson_id)
    request = {"mode": "check", "file": str(_file(path)), "data_dir": _str(data_dir)}
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
) -> GradeResult:
    """Train one submission in a worker and judge it; the record holds everything needed to reproduce it."""
    lesson = _lesson(lesson_id)
    criteria = lesson.criteria if lesson else DEFAULT_CRITERIA
    request = {
        "mode": "grade",
        "file": str(_file(path)),
        "data_dir": _str(data_dir),
        "device": device,
        "seed": seed,
        "epochs": epochs,
        "quick": quick,
        "max_epochs": criteria.max_epochs,
        "lesson_recipe": lesson.recipe if lesson else None,
    }
    out = run_worker(request, on_event, timeout=timeout or (lesson.timeout if lesson else 3600))
    record = out.result["record"]
    record["lesson"] = lesson.id if lesson else None
    verdict = judge(criteria, record["report"], [e["test_acc"] for e in record["epochs"]], quick=quick)
    record["verdict"] = verdict.to_dict()
    plot_path = None
    if plot:
        from grader.plot import save_curves  # matplotlib is slow to import: only when a plot is wanted

        target = criteria.accuracy.target if criteria.accuracy else None
        plot_path = save_curves(record, Path(record["file"]).with_name(Path(record["file"]).stem + "_curves.png"), target)
    return GradeResult(record, verdict, record["lesson"], plot_path, out.log)


def _str(value) -> str | None:
    return str(value) if value else None
