"""The first steps every sandboxed child takes (the worker, the trainer): read its task from the parent, wall itself
in while still single-threaded and before torch is imported, then run, turning every way of failing into an event.

No torch here: this runs before the walls are up.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path


def serve(task_type, run: Callable[[], Callable]) -> int:
    """Receive a `task_type` (WorkerTask, TrainTask), isolate, then `run()(task, emit, workdir)`; always exits 0."""
    from grader.channel import ParentLink

    link = ParentLink.open()
    try:
        raw = link.receive()
        if raw is None:
            return 0  # the parent gave up before sending anything
        from grader.walls.sandbox import Limits, isolate

        task = task_type.from_dict(raw)
        workdir = Path.cwd()
        isolate(workdir, task.options.timeout, Limits(**task.limits))
        _run(run, task, link, workdir)
        return 0
    finally:
        link.close()


def _run(run: Callable[[], Callable], task, link, workdir: Path) -> None:
    # The session is imported after the channel is open and the walls are up, so an import failure is an event too.
    from grader.events import Failed

    try:
        from grader.errors import CourseError

        run()(task, link.emit, workdir)
    except CourseError as exc:
        link.emit(Failed(exc.kind, str(exc)))
    except MemoryError:
        link.emit(Failed("training", "out of memory; use a smaller BATCH_SIZE or model"))
    except Exception as exc:  # a grader bug or a failure we did not anticipate: say where
        link.emit(Failed("internal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
