"""Measure the course's own files (stubs, solutions, lesson examples) in this process, once per content.

`course check` runs a student's file in a worker process; the course's own files are trusted, so `course verify`
and `course docs` measure them here and skip a process start per file.
"""

from __future__ import annotations

from pathlib import Path

from grader.digest import file_sha256

_REPORTS: dict[tuple[str, str | None], dict] = {}  # (sha256, data_dir): the same content measures the same


def measure_file(path: Path, data_dir=None) -> dict:
    """The `course check` report of one course file; raises SubmissionError when it breaks the contract."""
    from grader.worker.report import measure  # torch: only when a model is measured
    from grader.worker.submission import load

    key = (file_sha256(path), str(data_dir) if data_dir else None)
    if key not in _REPORTS:
        _, _REPORTS[key] = measure(load(path), data_dir)
    return _REPORTS[key]
