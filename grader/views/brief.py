"""`course check --brief`: one plain line per failed criterion or refused line, as a compiler prints them.

For pre-commit and CI logs: `model.py:12: Parameters: measured 23,860, needs < 20,000`. A criterion about the
whole model points at the line that defines Net; a file that passes prints nothing (the exit code says it).
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.views.github import net_line

# NAME:LINE:COL: reason, as the policy and the syntax check word every finding (the name may hold ':')
_LOCATED = re.compile(r"^[^\n]+?:\d+:\d+: ")


def shown_path(file) -> str:
    """The path relative to the working directory when it is below it, as a compiler would print it."""
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (OSError, ValueError):
        return path.as_posix()


def check_lines(verdict, file) -> list[str]:
    """A line per failed criterion, at the Net line (the file alone when Net is not found)."""
    line = net_line(file)
    where = f"{shown_path(file)}:{line}" if line else shown_path(file)
    return [f"{where}: {c.label}: measured {c.measured}, needs {c.threshold}"
            for c in verdict.criteria if c.passed is False]


def error_lines(message: str, file) -> list[str]:
    """Located findings as they are; any other error as one line on the file (a message's lines joined)."""
    lines = [line for line in str(message).splitlines() if line.strip()]
    if lines and all(_LOCATED.match(line) or line.startswith("... and ") for line in lines):
        return lines
    text = " ".join(line.strip() for line in lines)
    if file is None:
        return [text]
    path = shown_path(file)
    return [text if text.startswith(path) else f"{path}: {text}"]
