"""The trainer process: trains the exported program the parent hands it, talking to its parent over grader.channel.

Started as `python -m grader.trainer` in its own directory (by grader.host.grading). Its first request is the
TrainTask; before anything else it walls itself in (grader.walls.sandbox), like the worker: it never imports a
submission, but the program it runs is still the student's, so its memory, files and time are capped too.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path


def main() -> int:
    from grader.channel import ParentLink

    link = ParentLink.open()
    try:
        raw = link.receive()
        if raw is None:
            return 0  # the parent gave up before sending anything
        from grader.record import TrainTask
        from grader.walls.sandbox import Limits, isolate

        task = TrainTask.from_dict(raw)
        workdir = Path.cwd()
        isolate(workdir, task.timeout, Limits(**task.limits))
        return _run(task, link, workdir)
    finally:
        link.close()


def _run(task, link, workdir: Path) -> int:
    try:
        from grader.errors import CourseError
        from grader.trainer.session import run

        run(task, link.emit, workdir)
    except CourseError as exc:
        link.emit({"event": "error", "kind": exc.kind, "message": str(exc)})
    except MemoryError:
        link.emit({"event": "error", "kind": "training", "message": "out of memory; use a smaller BATCH_SIZE or model"})
    except Exception as exc:  # a grader bug or a program failure we did not anticipate: say where
        link.emit({"event": "error", "kind": "internal", "message": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
