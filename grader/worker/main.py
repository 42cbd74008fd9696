"""The grading worker process: runs the untrusted submission, talking to its parent over grader.channel.

Started as `python -m grader.worker` in its own directory (by grader.host.grading). Its first request is the
WorkerTask; before anything else it walls itself in (grader.walls.sandbox), while it is still single-threaded
and before torch or the submission is imported. Its stdout and stderr belong to the submission (the parent keeps
them, capped, as a log); events travel on the channel alone.
"""

from __future__ import annotations

import sys


def _session():
    from grader.worker.session import run

    return run


def main() -> int:
    from grader.record import WorkerTask
    from grader.walls.child import serve

    return serve(WorkerTask, _session)


if __name__ == "__main__":
    sys.exit(main())
