"""GitHub Actions: workflow commands that annotate the submission, and a Markdown job summary.

`course check --format github` (and `grade`) prints `::error file=F,line=L,col=C::message` for each policy
finding and each failed criterion, so they show on the file in the pull request, and appends the criteria
table to $GITHUB_STEP_SUMMARY when the runner sets it. Escaping follows the runner's own rules (actions/toolkit
command.ts): in a message % CR LF become %25 %0D %0A; in a property value also : and , become %3A and %2C.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from grader.views.words import device_text, lesson_name, rf_text

# NAME:LINE:COL: reason, as grader.walls.policy and the syntax check word every finding
_FINDING = re.compile(r"^(?P<name>[^\n]+?):(?P<line>\d+):(?P<col>\d+): (?P<reason>.+)$", re.M)  # name may hold ':'
_NET = re.compile(r"^(class\s+Net\b|Net\s*=)", re.M)
MARK = {True: "✅ pass", False: "❌ fail", None: "➖ not judged"}


def escape_data(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties) -> str:
    """One workflow command line, e.g. command("error", "msg", file="model.py", line=3)."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None)
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def display_path(file) -> str:
    """The path as the runner's annotations want it: relative to the workspace (the repository's root)."""
    path = Path(file)
    base = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def net_line(file) -> int | None:
    """The line that defines Net: where a failed criterion about the whole model is shown."""
    try:
        m = _NET.search(Path(file).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return None if m is None else m.string.count("\n", 0, m.start()) + 1


def verdict_annotations(verdict, file, what: str) -> list[str]:
    """An error per failed criterion (at the Net line), a notice when everything judged passed."""
    path, line = display_path(file), net_line(file)
    lines = [command("error", f"{c.label}: measured {c.measured}, needs {c.threshold}",
                     file=path, line=line, title=f"course {what}: {c.name}")
             for c in verdict.criteria if c.passed is False]
    if not lines:
        lines.append(command("notice", verdict.message, file=path, line=line, title=f"course {what}: {verdict.status}"))
    return lines


def warning_annotations(warnings: list[str], file, what: str) -> list[str]:
    """A warning per line the policy skipped (NAME:LINE:COL: what), at its place; any other on the file."""
    path = display_path(file) if file else None
    lines = []
    for warning in warnings:
        m = _FINDING.fullmatch(warning)
        where = {"line": m.group("line"), "col": m.group("col")} if m else {}
        lines.append(command("warning", m.group("reason") if m else warning, file=path, **where,
                             title=f"course {what}: warning"))
    return lines


def error_annotations(message: str, file, what: str) -> list[str]:
    """Policy findings and syntax errors at their line and column; any other error on the file as a whole."""
    findings = list(_FINDING.finditer(message))
    path = display_path(file) if file else None
    if not findings:
        return [command("error", message, file=path, title=f"course {what}")]
    return [command("error", m.group("reason"), file=path, line=m.group("line"), col=m.group("col"),
                    title=f"course {what}: refused") for m in findings]


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def criteria_markdown(verdict) -> str:
    lines = ["| criterion | measured | needs | |", "|---|---:|---:|---|"]
    lines += [f"| {_cell(c.label)} | {_cell(c.measured)} | {_cell(c.threshold)} | {MARK[c.passed]} |"
              for c in verdict.criteria]
    return "\n".join(lines)


def check_summary(result, file) -> str:
    r = result.report
    scope = lesson_name(result.lesson)
    return (f"### course check: `{display_path(file)}` ({scope}): {result.verdict.status}\n\n"
            f"{r['params']:,} parameters, receptive field {rf_text(r['rf'])}."
            f"\n\n{criteria_markdown(result.verdict)}\n\n{result.verdict.message}\n")


def grade_summary(result, file) -> str:
    rec = result.record
    scope = lesson_name(result.lesson)
    epochs = ["| epoch | train loss | train acc % | test loss | test acc % |", "|---:|---:|---:|---:|---:|"]
    epochs += [f"| {e.epoch} | {_num(e.train_loss, '.4f')} | {_num(e.train_acc, '.2f')} | {_num(e.test_loss, '.4f')} "
               f"| {_num(e.test_acc, '.2f')} |" for e in rec.epochs]
    quick = " (--quick smoke run: never a pass)" if rec.quick else ""
    return (f"### course grade: `{display_path(file)}` ({scope}): {result.verdict.status}{quick}\n\n"
            f"{criteria_markdown(result.verdict)}\n\n{result.verdict.message}\n\n" + "\n".join(epochs) +
            f"\n\nseed {rec.seed} on {device_text(rec.device_name)}, torch {rec.versions.get('torch')}, "
            f"{_num(rec.duration, '.1f')} s; test accuracy measured by the clean evaluator.\n")


def error_summary(message: str, file, what: str) -> str:
    where = f"`{display_path(file)}`" if file else "the submission"
    return f"### course {what}: {where} could not be judged\n\n```\n{message}\n```\n"


def _num(value, spec: str) -> str:
    return "-" if value is None else (format(value, spec) if isinstance(value, (int, float)) else str(value))


def emit(lines: list[str], summary: str, echo) -> Path | None:
    """Print the workflow commands with `echo`; append the summary to $GITHUB_STEP_SUMMARY when it is set."""
    for line in lines:
        echo(line)
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:  # the runner gives each step its own file; steps append
        fh.write(summary + "\n")
    return Path(target)


def show_check(result, file, echo) -> None:
    emit(verdict_annotations(result.verdict, file, "check") + warning_annotations(result.verdict.warnings, file,
                                                                                   "check"),
         check_summary(result, file), echo)


def show_grade(result, file, echo) -> None:
    emit(verdict_annotations(result.verdict, file, "grade") + warning_annotations(result.verdict.warnings, file,
                                                                                   "grade"),
         grade_summary(result, file), echo)


def show_error(message: str, file, what: str, echo) -> None:
    emit(error_annotations(message, file, what), error_summary(message, file, what), echo)
