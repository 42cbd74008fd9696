"""The grading worker process: runs the untrusted submission, talking to its parent over grader.channel.

Started as `python -m grader.worker` in its own directory (by grader.host.grading). Its first request is the
WorkerTask; before anything else it walls itself in (grader.walls.sandbox), while it is still single-threaded
and before torch or the submission is imported. Its stdout and stderr belong to the submission (the parent keeps
them, capped, as a log); events travel on the channel alone.
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
        from grader.record import WorkerTask
        from grader.walls.sandbox import Limits, isolate

        task = WorkerTask.from_dict(raw)
        workdir = Path.cwd()
        isolate(workdir, task.timeout, Limits(**task.limits))
        return _run(task, link, workdir)
    finally:
        link.close()


def _run(task, link, workdir: Path) -> int:
    # Imported after the channel is open and the walls are up, so an import failure is still reported as an event.
    try:
        from grader.errors import CourseError
        from grader.worker.session import run

        run(task, link.emit, workdir)
    except CourseError as exc:
        link.emit({"event": "error", "kind": exc.kind, "message": str(exc)})
    except MemoryError:
        link.emit({"event": "error", "kind": "training", "message": "out of memory; use a smaller BATCH_SIZE or model"})
    except Exception as exc:  # a grader bug or a submission failure we did not anticipate: say where
        link.emit({"event": "error", "kind": "internal", "message": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
