"""A child process with an event channel of its own, the same on Linux, macOS and Windows.

Every child the grader starts (the sandboxed worker, the clean evaluator, a batch job) talks to its parent the
same way, over its three standard pipes:

- stdin carries requests from the parent, one JSON object per line;
- stdout carries the child's events back, one JSON object per line (grader.events: typed, parsed here);
- stderr is the child's log: whatever a submission prints, kept up to LOG_LIMIT bytes.

The child calls `ParentLink.open()` first thing: it keeps private duplicates of fds 0 and 1 for the channel and
points its own stdout at stderr and its stdin at the null device, so nothing a submission prints (or reads) can
touch the channel. Pipes and `os.dup` exist on every OS, unlike `pass_fds`; the parent reads with threads
because `select` does not work on Windows pipes.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grader.events import Event, EventError, parse
from grader.record import json_safe

LOG_LIMIT = 1_000_000  # bytes of a child's output kept, as Exercism caps it: enough to debug, not to fill a disk
EVENT_LIMIT = 64_000_000  # bytes of one channel line; events are small, so more is not the grader talking
_POSIX = os.name == "posix"
POLL_S = 0.25  # the longest a waiting thread sleeps between looks for Ctrl-C (see poll_get)


@dataclass(frozen=True)
class Garbage:
    """A channel line that is not an event: the child (or code running in it) wrote something else there."""

    line: bytes
    reason: str = "not an event"  # what was wrong with it (grader.events.EventError's message)


CLOSED = object()  # a child's event stream ended (it exited, or closed its end)


def parse_event(line: bytes) -> Event:
    """The typed event on one channel line; EventError saying why when it is not one (not JSON, an unknown event,
    a missing or mistyped field)."""
    if len(line) > EVENT_LIMIT:
        raise EventError(f"a line of {len(line):,} bytes (events are small)")
    try:
        raw = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EventError(f"not JSON ({type(exc).__name__})") from None
    return parse(raw)


def json_line(message: Event | dict[str, Any]) -> bytes:
    """One channel line; NaN and inf (a diverging model makes them) travel as strings."""
    if isinstance(message, Event):
        message = message.to_dict()
    return (json.dumps(json_safe(message), separators=(",", ":"), default=str) + "\n").encode("utf-8")


# ------------------------------------------------------------------------------------------------ parent side


class ChildProcess:
    """A started child: send it requests, take its events (from `events`, shared by several children), kill it.

    Events arrive on `events` as (child, event) pairs, where event is a grader.events.Event, a Garbage, or CLOSED
    once.
    """

    def __init__(self, argv: list[str] | None, *, name: str, cwd=None, env=None, events: queue.Queue | None = None,
                 log_limit: int = LOG_LIMIT, pass_fds=(), adopt=None):
        self.name = name
        self.events: queue.Queue = events if events is not None else queue.Queue()
        self._log = bytearray()
        self.log_dropped = 0
        self._log_limit = log_limit
        if adopt is not None:  # a process someone else started (the zygote forked it), with its three pipes
            self.proc = adopt
        elif argv is None:
            raise ValueError("a ChildProcess needs an argv to start, or a process to adopt")
        else:
            kwargs = {"start_new_session": True, "pass_fds": tuple(pass_fds)} if _POSIX else {
                "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
            # A child in a session of its own: the terminal's Ctrl-C is the parent's to handle, and a kill of the
            # group takes everything the submission started.
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=cwd, env=env, **kwargs)
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read_events, daemon=True, name=f"{name}-events"),
                         threading.Thread(target=self._read_log, daemon=True, name=f"{name}-log")]
        for thread in self._readers:
            thread.start()

    @classmethod
    def python(cls, module: str, args=(), **kwargs) -> ChildProcess:
        """`python -m MODULE ARGS` with this interpreter."""
        return cls([sys.executable, "-m", module, *args], **kwargs)

    # ----------------------------------------------------------------------------------------- talking

    def send(self, message: dict[str, Any]) -> bool:
        """Write one request line; False when the child is gone (its stdin closed)."""
        try:
            with self._lock:
                self.proc.stdin.write(json_line(message))
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def close_input(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def _read_events(self) -> None:
        stream = self.proc.stdout
        try:
            while True:
                line = stream.readline(EVENT_LIMIT + 1)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) > EVENT_LIMIT:
                    self.events.put((self, Garbage(line[:80], f"a line of more than {EVENT_LIMIT:,} bytes")))
                    break
                try:
                    self.events.put((self, parse_event(line)))
                except EventError as exc:  # the channel is not the grader's any more: stop reading it
                    self.events.put((self, Garbage(line[:80], str(exc))))
                    break
        except (OSError, ValueError):
            pass
        finally:
            self.events.put((self, CLOSED))

    def _read_log(self) -> None:
        try:
            while chunk := self.proc.stderr.read1(65536) if hasattr(self.proc.stderr, "read1") else \
                    self.proc.stderr.read(65536):
                room = self._log_limit - len(self._log)
                self._log += chunk[: max(room, 0)]
                self.log_dropped += max(0, len(chunk) - max(room, 0))
        except (OSError, ValueError):
            pass

    # ----------------------------------------------------------------------------------------- its output

    @property
    def log(self) -> str:
        return bytes(self._log).decode("utf-8", "replace")

    def tail(self, lines: int = 15) -> str:
        """The last lines the child printed, as a block to append to an error message ("" when it printed none)."""
        text = self.log.rstrip()
        if not text:
            return ""
        return "\n--- last lines it printed ---\n" + "\n".join(text.splitlines()[-lines:])

    # ----------------------------------------------------------------------------------------- its life

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code once it ended and its output is read (negative: killed by that signal, on POSIX)."""
        code = self.proc.wait(timeout)
        for thread in self._readers:
            thread.join(timeout=5)
        return code

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM on POSIX, where it unwinds through its cleanup)."""
        if self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        """Kill it and everything it started (its whole process group on POSIX)."""
        if self.proc.poll() is None:
            try:
                if _POSIX:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def cold_start(module: str, *, name: str, cwd, env, events: queue.Queue) -> ChildProcess:
    """The default launcher: a fresh interpreter for every child (grader.host.zygote is the warm one)."""
    return ChildProcess.python(module, name=name, cwd=cwd, env=env, events=events)


def poll_get(q: queue.Queue, timeout: float | None = None):
    """q.get(timeout=timeout) that lets Ctrl-C in: it waits in slices of POLL_S (queue.Empty after `timeout`).

    The OS may hand a SIGINT to any thread; Python raises KeyboardInterrupt in the main thread only once that thread
    wakes, so a main thread blocked on a queue that nothing feeds (a hung submission) would never stop.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
        if left <= 0:
            raise queue.Empty
        try:
            return q.get(timeout=left)
        except queue.Empty:
            continue


def next_event(events: queue.Queue, deadline: float):
    """The next (child, event) from a shared queue, or None once `deadline` (time.monotonic) has passed."""
    try:
        return poll_get(events, deadline - time.monotonic())
    except queue.Empty:
        return None


def drain(events: queue.Queue, deadline: float) -> Iterator[tuple]:
    """(child, event) pairs until the deadline; the caller stops iterating when it has what it needs."""
    while (item := next_event(events, deadline)) is not None:
        yield item


def exit_reason(code: int) -> str:
    """Why a child ended without its result, in words: "was killed by SIGKILL (likely out of memory)"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}{_SIGNAL_HINTS.get(name, '')}"
    return f"exited with code {code} before reporting a result (sys.exit or os._exit in the submission?)"


_SIGNAL_HINTS = {
    "SIGKILL": " (likely out of memory)",
    "SIGSEGV": " (a crash in native code)",
    "SIGXCPU": " (it used more CPU time than the grading allows)",
    "SIGXFSZ": " (it wrote a file larger than the grading allows)",
}


# ------------------------------------------------------------------------------------------------- child side


class ParentLink:
    """The child's end of the channel: `receive()` the parent's requests, `emit()` events to it."""

    def __init__(self, reader, writer):
        self._reader, self._writer = reader, writer

    @classmethod
    def open(cls) -> ParentLink:
        """Take fds 0 and 1 for the channel; from now on print() goes to the log and input() reads nothing."""
        reader = os.fdopen(os.dup(0), "rb", buffering=0)
        writer = os.fdopen(os.dup(1), "wb", buffering=0)
        if _POSIX:  # the copies must not leak into processes the submission might start
            for f in (reader, writer):
                os.set_inheritable(f.fileno(), False)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        sys.stdout = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        return cls(reader, writer)

    def emit(self, event: Event) -> None:
        """Send one event."""
        self._writer.write(json_line(event))

    def receive(self) -> dict[str, Any] | None:
        """The parent's next request, or None when it closed the channel."""
        line = self._reader.readline()
        if not line:
            return None
        return json.loads(line)

    def close(self) -> None:
        for f in (self._reader, self._writer):
            try:
                f.close()
            except OSError:
                pass
