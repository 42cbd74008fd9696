"""Everything the terminal shows: rich tables, panels and the live training progress. The only rich importer."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red", "smoke": "bold yellow"}
MARK = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]-[/]"}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


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
                  title=f"Receptive field (from the {rf['method']} graph): kernel, stride, padding, dilation; size, RF, jump in→out")
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
        f"BatchNorm after each conv: {''.join('y' if b else '.' for b in s['batchnorm_after_conv'])}"
        f"  ({'every 3x3 conv' if s['bn_after_every_3x3'] else 'not after every 3x3 conv'})",
        f"dropout rates: {drops}",
        f"global pooling: {'yes' if s['global_pooling'] else 'no'}",
        f"pooling layers: {s['pools']}",
        f"linear layers: {len(s['linear_layers'])} ({s['linear_params']:,} params)",
    ]
    return Text("\n".join(lines))


def show_check(result, out: Console) -> None:
    r = result.report
    out.print(Text(r["torchsummary"]["text"].rstrip()))
    if not r["torchsummary"]["agrees"] and r["torchsummary"]["total"] is not None:
        out.print(
            f"[yellow]torchsummary says {r['torchsummary']['total']:,} parameters; the grader counts "
            f"{r['params']:,} (each parameter once, even in reused modules). The grader's count is used.[/]"
        )
    out.print(rf_table(r["rf"]))
    if r["rf"].get("warning"):
        out.print(f"[yellow]warning: {r['rf']['warning']}[/]")
    out.print(
        f"Parameters: [bold]{r['params']:,}[/]   receptive field: [bold]{r['rf']['rf_before_global_pool']}[/] "
        f"before global pooling, [bold]{r['rf']['rf_final']}[/] at the output"
    )
    out.print(Panel(structure_lines(r["structure"]), title="Structure", expand=False))
    out.print(criteria_table(result.verdict))
    scope = f"lesson {result.lesson}" if result.lesson else "the course target (no --lesson given)"
    if result.verdict.status == "passed":
        out.print(f"[green]Static checks pass for {scope}.[/] Next: [bold]course grade {r['file']}[/] to train it.")
    else:
        out.print(f"[red]Static checks fail for {scope}:[/] {result.verdict.message}")


class GradeProgress:
    """Live view of a grading: a bar per epoch with running loss/accuracy, a line per finished epoch."""

    def __init__(self, out: Console):
        # rich.progress is a slow import; `course list` and bare `course` never need it
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.out = out
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

    def __enter__(self):
        self.progress.__enter__()
        return self

    def _next_epoch(self, epoch: int) -> None:
        # rich's reset() replaces the task's fields wholesale, so every field the columns read is passed again
        self.progress.reset(self.task, epoch=epoch, epochs=self.epochs, loss="-", acc="-")

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "check":
            r = event["report"]
            self.out.print(f"Checked: {r['params']:,} parameters, receptive field {r['rf']['rf_before_global_pool']}.")
        elif kind == "start":
            self.epochs = event["epochs"]
            label = " [yellow](--quick smoke run: 1 epoch on a subset, never a pass)[/]" if event["quick"] else ""
            self.out.print(
                f"Training on {event['device']}: {event['epochs']} epoch(s) of {event['train_images']:,} images, "
                f"testing on {event['test_images']:,}{label}"
            )
            self.task = self.progress.add_task("train", total=event["steps_per_epoch"], epoch=1, epochs=self.epochs, loss="-", acc="-")
        elif kind == "progress" and self.task is not None:
            self.progress.update(self.task, completed=event["step"], loss=_num(event["loss"], ".4f"), acc=_num(event["acc"], ".2f") + "%")
        elif kind == "epoch":
            self.out.print(
                f"epoch {event['epoch']:>2}  train loss {event['train_loss']:.4f} acc {event['train_acc']:6.2f}%   "
                f"test loss {event['test_loss']:.4f} acc [bold]{event['test_acc']:6.2f}%[/]   "
                f"lr {event['lr']:.4g}  {event['seconds']:.1f}s"
            )
            if event["epoch"] < self.epochs and self.task is not None:
                self._next_epoch(event["epoch"] + 1)


def metrics_table(record) -> Table:
    """The per-epoch table: training figures from the worker, test figures from the clean evaluator."""
    table = Table(box=box.SIMPLE_HEAVY, title="Per-epoch metrics", title_justify="left")
    for col in ("epoch", "train loss", "train acc", "test loss", "test acc", "lr", "time"):
        table.add_column(col, justify="right")
    best = record.best_acc
    for e in record.epochs:
        acc = _num(e.test_acc, ".2f") + "%"
        table.add_row(
            str(e.epoch), _num(e.train_loss, ".4f"), _num(e.train_acc, ".2f") + "%", _num(e.test_loss, ".4f"),
            f"[bold]{acc}[/]" if e.test_acc == best else acc, _num(e.lr, ".4g"), _num(e.seconds, ".1f") + "s",
        )
    return table


def show_grade(result, out: Console) -> None:
    rec, verdict = result.record, result.verdict
    out.print(metrics_table(rec))
    out.print(criteria_table(verdict))
    lines = [
        f"untrained model: {_num(rec.baseline_test_acc, '.2f')}% test accuracy (chance is about 10%)",
        f"epochs to target: {verdict.epochs_to_target if verdict.epochs_to_target else '-'}",
        f"seed {rec.seed} on {rec.device_name}, torch {rec.versions.get('torch')}, {_num(rec.duration, '.1f')}s",
        measurement_line(rec),
    ]
    title = {"passed": "PASSED", "failed": "FAILED", "smoke": "SMOKE RUN (not graded)"}[verdict.status]
    out.print(Panel(Group(Text(verdict.message, style=STYLE[verdict.status]), Text("\n".join(lines))),
                    title=f"[{STYLE[verdict.status]}]{title}[/]", expand=False))
    for warning in rec.warnings:
        out.print(f"[yellow]warning: {warning}[/]")
    if result.plot:
        out.print(f"Curves saved to {result.plot}")


def _num(value, spec: str) -> str:
    # a diverging run sends "nan"/"inf" as strings (JSON has no NaN); a missing figure shows as "-"
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def measurement_line(rec) -> str:
    """Who measured the figures the verdict read, in one line."""
    where = rec.evaluator.get("device") or rec.device
    return (f"test accuracy of every epoch measured by the clean evaluator ({where}) on the exported program; "
            f"{rec.params:,} parameters counted on it" if rec.params is not None else "not measured")


def show_error(message: str, out: Console) -> None:
    out.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # a message may hold [brackets]


# ------------------------------------------------------------------------------------ the student's workflow

STATUS_STYLE = {"passed": "green", "in progress": "yellow", "not started": "dim"}


def _next(out: Console, command: str, why: str = "Next") -> None:
    out.print(f"{why}: [bold cyan]{command}[/]", soft_wrap=True)  # a command broken over two lines cannot be pasted


def markdown(text: str):
    from rich.markdown import Markdown  # markdown-it is slow to import: only for commands that show prose

    from grader.authoring.docs import strip_markers

    return Markdown(strip_markers(text))


def show_started(started, out: Console) -> None:
    lesson = started.lesson
    if started.readme:
        out.print(markdown(started.readme))
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
    _next(out, started.next_command, "Edit it (follow the TODOs), then")


def show_lesson(shown, out: Console) -> None:
    out.print(markdown(shown.text))
    out.rule()
    if shown.file:
        out.print(f"Your file: [bold]{shown.file}[/]")
    _next(out, shown.next_command)


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
    out.print(f"[dim]{left} more hint(s) for {lesson.id}.[/]" if left else f"[dim]That was the last hint for {lesson.id}.[/]")


def show_reset(reset, out: Console) -> None:
    if reset.backup:
        out.print(f"Saved your previous file as [bold]{reset.backup}[/].")
    out.print(f"Put the {reset.lesson.id} stub back at [bold]{reset.file}[/].")
    _next(out, reset.next_command)


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
    return f"{row.best_acc:.2f} %" + (f" / {row.target_acc:g}" if row.target_acc is not None else "")


def _last(row) -> str:
    last = row.last
    if last is None:
        return "-"
    what = f"{last.mode}{' --quick' if last.quick else ''}: {last.status}"
    return what + (f" ({', '.join(last.failed)})" if last.failed else "")


def progress_bar(progress, width: int = 30) -> Text:
    # plain block characters: readable when piped or in a terminal without colour, unlike a styled bar
    filled = round(width * progress.passed / progress.total) if progress.total else 0
    text = Text("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {progress.passed}/{progress.total} lessons passed", style="bold")
    return text


def show_list(progress, out: Console) -> None:
    table = Table(box=box.SIMPLE_HEAVY)
    for col in ("", "lesson", "title", "status", "best accuracy", "last run"):
        table.add_column(col, justify="right" if col == "best accuracy" else "left")
    for row in progress.rows:
        table.add_row("→" if row.current else "", row.id, row.title,
                      f"[{STATUS_STYLE[row.status]}]{row.status}[/]", _best(row), _last(row))
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
            status += f"\n[dim]{_local_time(row.passed_at)}[/]"
        elif row.started:
            status += f"\n[dim]since {_local_time(row.started)}[/]"
        hints = f"{row.hints_shown}/{row.hints_total}" + ("\n[yellow]solution seen[/]" if row.solution_seen else "")
        table.add_row(("→ " if row.current else "") + row.id, status, _best(row), _last(row), params, hints)
    out.print(table)


def show_status(status, out: Console) -> None:
    p = status.progress
    out.print(progress_bar(p))
    out.print(status.message, soft_wrap=True)
    _next(out, status.next_command)
    if status.tip:
        out.print(f"[dim]{status.tip}[/]")


def show_recorded(judged, out: Console) -> None:
    """One line after a check or grade of a workspace file: the verdict went into the student's progress."""
    if judged.recorded:
        out.print(f"[dim]Recorded in your progress for {judged.target.record_as} "
                  f"(`course` shows the next step; `course hint` answers what failed).[/]")


class VerifyProgress(GradeProgress):
    """`course verify --train`: which lesson and seed is training, a bar per epoch, a line per finished run."""

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "verify-static":
            return
        if kind == "verify-run":
            self.out.rule(f"[{event['index']}/{event['total']}] {event['lesson']} seed {event['seed']}")
        elif kind == "verify-done":
            run = event["run"]
            style = "green" if run.ok else "red"
            best = _num(run.best, ".2f") if run.best is not None else "-"
            last = _num(run.last, ".2f") if run.last is not None else "-"
            self.out.print(f"[{style}]{run.lesson} seed {run.seed}: {run.status}[/]  best {best} %  last {last} %  "
                           f"epochs to target {run.epochs_to_target or '-'}  {run.seconds:.0f}s")
            if self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
        elif kind == "epoch":
            # one line per epoch of every seed of every lesson would bury the summary lines: keep the bar only
            if event["epoch"] < self.epochs and self.task is not None:
                self._next_epoch(event["epoch"] + 1)
        elif kind == "check":
            return
        else:
            super().__call__(event)


def show_verify(report, out: Console) -> None:
    rows = [(r.lesson, r.kind, "fail" if r.kind == "stub" else "pass", r.status, "[green]yes[/]" if r.ok else "[red]NO[/]")
            for r in report.static]
    table = Table(box=box.SIMPLE_HEAVY, title="Static checks (no training)", title_justify="left")
    widths = [max([len(col)] + [len(Text.from_markup(r[i])) for r in rows])
              for i, col in enumerate(("lesson", "file", "must", "got", "ok"))]
    for col, width in zip(("lesson", "file", "must", "got", "ok"), widths):
        table.add_column(col, no_wrap=True, min_width=width)
    # the message takes what is left of the line, cut with an ellipsis (the full text of a failure follows)
    table.add_column("why", no_wrap=True, overflow="ellipsis", max_width=max(20, out.width - sum(widths) - 3 * len(widths) - 6))
    for row, r in zip(rows, report.static):
        table.add_row(*row, Text(r.message.splitlines()[0] if r.message else "", style="dim"))
    out.print(table)
    for r in report.static:
        if not r.ok:
            out.print(f"[red]{r.lesson} {r.kind}[/] ({r.file}): {r.status}: {r.message}", soft_wrap=True)
    if report.runs:
        runs = Table(box=box.SIMPLE_HEAVY, title="Trained solutions", title_justify="left")
        for col in ("lesson", "seed", "params", "RF", "best", "last", "to target", "device", "time", ""):
            runs.add_column(col, justify="left" if col in ("lesson", "device") else "right", no_wrap=col != "device",
                            min_width=len(col) if col != "lesson" else 7)
        for r in report.runs:
            runs.add_row(
                r.lesson, str(r.seed) if r.seed >= 0 else "-", f"{r.params:,}" if r.params else "-", str(r.rf or "-"),
                _num(r.best, ".2f") if r.best is not None else "-", _num(r.last, ".2f") if r.last is not None else "-",
                str(r.epochs_to_target or "-"), r.device or "-", f"{r.seconds:.0f}s", MARK[r.ok],
            )
        out.print(runs)
        for r in report.runs:
            if not r.ok:
                out.print(f"[red]{r.lesson} seed {r.seed}[/]: {r.status}: {r.message}", soft_wrap=True)
    if report.written:
        out.print(f"Wrote {', '.join(r.lesson for r in report.written)} to [bold]{report.results_path}[/].")
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
    n, docs = report.markers, len(report.documents)
    if report.missing:
        out.print(f"[red]{len(report.missing)} result marker(s) have no current trained results[/] (left as they are); "
                  "run the commands above, then `course docs`.")
    if check:
        if report.changes:
            out.print(f"[red]{len(report.changes)} of {n} marker(s) are stale[/]; `course docs` rewrites them.")
        elif not report.missing:
            out.print(f"[green]All {n} marker(s) in {docs} document(s) are up to date.[/]")
    elif report.written:
        out.print(f"Updated {len(report.changes)} marker(s) in {len(report.written)} file(s).")
    elif not report.missing:
        out.print(f"All {n} marker(s) in {docs} document(s) were already up to date.")


# ------------------------------------------------------------------------- gradebook: batch, leaderboard, history

from rich.markup import escape  # noqa: E402  (names and messages may hold [brackets])

BATCH_MARK = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]", "smoke": "[yellow]smoke[/]",
              "error": "[red]ERROR[/]", "skipped": "[dim]skip[/]"}


def _acc_text(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _int_text(value) -> str:
    return "-" if value is None else f"{value:,}"


class BatchProgress:
    """`course grade-all`: a bar over the batch, a line per running grading, a line per finished one."""

    def __init__(self, out: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.out = out
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=out, transient=True,
        )
        self.total = None
        self.running: dict[tuple, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        who = (event.get("student"), event.get("seed"))
        if kind == "batch":
            self.out.print(f"{event['students']} submission(s); {event['total']} grading(s) to run, "
                           f"{event['skipped']} already in the gradebook; {event['jobs']} at a time on "
                           f"{', '.join(event['devices'])}")
            self.total = self.progress.add_task("[bold]batch", total=event["total"], note="")
        elif kind == "job":
            self.running[who] = self.progress.add_task(f"  {who[0]} seed {who[1]}", total=None,
                                                       note=f"starting on {event['device']}")
        elif kind == "job-start" and who in self.running:
            self.progress.update(self.running[who], total=event["steps_per_epoch"], completed=0,
                                 note=f"epoch 1/{event['epochs']}")
        elif kind == "job-progress" and who in self.running:
            self.progress.update(self.running[who], completed=event["step"])
        elif kind == "job-epoch" and who in self.running:
            self.progress.update(self.running[who], note=f"epoch {event['epoch']} test {event['test_acc']:.2f}%")
        elif kind == "done":
            o = event["outcome"]
            task = self.running.pop((o["student"], o["seed"]), None)
            if task is not None:
                self.progress.remove_task(task)
            if self.total is not None:
                self.progress.advance(self.total)
            detail = o["message"].splitlines()[0] if o["status"] == "error" and o["message"] else (
                f"{_int_text(o['params'])} params, best {_acc_text(o['best_acc'])}")
            took = f"  {o['duration']:.0f}s" if o.get("duration") else ""
            self.out.print(f"{BATCH_MARK[o['status']]} {escape(o['student'])} (seed {o['seed']}): {escape(detail)}{took}",
                           soft_wrap=True)


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
        if o.status == "error":
            out.print(f"[red]error[/] {escape(o.student)} (seed {o.seed}, {escape(o.source)}): {escape(o.message)}",
                      soft_wrap=True)
    for names in result.identical:
        out.print(f"[yellow]identical files:[/] {', '.join(names)}")
    if result.interrupted:
        out.print("[yellow]Interrupted:[/] finished runs are kept; run the same command again to grade the rest.")
    out.print(f"Gradebook: [bold]{result.db}[/]  (next: course leaderboard --db {result.db})")


def leaderboard_table(rows, lesson: str | None) -> Table:
    """One lesson's ranking; narrow enough for an 80-column terminal."""
    table = Table(box=box.SIMPLE_HEAVY, title=f"Leaderboard: {escape(lesson or 'course target')}", title_justify="left")
    for col in ("#", "student", "status", "params", "RF", "best acc", "to target", "epochs", "runs"):
        table.add_column(col, justify="left" if col in ("student", "status") else "right",
                         no_wrap=col != "student", min_width=12 if col == "student" else None)
    for r in rows:
        table.add_row(str(r.rank), escape(r.student), f"[{STYLE.get(r.status, '')}]{r.status}[/]", _int_text(r.params),
                      str(r.rf) if r.rf is not None else "-", _acc_text(r.best_acc), str(r.epochs_to_target or "-"),
                      str(r.epochs_run), str(r.attempts))
    return table


def show_leaderboard(result, out: Console) -> None:
    if result.written:
        out.print(f"Wrote {len(result.written)} file(s): " + ", ".join(str(p) for p in result.written[:3])
                  + (" ..." if len(result.written) > 3 else ""), soft_wrap=True)
    elif not result.rows:
        out.print("No runs to rank (grade-all records them; --lesson narrows to one lesson).")
    else:
        lessons = list(dict.fromkeys(r.lesson for r in result.rows))  # in the leaderboard's lesson order
        for lesson in lessons:
            out.print(leaderboard_table([r for r in result.rows if r.lesson == lesson], lesson))


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


def _local_time(stamp: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return stamp[:16]


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
        if a.status == "error" and a.message:
            changed += f"\n[dim]{escape(a.message.splitlines()[0])}[/]"
        table.add_row(_local_time(a.when), escape(a.lesson or "-"), status, _int_text(a.params),
                      _acc_text(a.best_acc), changed)
    out.print(table)
