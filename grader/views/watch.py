"""`course watch` on screen: "checking" the instant a save lands, the policy's refusals at once, then the criteria
table of the full check; and the keys."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from grader.views.console import STYLE, say, show_error
from grader.views.student import GradeProgress, criteria_table, show_grade, show_hint
from grader.views.words import lesson_name, plural, rf_text

KEYS = "[bold]g[/] grade  [bold]h[/] hint  [bold]Enter[/] check again  [bold]q[/] quit"


class WatchScreen:
    """Clears and redraws after each check in a terminal; elsewhere (a pipe, a test) it only appends."""

    def __init__(self, out: Console, manual: bool = False, quick: bool = False):
        self.out = out
        self.manual = manual
        self.quick = quick

    def _keys(self) -> None:
        # two short lines: one line of both wraps in an 80-column terminal
        how = "Save, then press Enter to check again" if self.manual else "Checks again on every save"
        grade = "g runs a --quick smoke grade" if self.quick else "g trains it for real"
        say(self.out, f"[dim]{how}; {grade}.[/]")
        say(self.out, KEYS)

    def _header(self, state) -> None:
        """A fresh screen (a rule in a pipe) headed by the file, its lesson and the check's number and time."""
        if self.out.is_terminal:
            self.out.clear()
        else:
            self.out.rule()
        scope = lesson_name(state.lesson)
        when = state.checked_at.strftime("%H:%M:%S") if state.checked_at else ""
        say(self.out, f"[bold]course watch[/] {escape(str(state.file))} ({escape(scope)}) · check {state.checks} "
                      f"at {when}")

    def checking(self, state) -> None:
        """The instant a save lands: the last result goes, so it is never taken for this one's."""
        self._header(state)
        say(self.out, f"[yellow]checking {escape(state.file.name)} ...[/]")

    def screened(self, state) -> None:
        """The static policy's answer: its refusals are the verdict; otherwise the worker's check is on its way."""
        if state.refused is not None:
            show_error(state.refused, self.out)
            say(self.out, "[dim]Refused before running; fix these lines and save.[/]")
            self._keys()
        else:
            say(self.out, "[dim]Nothing refused; building the model in a worker ...[/]")

    def checked(self, state) -> None:
        if state.refused is not None and state.error == state.refused:
            return  # the check refused what the policy did, and that is on the screen already
        self._header(state)
        if state.error is not None:
            show_error(state.error, self.out)  # show_error escapes the message itself
        else:
            result = state.judged.result
            r = result.report
            say(self.out, f"Parameters: [bold]{r['params']:,}[/]   receptive field: {escape(rf_text(r['rf']))}")
            self.out.print(criteria_table(result.verdict))
            status = result.verdict.status
            say(self.out, result.verdict.message, style=STYLE.get(status, "bold"), markup=False)
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
        say(self.out, text, style="yellow", markup=False)

    def bye(self, summary) -> None:
        say(self.out, f"Stopped watching {summary.file}: {plural(summary.checks, 'check')}, "
                      f"{plural(summary.grades, 'grading')}, {plural(summary.hints, 'hint')}.",
            style="dim", markup=False)
