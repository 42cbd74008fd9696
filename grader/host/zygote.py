"""The parent's side of the zygote (grader.zygote): start it once, then launch workers and evaluators warm.

`Zygote.launch` has the same shape as grader.channel.cold_start, so grader.host.grading runs unchanged on either:
it creates the child's three pipes here, hands them to the zygote over a Unix socket, and gets back a process it
can signal, kill and wait for like any other. POSIX only (fork); elsewhere `warm_launcher` says so and the cold
path is used.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sys
import threading
import time

from grader.channel import ChildProcess, poll_get
from grader.errors import CourseError
from grader.events import ZygoteReady

READY_TIMEOUT_S = 300  # importing torch and warming the exporter on a slow, busy machine
_MAX_MESSAGE = 1 << 16


class ZygoteError(CourseError):
    """The zygote could not be started or stopped answering."""

    kind = "worker"


class _Forked:
    """A process the zygote forked: the subset of subprocess.Popen that ChildProcess uses."""

    def __init__(self, pid: int, stdin, stdout, stderr):
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        if not self._ended.wait(timeout) or self.returncode is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig) -> None:
        if self.returncode is None:
            try:
                os.killpg(self.pid, sig)  # the child is the leader of its own session
            except (ProcessLookupError, PermissionError):
                pass


class Zygote:
    """A warm fork server for this process's gradings; use as a context manager (it dies with its parent too)."""

    def __init__(self):
        if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
            raise ZygoteError("warm workers need fork() and fd passing (Linux or macOS); grading starts them cold")
        self._ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        from grader.walls.sandbox import worker_env

        env = {**worker_env(_scratch()), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_grader_root(), env["PYTHONPATH"]]))
        self._events: queue.Queue = queue.Queue()
        started = time.monotonic()
        self._process = ChildProcess.python("grader.zygote", name="zygote", env=env, events=self._events,
                                            pass_fds=(theirs.fileno(),))
        self._process.send({"socket": theirs.fileno()})
        theirs.close()
        self._children: dict[int, _Forked] = {}
        self._replies: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._wait_ready()
        self.startup_seconds = time.monotonic() - started
        self._reader = threading.Thread(target=self._read, daemon=True, name="zygote-replies")
        self._reader.start()

    def _wait_ready(self) -> None:
        try:
            _, event = poll_get(self._events, READY_TIMEOUT_S)
        except queue.Empty:
            self.close()
            raise ZygoteError(f"the zygote did not start within {READY_TIMEOUT_S} s") from None
        if not isinstance(event, ZygoteReady):  # CLOSED, a Garbage line, or an error it reported
            self.close()
            raise ZygoteError(f"the zygote could not start{self._process.tail()}")

    def _read(self) -> None:
        while True:
            try:
                message = self._ours.recv(_MAX_MESSAGE)
            except OSError:
                break
            if not message:
                break
            reply = json.loads(message)
            if "exited" in reply:
                child = self._children.pop(int(reply["exited"]), None)
                if child is not None:
                    child._exited(int(reply["code"]))
            else:
                self._replies.put(reply)
        for child in list(self._children.values()):  # the zygote is gone, and its children with it
            child._exited(-signal.SIGKILL)

    def launch(self, module: str, *, name: str, cwd, env, events: queue.Queue) -> ChildProcess:
        """Fork a warm `module` child (grader.worker or grader.evaluator) with its own channel."""
        pipes = [os.pipe() for _ in range(3)]  # (read, write) for its stdin, stdout, stderr
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        with self._lock:
            try:
                socket.send_fds(self._ours, [json.dumps({"module": module, "cwd": str(cwd), "env": env}).encode()],
                                theirs)
                reply = self._replies.get(timeout=60)
            except (OSError, queue.Empty) as exc:
                for fd in ours:
                    os.close(fd)
                raise ZygoteError(f"the zygote stopped answering ({exc or 'no reply'})") from exc
            finally:
                for fd in theirs:
                    os.close(fd)
            if "spawned" not in reply:
                for fd in ours:
                    os.close(fd)
                raise ZygoteError(f"the zygote refused to start {module}: {reply}")
            forked = _Forked(int(reply["spawned"]), os.fdopen(ours[0], "wb", buffering=0),
                             os.fdopen(ours[1], "rb", buffering=0), os.fdopen(ours[2], "rb", buffering=0))
            self._children[forked.pid] = forked
        return ChildProcess(None, name=name, events=events, adopt=forked)

    def close(self) -> None:
        try:
            self._ours.close()
        except OSError:
            pass
        self._process.kill()

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _grader_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


def _scratch():
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir())


def warm_launcher():
    """A started Zygote, or None where warm workers are not available (the caller starts children cold)."""
    if sys.platform == "win32" or os.environ.get("COURSE_ZYGOTE", "").lower() in ("0", "off", "no"):
        return None
    try:
        return Zygote()
    except ZygoteError:
        return None


class KeptZygote:
    """warm_launcher() run on a thread of its own that holds the zygote until close(): the kernel kills a zygote when
    the thread that started it ends (PR_SET_PDEATHSIG belongs to a thread, not to the process), so it cannot belong
    to a short-lived caller's thread. It warms up in the background from construction."""

    def __init__(self, name: str = "zygote"):
        self.zygote: Zygote | None = None  # None until it is up, and for good where none could start
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True, name=name)
        self._thread.start()

    def _keep(self) -> None:
        try:
            self.zygote = warm_launcher()
        finally:
            self._ready.set()
        self._closing.wait()
        if self.zygote is not None:
            self.zygote.close()

    def wait(self) -> Zygote | None:
        """The zygote once it has started, or None where it could not."""
        self._ready.wait()
        return self.zygote

    def close(self) -> None:
        self._closing.set()
        self._thread.join(60)
