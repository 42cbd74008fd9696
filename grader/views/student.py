"""What a student sees: check and grade results, live training progress, lessons, hints and progress."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.course.verdict import FAILED, PASSED, SMOKE
from grader.events import CheckReport, EpochDone, Event, Progress, TrainStart
from grader.views.console import (
    MARK,
    STYLE,
    fmt_num,
    local_time,
    next_command,
    say,
)
from grader.views.lesson_text import render_lesson
from grader.views.words import batchnorm_text, device_text, lesson_name, plural, rf_text


def criteria_table(verdict) -> Table:
    table = Table(box=box.SIMPLE_HEAVY, title="Criteria", title_justify="left")
    table.add_column("criterion")
    table.add_column("measured", justify="right")
    table.add_column("needs", justify="right")
    table.add_column("", justify="center")
    for c in verdict.criteria:
        table.add_row(c.label, c.measured, c.threshold, MARK[c.passed])
    return table


def rf_table(rf: dict) -> Table:
    # in -> out pairs keep the seed write-ups' eleven columns readable in an 80-column terminal
    table = Table(box=box.SIMPLE, padding=(0, 1), title_justify="left",
                  title=f"Receptive field (from the {rf['method']} graph): "
                        "kernel, stride, padding, dilation; size, RF, jump in→out")
    table.add_column("#", justify="right", min_width=2)
    table.add_column("layer", no_wrap=True, overflow="ellipsis", max_width=24)
    for col in ("k", "s", "p", "d"):
        table.add_column(col, justify="right", no_wrap=True)
    for col in ("size", "RF", "jump"):
        table.add_column(col, justify="right", no_wrap=True, min_width=5)
    for i, r in enumerate(rf["rows"], start=1):
        table.add_row(
            str(i), r["layer"], str(r["kernel"]), str(r["stride"]), str(r["padding"]), str(r["dilation"]),
            f"{r['size_in']}→{r['size_out']}", f"{r['rf_in']}→{r['rf_out']}", f"{r['jump_in']}→{r['jump_out']}",
        )
    return table


def structure_lines(structure: dict) -> Text:
    s = structure
    drops = ", ".join(f"{p:g}" for p in s["dropout_rates"]) or "none"
    lines = [
        f"convolutions: {s['convs']} ({s['convs_3x3']} 3x3, {s['convs_1x1']} 1x1)",
        f"BatchNorm: {batchnorm_text(s['batchnorm_after_conv'])}"
        + ("; every 3x3 conv has one" if s["bn_after_every_3x3"] and not all(s["batchnorm_after_conv"]) else ""),
        f"dropout rates: {drops}",
        f"global pooling: {'yes' if s['global_pooling'] else 'no'}",
        f"pooling layers: {s['pools']}",
        f"linear layers: {len(s['linear_layers'])} ({s['linear_params']:,} params)",
    ]
    return Text("\n".join(lines))


def _shown(path: str) -> str:
    """A path as the student would type it: relative to where they are when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


def show_check(result, out: Console, name_lesson: bool = False) -> None:
    """The check's report; name_lesson: the file is not the lesson's own work file, so the next command names it."""
    r = result.report
    out.print(Text(r["torchsummary"]["text"].rstrip()))
    if not r["torchsummary"]["agrees"] and r["torchsummary"]["total"] is not None:
        out.print(
            f"[yellow]torchsummary says {r['torchsummary']['total']:,} parameters; the grader counts "
            f"{r['params']:,} (each parameter once, even in reused modules). The grader's count is used.[/]"
        )
    out.print(rf_table(r["rf"]))
    if r["rf"].get("warning"):
        say(out, r["rf"]["warning"], style="yellow", label="[yellow]warning:[/]", markup=False)
    macs = r["structure"].get("multiply_adds")
    say(out, f"Parameters: [bold]{r['params']:,}[/]   multiply-adds per image: [bold]"
             f"{'unknown' if macs is None else f'{macs:,}'}[/]   receptive field: {escape(rf_text(r['rf']))}")
    out.print(Panel(structure_lines(r["structure"]), title="Structure", expand=False))
    out.print(criteria_table(result.verdict))
    for warning in result.verdict.warnings:  # code the policy skipped instead of refusing, at file:line:col
        say(out, warning, style="yellow", label="[yellow]warning:[/]", markup=False)
    scope = lesson_name(result.lesson) + ("" if result.lesson else " (no --lesson given)")
    if result.verdict.status == PASSED:
        say(out, f"[green]Static checks pass for {escape(scope)}.[/]")
        lesson = f" --lesson {result.lesson}" if name_lesson and result.lesson else ""
        next_command(out, f"course grade {_shown(r['file'])}{lesson}", "Next, to train it")
    else:
        say(out, f"[red]Static checks fail for {escape(scope)}:[/] {escape(result.verdict.message)}")


PLAIN_STEPS = 4  # outside a terminal: a progress line at each quarter of an epoch


class GradeProgress:
    """Live view of a grading: a bar per epoch with running loss/accuracy, a line per finished epoch.

    Outside a terminal (a pipe, CI, a notebook's `!course grade`) the bar becomes a plain line per quarter epoch.
    """

    def __init__(self, out: Console, asked_epochs: int | None = None):
        # rich.progress is a slow import; `course list` and bare `course` never need it
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.out = out
        self.asked_epochs = asked_epochs  # --epochs, to say so when the lesson trains fewer
        self.head_shown = False
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=out,
            transient=True,
        )
        self.task = None
        self.epochs = 0
        self.epoch = 1
        self.plain = not out.is_terminal
        self.steps = 0
        self.shown = 0  # plain mode: the quarters of the epoch already printed

    def __enter__(self):
        if not self.plain:
            self.progress.__enter__()
        return self

    def _next_epoch(self, epoch: int) -> None:
        # rich's reset() replaces the task's fields wholesale, so every field the columns read is passed again
        self.progress.reset(self.task, epoch=epoch, epochs=self.epochs, loss="-", acc="-")

    def __exit__(self, *exc):
        if not self.plain:
            self.progress.__exit__(*exc)

    def _plain_progress(self, event: Progress) -> None:
        quarter = event.step * PLAIN_STEPS // max(self.steps, 1)
        if quarter > self.shown and event.step < self.steps:
            self.shown = quarter
            say(self.out, f"epoch {self.epoch}/{self.epochs}: step {event.step}/{self.steps}  "
                          f"loss {fmt_num(event.loss, '.4f')}  acc {fmt_num(event.acc, '.2f')}%")

    def __call__(self, event: Event) -> None:
        if self.plain and isinstance(event, Progress):
            self._plain_progress(event)
            return
        if self.plain and isinstance(event, EpochDone):
            self.epoch, self.shown = event.epoch + 1, 0
        if isinstance(event, CheckReport):
            r = event.report
            say(self.out, f"Checked: {r['params']:,} parameters, receptive field {rf_text(r['rf'], final=False)}.",
                markup=False)
        elif isinstance(event, TrainStart):
            self.epochs = event.epochs
            label = " [yellow](--quick smoke run: 1 epoch on a subset, never a pass)[/]" if event.quick else ""
            held = " held-out training (validation) images" if event.measured_on == "validation" else ""
            say(self.out, f"Training on {escape(device_text(event.device))}: {plural(event.epochs, 'epoch')} of "
                          f"{event.train_images:,} images, testing on {event.test_images:,}{held}{label}")
            for note in epoch_notes({}, event.epochs, self.asked_epochs, event.quick):
                say(self.out, note, label="[yellow]note:[/]", markup=False)
            self.steps = event.steps_per_epoch
            self.task = self.progress.add_task("train", total=event.steps_per_epoch, epoch=1, epochs=self.epochs,
                                               loss="-", acc="-")
        elif isinstance(event, Progress) and self.task is not None:
            self.progress.update(self.task, completed=event.step, loss=fmt_num(event.loss, ".4f"),
                                 acc=fmt_num(event.acc, ".2f") + "%")
        elif isinstance(event, EpochDone):
            if not self.head_shown:  # just above the first line: a pipe's progress lines come between epochs
                self.out.print(EPOCH_HEAD, style="dim", soft_wrap=True)
                self.head_shown = True
            self.out.print(epoch_line(event), soft_wrap=True)
            if event.epoch < self.epochs and self.task is not None:
                self._next_epoch(event.epoch + 1)


# One line per finished epoch under a header printed once: it fits 80 columns, where a labelled line would wrap.
EPOCH_HEAD = "epoch  train loss  train acc  test loss  test acc        lr    time"


def epoch_line(e: EpochDone) -> Text:
    """A finished epoch, aligned under EPOCH_HEAD; the test accuracy (what the verdict reads) in bold."""
    line = Text(f"{e.epoch:>5}  {fmt_num(e.train_loss, '.4f'):>10}  {fmt_num(e.train_acc, '.2f') + '%':>9}  "
                f"{fmt_num(e.test_loss, '.4f'):>9}  ")
    line.append(f"{fmt_num(e.test_acc, '.2f') + '%':>8}", style="bold")
    line.append(f"  {fmt_num(e.lr, '.2g'):>8}  {fmt_num(e.seconds, '.1f') + 's':>6}")
    return line


def metrics_table(record) -> Table:
    """The per-epoch table: training figures from the worker, test figures from the clean evaluator."""
    table = Table(box=box.SIMPLE_HEAVY, title="Per-epoch metrics", title_justify="left")
    for col in ("epoch", "train loss", "train acc", "test loss", "test acc", "lr", "time"):
        table.add_column(col, justify="right")
    best = record.best_acc
    for e in record.epochs:
        acc = fmt_num(e.test_acc, ".2f") + "%"
        table.add_row(
            str(e.epoch), fmt_num(e.train_loss, ".4f"), fmt_num(e.train_acc, ".2f") + "%", fmt_num(e.test_loss, ".4f"),
            f"[bold]{acc}[/]" if e.test_acc == best else acc, fmt_num(e.lr, ".4g"), fmt_num(e.seconds, ".1f") + "s",
        )
    return table


def epoch_notes(recipe: dict, trained: int, asked: int | None, quick: bool) -> list[str]:
    """Why a run trains fewer epochs than asked: --epochs only shortens, and a file's EPOCHS is capped by the lesson."""
    notes = []
    source = (recipe.get("sources") or {}).get("epochs") or ""
    if "capped" in source:  # the recipe says "submission (capped at max_epochs 20)"
        notes.append(f"EPOCHS in your file is above the lesson's maximum: trained {plural(trained, 'epoch')} "
                     f"({source}).")
    if asked is not None and asked > trained and not quick:
        notes.append(f"--epochs {asked} is more than this grading trains: {plural(trained, 'epoch')} (the lesson's "
                     "recipe and maximum); --epochs only shortens a run.")
    return notes


def show_grade(result, out: Console, asked_epochs: int | None = None) -> None:
    rec, verdict = result.record, result.verdict
    if rec.trained:
        out.print(metrics_table(rec))
    out.print(criteria_table(verdict))
    lines = [
        f"untrained model: {fmt_num(rec.baseline_test_acc, '.2f')}% {rec.measured_on} accuracy (chance is about 10%)",
        f"epochs to target: {verdict.epochs_to_target if verdict.epochs_to_target else '-'}",
        f"seed {rec.seed} on {device_text(rec.device_name)}, torch {rec.versions.get('torch')}, "
        f"{fmt_num(rec.duration, '.1f')}s",
        measurement_line(rec),
    ] if rec.trained else [f"judged in {fmt_num(rec.duration, '.1f')}s without training; "
                           f"{rec.params:,} parameters counted on the exported program"]
    title = {PASSED: "PASSED", FAILED: "FAILED", SMOKE: "SMOKE RUN (not graded)"}[verdict.status]
    if rec.measured_on == "validation" and verdict.status == SMOKE:
        title = "VALIDATION RUN (not graded)"
    warnings = [Text(f"warning: {w}", style="yellow") for w in verdict.warnings or rec.warnings]
    if rec.trained:  # a run judged without training has no epochs to compare --epochs with
        warnings += [Text(f"note: {n}", style="yellow") for n in
                     epoch_notes(rec.recipe, rec.recipe.get("epochs") or len(rec.epochs), asked_epochs, rec.quick)]
    out.print(Panel(Group(Text(verdict.message, style=STYLE[verdict.status]), Text("\n".join(lines)), *warnings),
                    title=f"[{STYLE[verdict.status]}]{title}[/]", expand=False))
    if result.plot:
        say(out, f"Curves saved to {result.plot}", markup=False)


def measurement_line(rec) -> str:
    """Who measured the figures the verdict read, in one line."""
    where = rec.evaluator.get("device") or rec.device
    return (f"test accuracy of every epoch measured by the clean evaluator ({where}) on the program the grader "
            f"trained; {rec.params:,} parameters counted on it" if rec.params is not None else "not measured")


STATUS_STYLE = {PASSED: "green", "in progress": "yellow", "not started": "dim"}


def show_started(started, out: Console) -> None:
    lesson = started.lesson
    if started.readme:
        render_lesson(started.readme, out)
    else:
        out.print(f"[bold]{lesson.title}[/]")
    out.rule()
    if started.created:
        out.print(f"Copied the {lesson.id} stub to [bold]{started.file}[/].")
    else:
        out.print(f"[yellow]{started.file} already exists; your work was left as it is.[/] "
                  f"(`course reset {lesson.id}` puts the stub back, keeping a backup.)")
    if started.earlier_unpassed:
        out.print(f"[dim]Not passed yet: {', '.join(started.earlier_unpassed)}. Lessons build on each other.[/]")
    next_command(out, started.next_command, "Edit it (follow the TODOs), then")


def show_lesson(shown, out: Console) -> None:
    render_lesson(shown.text, out)
    out.rule()
    if shown.file:
        say(out, f"Your file: [bold]{escape(str(shown.file))}[/]")
    if shown.note:
        say(out, shown.note, markup=False)
    next_command(out, shown.next_command)


def show_answer(answered, out: Console) -> None:
    """`course answer`: right or wrong (never the answer itself), or the answer with its arithmetic when asked."""
    ex = answered.exercise
    say(out, f"[bold]{answered.lesson.id} · {ex.id}[/]: {escape(ex.question)}")
    if answered.attempt is None:
        out.print(Panel(Text(answered.revealed), title="answer", title_align="left"))
    else:
        style = {"correct": "bold green", "wrong": "bold red", "unreadable": "yellow"}[answered.attempt.status]
        out.print(Text(answered.attempt.message, style=style))
        if answered.attempt.status == "wrong":
            out.print(f"[dim]To see the answer and its arithmetic: course answer {answered.lesson.id} {ex.id}[/]")
    if answered.others:
        out.print(f"[dim]Other exercises in {answered.lesson.id}: {', '.join(answered.others)}[/]")


def show_hint(answer, out: Console) -> None:
    lesson = answer.lesson
    if answer.exhausted:
        if not answer.total:
            out.print(f"{lesson.id} has no hints. Read the lesson again: [bold cyan]course show {lesson.id}[/]")
            return
        out.print(f"[yellow]You have seen all {answer.total} hints for {lesson.id}.[/] Here they are again:")
        for i, text in enumerate(answer.seen, start=1):
            out.print(Panel(Text(text), title=f"hint {i}", title_align="left"))
        out.print(f"Still stuck? The reference solution: [bold cyan]course solution {lesson.id} --force[/] "
                  "(it opens without --force once you pass).")
        return
    title = f"hint {answer.number} of {answer.total}"
    if answer.criterion:
        title += f" · about {answer.criterion}, which your last run failed"
    # plain text: hints write arithmetic such as 3*3*16*16, which Markdown would turn into emphasis
    out.print(Panel(Text(answer.text), title=title, title_align="left", border_style="cyan"))
    left = answer.total - len(answer.seen) - 1
    out.print(f"[dim]{left} more hint(s) for {lesson.id}.[/]" if left
              else f"[dim]That was the last hint for {lesson.id}.[/]")


def show_reset(reset, out: Console) -> None:
    if reset.backup:
        out.print(f"Saved your previous file as [bold]{reset.backup}[/].")
    out.print(f"Put the {reset.lesson.id} stub back at [bold]{reset.file}[/].")
    next_command(out, reset.next_command)


def show_solution(sol, out: Console) -> None:
    from rich.syntax import Syntax

    if sol.forced:
        out.print(f"[bold yellow]warning:[/] {sol.lesson.id} is not passed yet. Reading the solution now teaches less "
                  "than a hint does; this is recorded in your progress.")
    out.print(f"[dim]{sol.path}[/]")
    out.print(Syntax(sol.text, "python", line_numbers=True, word_wrap=True))


def _best(row) -> str:
    if row.best_acc is None:
        return "-"
    return f"{row.best_acc:.2f}" + (f" / {row.target_acc:g}" if row.target_acc is not None else " %")


def _last(row) -> str:
    last = row.last
    if last is None:
        return "-"
    what = f"{last.mode}{', quick' if last.quick else ''}: {last.status}"  # short words: it wraps in a narrow column
    return what + (f" ({', '.join(last.failed)})" if last.failed else "")


def progress_bar(progress, width: int = 30) -> Text:
    # plain block characters: readable when piped or in a terminal without colour, unlike a styled bar
    filled = round(width * progress.passed / progress.total) if progress.total else 0
    text = Text("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {progress.passed}/{progress.total} lessons passed", style="bold")
    return text


def _two_line_width(title: str) -> int:
    """The narrowest column that wraps `title` at spaces into at most two lines."""
    return next(w for w in range(1, len(title) + 1) if len(textwrap.wrap(title, w, break_long_words=False)) <= 2)


def show_list(progress, out: Console) -> None:
    cells = [(("→ " if row.current else "  ") + row.id, row.title, row.status, _best(row), _last(row))
             for row in progress.rows]
    heads = ("lesson", "title", "status", "best / goal", "last run")
    fixed = sum(max(len(c[i]) for c in [heads, *cells]) for i in (0, 2, 3))
    # Title and last run share what the fixed cells leave (padding, separators and edges take 14): the title gets
    # the narrowest width that keeps every title to two lines, and at least 60 %; the last run wraps in the rest.
    room = max(out.width - fixed - 14, 24)
    two_lines = max((_two_line_width(c[1]) for c in cells), default=5)
    title_width = min(max(len(c[1]) for c in cells), max(room * 3 // 5, two_lines, 14), room - 8) if cells else 5
    table = Table(box=box.SIMPLE_HEAVY, pad_edge=False)
    table.add_column("lesson", no_wrap=True)
    table.add_column("title", max_width=title_width)
    table.add_column("status", no_wrap=True)
    table.add_column("best / goal", justify="right", no_wrap=True)
    table.add_column("last run", max_width=max(room - title_width, 8), overflow="fold")
    for (lesson, title, status, best, last), row in zip(cells, progress.rows):
        table.add_row(lesson, escape(title), f"[{STATUS_STYLE[row.status]}]{status}[/]", best, escape(last))
    out.print(table)
    out.print(progress_bar(progress))


def show_progress(progress, out: Console) -> None:
    out.print(progress_bar(progress))
    table = Table(box=box.SIMPLE_HEAVY, title=f"workspace: {progress.workspace}", title_justify="left")
    # Six columns fit 80 characters: each status carries its date, and the hints cell says if the solution was read.
    for col, fixed in (("lesson", True), ("status", True), ("best", False), ("last run", False), ("params", False),
                       ("hints", False)):
        table.add_column(col, no_wrap=fixed, overflow="ellipsis" if fixed else "fold")
    for row in progress.rows:
        last = row.last
        params = f"{last.params:,}" if last and last.params is not None else "-"
        if row.max_params is not None and params != "-":
            params += f" (< {row.max_params:,})"
        status = f"[{STATUS_STYLE[row.status]}]{row.status}[/]"
        if row.passed_at:
            status += f"\n[dim]{local_time(row.passed_at)}[/]"
        elif row.started:
            status += f"\n[dim]since {local_time(row.started)}[/]"
        hints = f"{row.hints_shown}/{row.hints_total}" + ("\n[yellow]solution seen[/]" if row.solution_seen else "")
        table.add_row(("→ " if row.current else "") + row.id, status, _best(row), _last(row), params, hints)
    out.print(table)


def show_status(status, out: Console) -> None:
    p = status.progress
    out.print(progress_bar(p))
    say(out, status.message, markup=False)
    next_command(out, status.next_command)
    if status.tip:
        out.print(f"[dim]{status.tip}[/]")


def show_recorded(judged, out: Console) -> None:
    """One line after a check or grade of a workspace file: the verdict went into the student's progress."""
    if judged.recorded:
        out.print(f"[dim]Recorded in your progress for {judged.target.record_as} "
                  f"(`course` shows the next step; `course hint` answers what failed).[/]")
