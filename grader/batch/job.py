"""One grading of a batch, wherever it runs: a thread of the local pool or a Ray task.

A job grades one (submission, seed) through grader.host.grading, as `course grade` does (worker, evaluator, walls),
and returns what came of it as plain data; it never writes the gradebook. The batch's head process records every
result, so one SQLite file has one writer whichever machine graded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grader.course.options import GradeOptions
from grader.events import CheckReport, JobShown, Shown


@dataclass(frozen=True)
class JobSpec:
    """What one grading of a batch needs; plain data, so it can cross a process or a network."""

    student: str
    file: str  # the model.py to grade, on the machine that grades it
    source: str  # what the student handed in (a folder's model.py, a .py or a .zip)
    lesson: str | None = None
    # the batch's, with this job's seed; its device is "auto" until the local pool assigns a slot's (a Ray task
    # takes what its node has)
    options: GradeOptions = GradeOptions()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobSpec:
        return cls(**{**raw, "options": GradeOptions.from_dict(raw.get("options"))})

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def device(self) -> str:
        return self.options.device

    def on(self, device: str) -> JobSpec:
        """This job, to run on `device`."""
        return replace(self, options=replace(self.options, device=device))


def grade_job(spec: JobSpec, emit: Callable[[JobShown], None] | None = None, launch=None) -> dict[str, Any]:
    """Grade one job: {"record": RunRecord dict} or {"error": {"kind", "message", "record"}}, with its seconds.

    `emit` gets the grading's progress events, tagged with the job's student and seed (JobShown);
    `launch` starts its worker and evaluator (default: cold, a fresh interpreter each).
    """
    from grader.course.lesson import get_lesson
    from grader.errors import CourseError, UsageError
    from grader.host import grading
    from grader.record import GradeRequest

    def forward(event: Shown) -> None:
        if emit is not None and not isinstance(event, CheckReport):  # the check report is large; the batch shows none
            emit(JobShown(spec.student, spec.seed, event))

    started = time.perf_counter()
    try:
        request = GradeRequest(Path(spec.file), spec.lesson, spec.options)
        result = grading.grade(request, get_lesson(spec.lesson) if spec.lesson else None, forward,
                               **({"launch": launch} if launch is not None else {}))
    except CourseError as exc:
        # a usage error (a typo in the command) is not the student's attempt: it is reported, not recorded
        return {"error": {"kind": exc.kind, "message": str(exc), "record": not isinstance(exc, UsageError)},
                "seconds": time.perf_counter() - started}
    except Exception as exc:  # a grader bug must not take the batch down; say what it was
        return {"error": {"kind": "internal", "message": f"grading failed unexpectedly ({type(exc).__name__}: {exc})",
                          "record": False}, "seconds": time.perf_counter() - started}
    return {"record": result.record.to_dict(), "seconds": time.perf_counter() - started}


def materialize_file(data: bytes, directory: Path) -> str:
    """Write a submission's bytes where a remote job can grade them (Ray moves bytes, not paths)."""
    target = Path(directory) / "model.py"
    target.write_bytes(data)
    return str(target)
