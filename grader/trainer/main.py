"""The trainer process: trains the exported program the parent hands it, talking to its parent over grader.channel.

Started as `python -m grader.trainer` in its own directory (by grader.host.grading). Its first request is the
TrainTask; before anything else it walls itself in (grader.walls.sandbox), like the worker: it never imports a
submission, but the program it runs is still the student's, so its memory, files and time are capped too.
"""

from __future__ import annotations

import sys


def _session():
    from grader.trainer.session import run

    return run


def main() -> int:
    from grader.record import TrainTask
    from grader.walls.child import serve

    return serve(TrainTask, _session)


if __name__ == "__main__":
    sys.exit(main())
