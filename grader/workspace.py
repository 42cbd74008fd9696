"""Where a student's work lives: `--workspace`, then $COURSE_WORKSPACE, then ./work."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "COURSE_WORKSPACE"


def workspace_root(override: str | os.PathLike | None = None) -> Path:
    """The workspace folder (not created here): work/lessonN/model.py files and the student's state live in it."""
    chosen = override or os.environ.get(ENV_VAR)
    return Path(chosen).expanduser().resolve() if chosen else (Path.cwd() / "work").resolve()
