"""`course watch` on screen: the criteria table of the last check, redrawn on every save, and the keys."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from grader.views.console import STYLE, show_error
from grader.views.student import GradeProgress, criteria_table, show_grade, show_hint

KEYS = "[bold]g[/] grade   [bold]h[/] hint   [bold]Enter[/] check again   [bold]q[/] quit"


class WatchScreen:
    """Clears and redraws after each check in a terminal; elsewhere (a pipe, a test) it only appends."""

    def __init__(self, out: Console, manual: bool = False, quick: bool = False):
        self.out = out
        self.manual = manual
        self.quick = quick

    def _keys(self) -> None:
        how = "Save and press Enter to check again" if self.manual else "Checks again on every save"
        grade = "g runs a --quick smoke grade" if self.quick else "g trains it for real"
        self.out.print(f"[dim]{how}; {grade}.[/]  {KEYS}")

    def checked(self, state) -> None:
        if self.out.is_terminal:
            self.out.clear()
        else:
            self.out.rule()
        scope = state.lesson or "the course target"
        when = state.checked_at.strftime("%H:%M:%S") if state.checked_at else ""
        self.out.print(f"[bold]course watch[/] {escape(str(state.file))} ({scope}) · check {state.checks} at {when}")
        if state.error is not None:
            show_error(escape(state.error), self.out)
        else:
            result = state.judged.result
            r = result.report
            self.out.print(f"Parameters: [bold]{r['params']:,}[/]   receptive field: "
                           f"[bold]{r['rf']['rf_before_global_pool']}[/] before global pooling")
            self.out.print(criteria_table(result.verdict))
            status = result.verdict.status
            self.out.print(f"[{STYLE.get(status, 'bold')}]{escape(result.verdict.message)}[/]", soft_wrap=True)
        self._keys()

    @contextmanager
    def grading(self, state):
        self.out.rule("grading" + (" (--quick)" if self.quick else ""))
        with GradeProgress(self.out) as progress:
            yield progress

    def graded(self, state) -> None:
        show_grade(state.last_grade.result, self.out)
        self._keys()

    def hint(self, answer) -> None:
        show_hint(answer, self.out)
        self._keys()

    def message(self, text: str) -> None:
        self.out.print(f"[yellow]{escape(text)}[/]", soft_wrap=True)

    def bye(self, summary) -> None:
        self.out.print(f"[dim]Stopped watching {summary.file}: {summary.checks} check(s), {summary.grades} "
                       f"grading(s), {summary.hints} hint(s).[/]")
