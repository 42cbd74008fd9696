"""Shared by every view: the console, styles, number formatting, errors and the 'next command' line."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

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
    out = Console(stderr=stderr, highlight=False, force_terminal=tty)
    # say() wraps messages to a terminal's width (or $COLUMNS'); a pipe or a CI log has no width of its own, so
    # there a message goes out as one line that grep finds whole and the log viewer wraps
    out.wraps = tty or bool(os.environ.get("COLUMNS"))
    return out


def fmt_num(value, spec: str) -> str:
    # a diverging run sends "nan"/"inf" as strings (JSON has no NaN); a missing figure shows as "-"
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def say(out: Console, message, *, style: str | None = None, label: str | None = None, markup: bool = True) -> None:
    """Print a message wrapped at word boundaries to the console's width: the one way messages reach the screen.

    A terminal left to wrap a long line cuts words in two ("(li / ne 33"); rich breaks between words instead. With
    `label` ("error:") the continuation lines hang under the message, so the label stays alone in its column.
    """
    text = message if isinstance(message, Text) else (Text.from_markup(message) if markup else Text(message))
    if style:
        text.stylize(style)
    head = Text.from_markup(label) + " " if label else Text()
    if not getattr(out, "wraps", True):  # console() said a pipe: one line; any other console wraps
        out.print(head + text, soft_wrap=True)
        return
    if head.cell_len > out.width // 3:  # a long label (a student's name) would leave the message a narrow strip
        text, head = head + text, Text()
    indent = Text(" " * head.cell_len)
    # only a single word wider than the screen (a long path) is folded; every other line breaks between words
    lines = text.wrap(out, max(out.width - head.cell_len, 20), overflow="fold")
    for i, line in enumerate(lines):
        shown = (head if i == 0 else indent) + line
        shown.rstrip()
        out.print(shown, soft_wrap=True)


def show_error(message: str, out: Console) -> None:
    say(out, message, label="[bold red]error:[/]", markup=False)  # a message may hold [brackets]


def next_command(out: Console, command: str, why: str = "Next") -> None:
    """'Next: course check', with the command on a line of its own when both do not fit: never broken, to paste."""
    if len(why) + 2 + len(command) <= out.width:
        out.print(f"{why}: [bold cyan]{escape(command)}[/]", soft_wrap=True)
    else:
        say(out, f"{why}:")
        out.print(f"  [bold cyan]{escape(command)}[/]", soft_wrap=True)


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
