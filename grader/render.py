"""Everything the terminal shows: rich tables, panels and the live training progress. The only rich importer."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
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
    table = Table(box=box.SIMPLE, title=f"Receptive field (from the {rf['method']} graph)", title_justify="left")
    for col in ("#", "layer", "kernel", "stride", "pad", "dil", "in", "out", "RF in", "RF out", "jump in", "jump out"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for i, r in enumerate(rf["rows"], start=1):
        table.add_row(
            str(i), r["layer"], str(r["kernel"]), str(r["stride"]), str(r["padding"]), str(r["dilation"]),
            f"{r['size_in']}x{r['size_in']}", f"{r['size_out']}x{r['size_out']}",
            str(r["rf_in"]), str(r["rf_out"]), str(r["jump_in"]), str(r["jump_out"]),
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
                self.progress.reset(self.task, epoch=event["epoch"] + 1, loss="-", acc="-")


def metrics_table(record: dict) -> Table:
    table = Table(box=box.SIMPLE_HEAVY, title="Per-epoch metrics", title_justify="left")
    for col in ("epoch", "train loss", "train acc", "test loss", "test acc", "lr", "time"):
        table.add_column(col, justify="right")
    best = max((e["test_acc"] for e in record["epochs"]), default=None)
    for e in record["epochs"]:
        acc = f"{e['test_acc']:.2f}%"
        table.add_row(
            str(e["epoch"]), f"{e['train_loss']:.4f}", f"{e['train_acc']:.2f}%", f"{e['test_loss']:.4f}",
            f"[bold]{acc}[/]" if e["test_acc"] == best else acc, f"{e['lr']:.4g}", f"{e['seconds']:.1f}s",
        )
    return table


def show_grade(result, out: Console) -> None:
    rec, verdict = result.record, result.verdict
    out.print(metrics_table(rec))
    out.print(criteria_table(verdict))
    lines = [
        f"untrained model: {rec['baseline_test_acc']:.2f}% test accuracy (chance is about 10%)",
        f"epochs to target: {verdict.epochs_to_target if verdict.epochs_to_target else '-'}",
        f"seed {rec['seed']} on {rec['device_name']}, torch {rec['versions']['torch']}, {rec['duration']:.1f}s",
    ]
    title = {"passed": "PASSED", "failed": "FAILED", "smoke": "SMOKE RUN (not graded)"}[verdict.status]
    out.print(Panel(Group(Text(verdict.message, style=STYLE[verdict.status]), Text("\n".join(lines))),
                    title=f"[{STYLE[verdict.status]}]{title}[/]", expand=False))
    if result.plot:
        out.print(f"Curves saved to {result.plot}")


def _num(value, spec: str) -> str:
    # a diverging run sends "nan"/"inf" as strings (JSON has no NaN)
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def show_error(message: str, out: Console) -> None:
    out.print(f"[bold red]error:[/] {message}", soft_wrap=True)
