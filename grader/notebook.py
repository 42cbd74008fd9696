"""The course from Python, for notebooks: `import grader.notebook as course`.

    checked = course.check("model.py", lesson="lesson6")           # seconds, trains nothing
    graded = course.grade("model.py", lesson="lesson6", quick=True)  # prints progress, returns the result

Both return grader.api's typed results (CheckResult, GradeResult with its RunRecord), which Jupyter and Colab
show as HTML tables (`_repr_html_`); `graded.record` has every figure (`best_acc`, `epochs`, `params` ...).
Errors are raised as grader.errors.CourseError with the same message the command line prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader import api
from grader.api import CheckResult, GradeResult
from grader.course.options import GradeOptions
from grader.record import GradeRequest

__all__ = ["check", "grade", "CheckResult", "GradeResult", "GradeOptions"]


def check(file="model.py", lesson: str | None = None, **options) -> CheckResult:
    """`course check FILE --lesson LESSON`: contract, parameters, receptive field and static criteria.

    `options`: GradeOptions' fields by name (data_dir=..., seed=...).
    """
    return api.check(GradeRequest(Path(file), lesson, GradeOptions.of(**options)))


def grade(file="model.py", lesson: str | None = None, *, progress: bool = True, plot: bool = True,
          **options) -> GradeResult:
    """`course grade FILE --lesson LESSON [--quick]`: train with the grader's loop and judge, printing progress.

    `options`: GradeOptions' fields by name (quick=True, epochs=3, device="cpu", channels_last=True ...).
    """
    request = GradeRequest(Path(file), lesson, GradeOptions.of(**options))
    if not progress:
        result = api.grade(request)
    else:
        from rich.console import Console

        from grader.views.student import GradeProgress

        # plain text into the cell's stdout: no Jupyter widgets, no escape codes (the kernel sets FORCE_COLOR)
        out = Console(file=sys.stdout, force_terminal=False, force_jupyter=False, color_system=None, highlight=False)
        with GradeProgress(out) as shown:
            result = api.grade(request, shown)
    return api.with_plot(result) if plot else result
