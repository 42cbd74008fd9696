"""The grading worker process: runs the untrusted submission and streams JSON events on a channel of its own.

Started by grader.runner as `python -m grader.worker --events-fd N REQUEST.json`. Its stdout and stderr
belong to the submission (the parent caps and keeps them as a log); protocol events go only to fd N, so
nothing the submission prints can pass for an event. Before anything else it walls itself in (grader.sandbox).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback


def _clean(value):
    # JSON has no NaN/inf; a diverging model produces them, and the parent must still parse the event.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.worker")
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("request")
    args = parser.parse_args(argv)
    channel = os.fdopen(args.events_fd, "w", buffering=1, encoding="utf-8")

    def emit(event: dict) -> None:
        channel.write(json.dumps(_clean(event)) + "\n")
        channel.flush()

    with open(args.request, encoding="utf-8") as fh:
        request = json.load(fh)
    # First, while single-threaded and before torch or the submission is imported: the OS walls.
    from pathlib import Path

    from grader.sandbox import Limits, isolate

    walls = request.get("sandbox") or {}
    isolate(Path(walls.get("workdir") or os.getcwd()), float(walls.get("timeout", 3600)),
            Limits(**walls.get("limits", {})), readable=walls.get("readable", ()))
    # Imported after the channel is open so that an import failure is still reported as an event.
    try:
        from grader.errors import CourseError
        from grader.grading import run_check, run_grade

        if request["mode"] == "check":
            emit({"event": "result", "report": run_check(request)})
        else:
            emit({"event": "result", "record": run_grade(request, emit)})
        return 0
    except CourseError as exc:
        emit({"event": "error", "kind": exc.kind, "message": str(exc)})
        return 0
    except MemoryError:
        emit({"event": "error", "kind": "training", "message": "out of memory; use a smaller BATCH_SIZE or model"})
        return 0
    except Exception as exc:  # a grader bug or a submission failure we did not anticipate: say where
        emit({"event": "error", "kind": "internal",
              "message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        return 0
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
