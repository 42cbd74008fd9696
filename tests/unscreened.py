"""Run a file through the real worker without the static policy, as if it had slipped past it: how the tests prove
the walls behind the policy (the OS sandbox, the channel, the evaluator) hold on their own."""

from dataclasses import dataclass, field
from pathlib import Path

from grader.channel import exit_reason, parse_event  # noqa: F401 - re-exported for the tests
from grader.course.options import GradeOptions
from grader.host import grading
from grader.host.grading import WorkerError  # noqa: F401 - re-exported for the tests
from grader.record import GradeRequest


@dataclass
class Outcome:
    result: dict  # {"report": ...} for a check, {"record": RunRecord} for a grade
    log: str = ""
    log_truncated: int = 0
    events: list = field(default_factory=list)


def run_unscreened(file, mode: str = "check", timeout: float = 120, limits=None, launch=None, **options) -> Outcome:
    """Check (or grade, with `mode="grade"`) `file` with the static policy skipped; `launch`: warm children;
    `options`: GradeOptions' fields."""
    limits = limits.to_dict() if hasattr(limits, "to_dict") else limits
    req = GradeRequest(Path(file), options=GradeOptions.of(timeout=timeout, **options))
    started = {"launch": launch} if launch is not None else {}
    if mode == "check":
        checked = grading.check(req, None, screen=False, limits=limits, **started)
        return Outcome({"report": checked.report}, checked.log, checked.log_dropped)
    events = []
    graded = grading.grade(req, None, events.append, screen=False, limits=limits, **started)
    return Outcome({"record": graded.record}, graded.log, graded.log_dropped, events)
