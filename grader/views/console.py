"""Shared by every view: the console, styles, number formatting, errors and the 'next command' line."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from grader.course.verdict import ERROR, FAILED, PASSED, SMOKE

STYLE = {PASSED: "bold green", FAILED: "bold red", ERROR: "bold red", SMOKE: "bold yellow"}


MARK = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]-[/]"}


# Set in the environment of a notebook kernel, so in every `!command` it runs: Jupyter's launcher, and Colab's.
NOTEBOOK_ENV = ("JPY_PARENT_PID", "COLAB_RELEASE_TAG")


def console(stderr: bool = False) -> Console:
    """The console on stdout (or stderr); outside a terminal it writes plain text, whatever FORCE_COLOR says.

    A pipe, a CI log or a notebook cell cannot redraw a progress bar: there, escape codes are only noise. A
    notebook's `!course ...` runs on a pseudo-terminal (IPython uses pexpect) with FORCE_COLOR=1 set by the
    kernel, so a notebook is recognised by its kernel's environment instead.
    """
    import os
    import sys

    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream is no terminal
        tty = False
    if any(os.environ.get(name) for name in NOTEBOOK_ENV):
        tty = False
    return Console(stderr=stderr, highlight=False, force_terminal=tty)


def fmt_num(value, spec: str) -> str:
    # a diverging run sends "nan"/"inf" as strings (JSON has no NaN); a missing figure shows as "-"
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def show_error(message: str, out: Console) -> None:
    out.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # a message may hold [brackets]


def next_command(out: Console, command: str, why: str = "Next") -> None:
    out.print(f"{why}: [bold cyan]{command}[/]", soft_wrap=True)  # a command broken over two lines cannot be pasted


def markdown(text: str):
    from rich.markdown import (
        Markdown,  # markdown-it is slow to import: only for commands that show prose
    )

    from grader.authoring.docs import strip_markers

    return Markdown(strip_markers(text))


def acc_text(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def int_text(value) -> str:
    return "-" if value is None else f"{value:,}"


def local_time(stamp: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return stamp[:16]
