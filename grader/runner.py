"""The parent side of a grading: start the worker, read its events and its capped output, enforce the timeout."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.errors import (
    CourseError, DataError, IntegrityError, ManifestError, PolicyError, SubmissionError, TrainingError, UsageError,
)
from grader.sandbox import Limits, mnist_reads, worker_env

LOG_LIMIT = 1_000_000  # bytes of submission output kept, as Exercism caps it: enough to debug, not to fill a disk
EVENT_LIMIT = 4_000_000  # bytes of one event line; a run record is tens of KB, so more is not the grader talking
_ERRORS = {e.kind: e for e in (UsageError, DataError, SubmissionError, ManifestError, TrainingError, PolicyError,
                               IntegrityError)}


class WorkerError(CourseError):
    """The worker ended without a result: crash, kill, timeout or a grader bug."""

    kind = "worker"


@dataclass
class WorkerOutput:
    result: dict
    log: str = ""
    log_truncated: int = 0  # bytes dropped past LOG_LIMIT
    events: list[dict] = field(default_factory=list)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


_SIGNAL_HINTS = {
    "SIGKILL": " (likely out of memory)",
    "SIGSEGV": " (a crash in native code)",
    "SIGXCPU": " (it used more CPU time than the grading allows)",
    "SIGXFSZ": " (it wrote a file larger than the grading allows)",
}


def _exit_reason(code: int) -> str:
    if code < 0:
        name = _signal_name(code)
        return f"was killed by {name}{_SIGNAL_HINTS.get(name, '')}"
    return f"exited with code {code} before reporting a result (sys.exit or os._exit in the submission?)"


def run_worker(
    request: dict,
    on_event: Callable[[dict], None] | None = None,
    timeout: float = 3600,
    after: Callable[[Path, WorkerOutput], None] | None = None,
    limits: Limits = Limits(),
) -> WorkerOutput:
    """Run one check or grading in a fresh, walled-in process; return its result event or raise its error.

    `after(workdir, output)` runs while the worker's directory still exists (the clean evaluator reads the
    exported model from it). The static policy is the caller's job (api.check / api.grade): this runs anything.
    """
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryDirectory(prefix="course-worker-") as workdir:
        request_path = Path(workdir) / "request.json"
        # What the worker may read outside its directory: the submission and, until the parent hands the training
        # split over as files (issue 11), the MNIST folder it loads.
        readable = [request["file"]] if request.get("file") else []
        readable += mnist_reads(request.get("data_dir"))
        sandbox = {"workdir": str(Path(workdir).resolve()), "timeout": timeout, "limits": limits.to_dict(),
                   "readable": readable}
        request_path.write_text(json.dumps({**request, "sandbox": sandbox}), encoding="utf-8")
        env = worker_env(Path(workdir))
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.worker", "--events-fd", str(write_fd), str(request_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            cwd=workdir,
            env=env,
            start_new_session=True,  # so a timeout can kill everything the submission started
        )
        os.close(write_fd)
        try:
            out = _pump(proc, read_fd, on_event, timeout)
        finally:
            if proc.poll() is None:
                _kill(proc)
            os.close(read_fd)
        if after is not None:
            after(Path(workdir), out)
        return out


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _pump(proc, read_fd: int, on_event, timeout: float) -> WorkerOutput:
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(read_fd, selectors.EVENT_READ, "events")
    sel.register(proc.stdout, selectors.EVENT_READ, "log")
    log, dropped, pending = bytearray(), 0, b""
    events, result, error = [], None, None
    open_streams = 2
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill(proc)
            raise WorkerError(f"timed out after {timeout:g} s; the grading was stopped{_tail(log)}")
        for key, _ in sel.select(timeout=min(left, 1.0)):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if key.data == "log":
                room = LOG_LIMIT - len(log)
                log += chunk[:room]
                dropped += max(0, len(chunk) - room)
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > EVENT_LIMIT:
                lines, pending = [pending], b""
            for line in lines:
                event = _parse_event(line)
                if event is None:
                    _kill(proc)
                    raise WorkerError(
                        "the grading process's event channel carried something that is not a grader event "
                        f"({line[:60]!r}); the submission wrote to the grader's channel, so this run cannot be trusted"
                        + _tail(log))
                events.append(event)
                if event["event"] == "result":
                    result = event
                elif event["event"] == "error":
                    error = event
                elif on_event is not None:
                    on_event(event)
    code = proc.wait()
    text = log.decode("utf-8", "replace")
    if error is not None:
        cls = _ERRORS.get(error["kind"], WorkerError)
        message = error["message"]
        if error["kind"] == "internal":
            message = f"grading failed unexpectedly: {message}\n{error.get('traceback', '')}"
        raise cls(message + _tail(log))
    if result is None:
        raise WorkerError(f"the grading process {_exit_reason(code)}{_tail(log)}")
    return WorkerOutput(result=result, log=text, log_truncated=dropped, events=events)


def _parse_event(line: bytes) -> dict | None:
    """The event on one channel line, or None when it is not one (garbage, or not shaped like an event)."""
    if len(line) > EVENT_LIMIT:
        return None
    try:
        event = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return None
    if event["event"] == "error" and not isinstance(event.get("message"), str):
        return None
    if event["event"] == "result" and not isinstance(event.get("record", event.get("report")), dict):
        return None
    return event


def _tail(log: bytes, lines: int = 15) -> str:
    text = log.decode("utf-8", "replace").rstrip()
    if not text:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return f"\n--- last lines the submission printed ---\n{tail}"
