"""What a course author sees: `course verify` (with its training progress) and `course docs`."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.authoring.results import is_solution_file
from grader.events import CheckReport, EpochDone, Event, VerifyDone, VerifyRun, VerifyStatic
from grader.views.console import MARK, fmt_num
from grader.views.student import GradeProgress


class VerifyProgress(GradeProgress):
    """`course verify --train`: which lesson and seed is training, a bar per epoch, a line per finished run."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, VerifyStatic):
            return
        if isinstance(event, VerifyRun):
            self.out.rule(f"[{event.index}/{event.total}] {_verify_name(event.lesson, event.file)} seed {event.seed}")
        elif isinstance(event, VerifyDone):
            run = event.run
            style = "green" if run.ok else "red"
            best = fmt_num(run.best, ".2f") if run.best is not None else "-"
            last = fmt_num(run.last, ".2f") if run.last is not None else "-"
            target = f"epochs to target {run.epochs_to_target or '-'}  " if run.measured_on == "test" else ""
            self.out.print(f"[{style}]{_verify_name(run.lesson, run.file)} seed {run.seed}: {run.outcome}[/]  "
                           f"best {best} %  last {last} %  {target}{run.seconds:.0f}s")
            if self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
        elif isinstance(event, EpochDone):
            # one line per epoch of every seed of every lesson would bury the summary lines: keep the bar only (in a
            # log, the next epoch's step lines)
            if self.plain:
                self.epoch, self.shown = event.epoch + 1, 0
            if event.epoch < self.epochs and self.task is not None:
                self._next_epoch(event.epoch + 1)
        elif isinstance(event, CheckReport):
            return
        else:
            super().__call__(event)


def _verify_name(lesson: str, file: str) -> str:
    """A solution's runs are named by the lesson; an extra file's (a hint path, a comparison) by lesson and file."""
    return lesson if not file or is_solution_file(file) else f"{lesson}: {file.rsplit('/', 1)[-1]}"


def show_verify(report, out: Console) -> None:
    must = {"stub": "fail", "solution": "pass"}
    rows = [(r.lesson, r.kind if r.kind != "extra" else r.file.name,
             must.get(r.kind, "pass" if r.expect == "pass" else "build"), r.status,
             "[green]yes[/]" if r.ok else "[red]NO[/]") for r in report.static]
    table = Table(box=box.SIMPLE_HEAVY, title="Static checks (no training)", title_justify="left")
    widths = [max([len(col)] + [len(Text.from_markup(r[i])) for r in rows])
              for i, col in enumerate(("lesson", "file", "must", "got", "ok"))]
    for col, width in zip(("lesson", "file", "must", "got", "ok"), widths):
        table.add_column(col, no_wrap=True, min_width=width)
    # the message takes what is left of the line, cut with an ellipsis (the full text of a failure follows)
    table.add_column("why", no_wrap=True, overflow="ellipsis",
                     max_width=max(20, out.width - sum(widths) - 3 * len(widths) - 6))
    for row, r in zip(rows, report.static):
        table.add_row(*row, Text(r.message.splitlines()[0] if r.message else "", style="dim"))
    out.print(table)
    for r in report.static:
        if not r.ok:
            out.print(f"[red]{r.lesson} {r.kind}[/] ({r.file}): {r.status}: {r.message}", soft_wrap=True)
    if report.runs:
        devices = list(dict.fromkeys(r.device or "-" for r in report.runs))
        # one device (the usual case) is said once in the title, so the table fits 80 columns
        several = len(devices) > 1
        title = "Trained solutions" if several else f"Trained solutions, on {devices[0]}"
        if all(r.measured_on == "validation" for r in report.runs):
            title += "; best and last on the validation split"
        runs = Table(box=box.SIMPLE_HEAVY, title=title, title_justify="left", pad_edge=False,
                     collapse_padding=True)
        columns = ["lesson", "seed", "params", "RF", "best", "last", "to target", "time", ""]
        if several:
            columns.insert(-2, "device")
        # only the names give way when the line is too narrow: a long file name wraps onto a second line, the
        # device is cut with an ellipsis (in full below); every figure stays whole
        for col in columns:
            runs.add_column(col, justify="left" if col in ("lesson", "device") else "right",
                            no_wrap=col not in ("lesson", "device"), min_width=len(col) if col else 4,
                            overflow="fold" if col == "lesson" else "ellipsis")
        for r in report.runs:
            cells = [
                _verify_name(r.lesson, r.file), str(r.seed) if r.seed >= 0 else "-",
                f"{r.params:,}" if r.params else "-", str(r.rf or "-"),
                fmt_num(r.best, ".2f") if r.best is not None else "-",
                fmt_num(r.last, ".2f") if r.last is not None else "-",
                str(r.epochs_to_target or "-"), f"{r.seconds:.0f}s", MARK[r.ok],
            ]
            if several:
                cells.insert(-2, Text(r.device or "-", no_wrap=True, overflow="ellipsis"))
            runs.add_row(*cells)
        out.print(runs)
        if several:  # in full, in case a narrow terminal cut the column
            out.print(f"[dim]Devices: {'; '.join(devices)}[/]", soft_wrap=True)
        for r in report.runs:
            if not r.ok:
                want = "" if r.expect == "pass" else f" (the lesson expects: {r.expect})"
                out.print(f"[red]{_verify_name(r.lesson, r.file)} seed {r.seed}[/]: {r.outcome}{want}: {r.message}",
                          soft_wrap=True)
    for note in report.notes:
        out.print(f"[yellow]Note:[/] {note}", soft_wrap=True)
    if report.written:
        out.print(f"Wrote {', '.join(r.label for r in report.written)} to [bold]{report.results_path}[/].")
    if report.ok:
        out.print("[green]Verified:[/] every stub fails its lesson and every solution passes.")
    else:
        out.print("[red]Verification failed[/] (see above).")


def show_docs(report, check: bool, out: Console) -> None:
    for c in report.changes:
        old, new = c.old, c.new
        if "\n" in old or "\n" in new:  # tables: say that they differ, not both whole tables
            old, new = f"table ({len(old.splitlines())} lines)", f"table ({len(new.splitlines())} lines)"
        out.print(f"{c.where}:{c.line}: {c.key} {c.source}: {old or '(empty)'} -> {new}", soft_wrap=True, markup=False)
    for line in report.missing:
        out.print(f"{line}", soft_wrap=True, markup=False)
    for line in getattr(report, "awaiting", []):
        out.print(f"{line}", soft_wrap=True, markup=False, style="yellow")
    n, docs = report.markers, len(report.documents)
    if getattr(report, "awaiting", []):
        out.print(f"[yellow]{len(report.awaiting)} result marker(s) await training[/] of files "
                  "`course dev verify --train` trains (left as they are); run the commands above, then "
                  "`course dev docs`.")
    if report.missing:
        out.print(f"[red]{len(report.missing)} result marker(s) have no current trained results[/] (left as they are); "
                  "run the commands above, then `course dev docs`.")
    if check:
        if report.changes:
            out.print(f"[red]{len(report.changes)} of {n} marker(s) are stale[/]; `course dev docs` rewrites them.")
        elif not report.missing:
            waiting = len(getattr(report, "awaiting", []))
            if waiting:
                out.print(f"[green]The other {n - waiting} marker(s) in {docs} document(s) are up to date.[/]")
            else:
                out.print(f"[green]All {n} marker(s) in {docs} document(s) are up to date.[/]")
    elif report.written:
        out.print(f"Updated {len(report.changes)} marker(s) in {len(report.written)} file(s).")
    elif not report.missing:
        out.print(f"All {n} marker(s) in {docs} document(s) were already up to date.")
