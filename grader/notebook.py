"""The course from Python, for notebooks: `import grader.notebook as course`.

    checked = course.check("model.py", lesson="lesson6")           # seconds, trains nothing
    graded = course.grade("model.py", lesson="lesson6", quick=True)  # prints progress, returns the result

Both return grader.api's typed results (CheckResult, GradeResult with its RunRecord), which Jupyter and Colab
show as HTML tables (`_repr_html_`); `graded.record` has every figure (`best_acc`, `epochs`, `params` ...).
Errors are raised as grader.errors.CourseError with the same message the command line prints.
"""

from __future__ import annotations

import sys

from grader import api
from grader.api import CheckResult, GradeResult

__all__ = ["check", "grade", "CheckResult", "GradeResult"]


def check(file="model.py", lesson: str | None = None, *, data_dir=None) -> CheckResult:
    """`course check FILE --lesson LESSON`: contract, parameters, receptive field and static criteria."""
    return api.check(file, lesson, data_dir)


def grade(file="model.py", lesson: str | None = None, *, quick: bool = False, device: str = "auto", seed: int = 0,
          epochs: int | None = None, progress: bool = True, plot: bool = True, data_dir=None,
          timeout: float | None = None) -> GradeResult:
    """`course grade FILE --lesson LESSON [--quick]`: train with the grader's loop and judge, printing progress."""
    if not progress:
        return api.grade(file, lesson, device=device, seed=seed, epochs=epochs, quick=quick, data_dir=data_dir,
                         timeout=timeout, plot=plot)
    from rich.console import Console

    from grader.views.student import GradeProgress

    # plain text into the cell's stdout: no Jupyter widgets, no escape codes (the kernel sets FORCE_COLOR)
    out = Console(file=sys.stdout, force_terminal=False, force_jupyter=False, color_system=None, highlight=False)
    with GradeProgress(out) as shown:
        return api.grade(file, lesson, device=device, seed=seed, epochs=epochs, quick=quick, data_dir=data_dir,
                         timeout=timeout, plot=plot, on_event=shown)
