"""Measure the course's own files (stubs, solutions, lesson examples) in this process, once per content.

`course check` runs a student's file in a sandboxed worker; the course's own files are trusted, so `course verify`
and `course docs` measure them here, the same way (build, check, export, count on the exported program), and skip
a process start per file. The receptive field and structure are read off the exported program, as for a student.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from grader.digest import file_sha256

_REPORTS: dict[tuple[str, str | None], dict] = {}  # (sha256, data_dir): the same content measures the same
CHECK_IMAGES = 1_000  # two for the contract, a batch to export with


def report_course_file(path: Path, data_dir=None) -> dict:
    """The `course check` report of one course file; raises SubmissionError when it breaks the contract."""
    key = (file_sha256(path), str(data_dir) if data_dir else None)
    if key not in _REPORTS:
        from grader import program, program_analysis  # torch: only when a model is measured
        from grader.mnist import load_split
        from grader.worker.report import examine
        from grader.worker.submission import load

        split = load_split(train=True, data_dir=data_dir).subset(CHECK_IMAGES)
        sub = load(path)
        with tempfile.TemporaryDirectory(prefix="course-trusted-") as scratch:
            _, report, exported = examine(sub, split, 0, Path(scratch))
        report = program_analysis.with_analysis({**report, "file": str(Path(path).resolve())}, exported.graph)
        _REPORTS[key] = program.with_count(report, program.count_parameters(exported.graph))
    return _REPORTS[key]
