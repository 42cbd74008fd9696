"""What an instructor sees: a batch's progress and summary, the leaderboard and a student's history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from grader.course.verdict import ERROR, FAILED, PASSED, SMOKE
from grader.events import (
    BatchDone,
    BatchEvent,
    BatchStart,
    EpochDone,
    JobShown,
    JobStarted,
    Outcome,
    Progress,
    TrainStart,
)
from grader.views.console import STYLE, acc_text, int_text, local_time, next_command, say
from grader.views.words import plural

if TYPE_CHECKING:
    from rich.progress import TaskID  # rich.progress is a slow import; `course list` never needs it

BATCH_MARK = {PASSED: "[green]pass[/]", FAILED: "[red]FAIL[/]", SMOKE: "[yellow]smoke[/]",
              "error": "[red]ERROR[/]", "skipped": "[dim]skip[/]"}


class BatchProgress:
    """`course grade-all`: a bar over the batch, a line per running grading, a line per finished one."""

    def __init__(self, out: Console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.out = out
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=out, transient=True,
        )
        self.total: TaskID | None = None
        self.running: dict[tuple[str, int], TaskID] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, event: BatchEvent) -> None:
        if isinstance(event, BatchStart):
            say(self.out, f"{plural(event.students, 'submission')}; {plural(event.total, 'grading')} to run, "
                          f"{event.skipped} already in the gradebook; {event.jobs} at a time on "
                          f"{', '.join(event.devices)}", markup=False)
            self.total = self.progress.add_task("[bold]batch", total=event.total, note="")
        elif isinstance(event, JobStarted):
            self.running[(event.student, event.seed)] = self.progress.add_task(
                f"  {event.student} seed {event.seed}", total=None, note=f"starting on {event.device}")
        elif isinstance(event, JobShown) and (event.student, event.seed) in self.running:
            self._shown(self.running[(event.student, event.seed)], event.shown)
        elif isinstance(event, BatchDone):
            self._done(event.outcome)

    def _shown(self, task: TaskID, shown: TrainStart | Progress | EpochDone) -> None:
        if isinstance(shown, TrainStart):
            self.progress.update(task, total=shown.steps_per_epoch, completed=0, note=f"epoch 1/{shown.epochs}")
        elif isinstance(shown, Progress):
            self.progress.update(task, completed=shown.step)
        else:
            self.progress.update(task, note=f"epoch {shown.epoch} test {shown.test_acc:.2f}%")

    def _done(self, o: Outcome) -> None:
        task = self.running.pop((o.student, o.seed), None)
        if task is not None:
            self.progress.remove_task(task)
        if self.total is not None:
            self.progress.advance(self.total)
        detail = o.message.splitlines()[0] if o.status == ERROR and o.message else (
            f"{int_text(o.params)} params, best {acc_text(o.best_acc)}")
        took = f"  {o.duration:.0f}s" if o.duration else ""
        say(self.out, f"{escape(detail)}{took}", label=f"{BATCH_MARK[o.status]} {escape(o.student)} (seed {o.seed}):")


def show_batch(result, out: Console) -> None:
    """The summary after `course grade-all`: counts, the slowest runs, the errors, where the runs went."""
    counts = result.counts()
    table = Table(box=box.SIMPLE_HEAVY, title="Batch summary", title_justify="left")
    for col in ("passed", "failed", "smoke", "errors", "skipped", "not run", "wall time", "/min"):
        table.add_column(col, justify="right", no_wrap=True)
    rate = result.gradings_per_minute
    table.add_row(f"[green]{counts['passed']}[/]", f"[red]{counts['failed']}[/]", str(counts["smoke"]),
                  f"[red]{counts['error']}[/]", str(counts["skipped"]), str(counts["not run"]),
                  f"{result.seconds:.0f}s", "-" if rate is None else f"{rate:.1f}")
    out.print(table)
    slow = result.slowest()
    if slow:
        table = Table(box=box.SIMPLE, title="Slowest", title_justify="left")
        for col in ("student", "seed", "status", "device", "time"):
            table.add_column(col, justify="right" if col in ("seed", "time") else "left")
        for o in slow:
            table.add_row(o.student, str(o.seed), o.status, o.device or "-", f"{o.duration:.1f}s")
        out.print(table)
    for o in result.outcomes:
        if o.status == ERROR:
            say(out, o.message, label=f"[red]error[/] {escape(o.student)} (seed {o.seed}, {escape(o.source)}):",
                markup=False)
    for names in result.identical:
        say(out, ", ".join(names), label="[yellow]identical files:[/]", markup=False)
    if result.interrupted:
        out.print("[yellow]Interrupted:[/] finished runs are kept; run the same command again to grade the rest.")
    say(out, f"Gradebook: [bold]{escape(str(result.db))}[/]")
    next_command(out, f"course teach leaderboard --db {result.db}")


def leaderboard_table(rows, lesson: str | None) -> Table:
    """One lesson's ranking; every column fits an 80-column terminal, a long name wraps inside its own cell."""
    table = Table(box=box.SIMPLE_HEAVY, title=f"Leaderboard: {escape(lesson or 'course target')}", title_justify="left",
                  pad_edge=False)
    for col in ("#", "student", "status", "params", "RF", "best acc", "to target", "epochs", "runs"):
        table.add_column(col, justify="left" if col in ("student", "status") else "right",
                         no_wrap=col != "student", overflow="fold" if col == "student" else "ellipsis",
                         min_width=10 if col == "student" else None)
    for r in rows:
        status = "smoke" if r.status == SMOKE else r.status
        shown = f"[{STYLE.get(r.status, '')}]{status}[/]" + ("\n[yellow]smoke run[/]" if r.quick and r.status != SMOKE
                                                              else "")
        table.add_row(str(r.rank), escape(r.student), shown, int_text(r.params),
                      str(r.rf) if r.rf is not None else "-", acc_text(r.best_acc), str(r.epochs_to_target or "-"),
                      str(r.epochs_run), str(r.attempts))
    return table


def show_reasons(rows, out: Console) -> None:
    """Under the table, why each run that did not pass did not: a line each, wrapped, never a column cut off."""
    for r in rows:
        if r.reason:
            say(out, r.reason, label=f"{r.rank} {escape(r.student)}:", markup=False)


def show_leaderboard(result, out: Console) -> None:
    if result.written:
        say(out, f"Wrote {len(result.written)} file(s): " + ", ".join(str(p) for p in result.written[:3])
            + (" ..." if len(result.written) > 3 else ""), markup=False)
    elif not result.rows:
        say(out, "No runs to rank (grade-all records them; --lesson narrows to one lesson).")
    else:
        lessons = list(dict.fromkeys(r.lesson for r in result.rows))  # in the leaderboard's lesson order
        for lesson in lessons:
            rows = [r for r in result.rows if r.lesson == lesson]
            out.print(leaderboard_table(rows, lesson))
            show_reasons(rows, out)


def _change_text(change) -> str:
    before, after = change.before, change.after
    if change.what == "file":
        return "file edited"
    if change.what in ("params", "best accuracy", "epochs to target") and None not in (before, after):
        delta = after - before
        if change.what == "best accuracy":
            return f"best acc {before:.2f} → {after:.2f}% ({delta:+.2f})"
        return f"{change.what} {before:,} → {after:,} ({delta:+,})"
    return f"{change.what} {'-' if before is None else before} → {'-' if after is None else after}"


def show_history(attempts, out: Console) -> None:
    if not attempts:
        out.print("No gradings recorded yet: `course grade` records each one here.")
        return
    table = Table(box=box.SIMPLE_HEAVY, title="Your attempts, newest first", title_justify="left")
    for col in ("when", "lesson", "status", "params", "best acc", "changed since the previous attempt"):
        table.add_column(col, justify="right" if col in ("params", "best acc") else "left",
                         no_wrap=not col.startswith("changed"), min_width=24 if col.startswith("changed") else None)
    for a in attempts:
        status = f"[{STYLE.get(a.status, '')}]{a.status}[/]"
        changed = "first attempt" if a.first else ("\n".join(_change_text(c) for c in a.changes) or "nothing")
        if a.status == ERROR and a.message:
            changed += f"\n[dim]{escape(a.message.splitlines()[0])}[/]"
        table.add_row(local_time(a.when), escape(a.lesson or "-"), status, int_text(a.params),
                      acc_text(a.best_acc), changed)
    out.print(table)


def show_autograder(built, out: Console) -> None:
    c, o = built.config, built.config.options
    how = "a --quick smoke run (scores no accuracy)" if o.quick else (f"at most {o.epochs} epochs" if o.epochs else
                                                                      "the lesson's full recipe")
    say(out, f"Wrote [bold]{escape(str(built.zip))}[/]: {escape(', '.join(built.members))}")
    say(out, f"Each submission's model.py is graded for {c.lesson} with {how}, seed {o.seed}, within {o.timeout:g} s; "
             f"tests are {c.visibility}.", markup=False)
    say(out, "Upload it under Configure Autograder on Gradescope (Ubuntu image); students submit model.py.")
    total = _points_of(c.lesson)
    if total is not None:  # Gradescope reads a score against the points the assignment was given, not ours
        say(out, f"Set the assignment's total points on Gradescope to [bold]{total:g}[/] ({c.lesson}'s criterion "
                 "weights added up), so that a submission passing every criterion gets full marks.")


def _points_of(lesson: str) -> float | None:
    """What a perfect submission scores on Gradescope: the lesson's criterion weights added up."""
    from grader.course.lesson import get_lesson
    from grader.errors import CourseError
    from grader.gradescope.results import max_score

    try:
        return max_score(get_lesson(lesson).criteria)
    except CourseError:
        return None


def show_autograder_run(done, out: Console) -> None:
    doc = done.results
    total = doc.get("extra_data", {}).get("max_score")
    say(out, f"{done.status}: score {doc['score']}" + (f" of {total}" if total is not None else "")
        + f", written to {done.path}", markup=False)
    for test in doc["tests"]:
        say(out, test.get("output", ""), label=f"  {test['score']}/{test['max_score']}  {escape(test['name'])}:",
            markup=False)
