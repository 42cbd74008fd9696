"""`course watch`: re-check the work file on every save, keep the criteria table on screen, grade or hint on a key.

The loop (WatchLoop) reads Events from a source and calls the student's workflow; it never touches the terminal
or the file system itself, so tests drive it with scripted events. The real sources are threads feeding one
queue: FileWatcher (watchfiles' native change events on the file's folder, which also sees editors that save
by renaming a temporary file over the original) and KeyReader (single keys from a terminal, or lines from a
pipe). `--manual` leaves the FileWatcher out: Enter re-checks, for file systems whose change events never
arrive (WSL on a Windows drive, network drives).

A save is answered in three steps, each drawn as soon as it is known: "checking" the instant the save lands, the
static policy's refusals (in this process, milliseconds: no worker), then the full check, in a worker forked from
a zygote that has torch imported already (WarmWorkers, started with the watch).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from grader.channel import poll_get
from grader.errors import CourseError, UsageError
from grader.host.zygote import KeptZygote
from grader.record import GradeRequest

CHANGED, KEY, CLOSED = "changed", "key", "closed"
CHECKING, SCREENED, CHECKED = "checking", "screened", "checked"  # WatchState.phase, in the order they come
ENTER = "enter"
QUIT_KEYS = {"q", "Q", "\x04"}  # \x04: Ctrl-D in a terminal in cbreak mode


@dataclass(frozen=True)
class Event:
    kind: str  # changed: the file was saved; key: a key was pressed; closed: the input ended
    key: str = ""


@dataclass
class WatchState:
    """What the screen shows: the last check (or the error that stopped it) and what has happened so far."""

    file: Path
    lesson: str | None  # the criteria the file is judged by; None: the course target
    judged: object | None = None  # workflow.Judged of the last check that ran
    error: str | None = None  # why the last check could not judge the file
    phase: str = CHECKED  # how far the check of the latest save has come: checking, screened, checked
    refused: str | None = None  # the static policy's findings for the latest save (NAME:LINE:COL lines), if any
    checked_at: datetime | None = None
    checks: int = 0
    grades: int = 0
    hints: int = 0
    last_grade: object | None = None  # workflow.Judged of the last grade


class WatchView(Protocol):
    """What the loop tells the screen; grader.views.watch.WatchScreen draws it in a terminal."""

    def checking(self, state: WatchState) -> None: ...  # a save landed: its check has begun
    def screened(self, state: WatchState) -> None: ...  # the static policy has answered (state.refused)
    def checked(self, state: WatchState) -> None: ...
    def grading(self, state: WatchState): ...  # a context manager giving the grading's on_event callback
    def graded(self, state: WatchState) -> None: ...
    def hint(self, answer) -> None: ...
    def message(self, text: str) -> None: ...


class Source(Protocol):
    def get(self) -> Event: ...
    def drain_changes(self) -> bool: ...  # drop queued `changed` events (keys stay); True if there were any


class Events:
    """The queue every real source feeds; drain_changes coalesces saves that arrived while busy into one."""

    def __init__(self):
        self.queue: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()

    def put(self, event: Event) -> None:
        self.queue.put(event)

    def get(self) -> Event:
        return poll_get(self.queue)  # Ctrl-C gets in even when no key or save comes

    def drain_changes(self) -> bool:
        kept, changed = [], False
        while True:
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                break
            if event.kind == CHANGED:
                changed = True
            else:
                kept.append(event)
        for event in kept:
            self.queue.put(event)
        return changed


@dataclass
class WatchSummary:
    file: Path
    checks: int
    grades: int
    hints: int
    quit_by: str  # "q", "closed" (input ended) or "interrupt" (Ctrl-C)


@dataclass
class WatchLoop:
    """The watch loop over one file: check on start and on every change, g grades, h hints, q quits."""

    flow: object  # grader.workflow.Workflow (check, grade, hint)
    file: Path
    lesson: str | None
    view: WatchView
    # what a check and `g` run with (the file set here): its options
    request: GradeRequest = field(default_factory=lambda: GradeRequest(None))
    # Called with the file when the watch starts: WarmWorkers starts a zygote then, so that checks and `g` fork a
    # worker that has torch imported instead of starting one.
    warm: Callable[[Path], None] | None = None
    launch: Callable[..., object] | None = None  # the warm launcher, once there is one (None: cold)
    policy: Callable[[Path, str | None], str | None] | None = None  # the policy's refusals (None: policy_findings)

    def __post_init__(self):
        self.state = WatchState(Path(self.file), self.lesson)
        self.policy = self.policy or policy_findings

    def run(self, source: Source) -> WatchSummary:
        """Check once, then handle events until q, the end of input or Ctrl-C."""
        quit_by = "closed"
        if self.warm is not None:
            self.warm(self.state.file)  # the zygote imports torch while the first check screens the file
        try:
            self.check()
            while True:
                event = source.get()
                if event.kind == CLOSED:
                    break
                if event.kind == CHANGED:
                    source.drain_changes()  # a burst of saves is one re-check
                    self.check()
                elif event.key in QUIT_KEYS:
                    quit_by = "q"
                    break
                elif event.key in (ENTER, "r", "c"):
                    source.drain_changes()
                    self.check()
                elif event.key in ("g", "G"):
                    self.grade()
                    if source.drain_changes():  # saved while training: show the file as it is now
                        self.check()
                elif event.key in ("h", "H"):
                    self.hint()
                else:
                    self.view.message(f"unknown key {event.key!r}: g grade, h hint, Enter check again, q quit")
        except KeyboardInterrupt:
            quit_by = "interrupt"
        s = self.state
        return WatchSummary(s.file, s.checks, s.grades, s.hints, quit_by)

    def check(self) -> None:
        """Say "checking" at once, then the policy's refusals (no worker), then the full check's verdict."""
        s = self.state
        s.checks += 1
        s.checked_at = datetime.now()
        s.phase, s.refused = CHECKING, None
        self.view.checking(s)
        s.refused, s.phase = self.policy(s.file, self.lesson), SCREENED
        self.view.screened(s)
        # a refused file costs no worker: the check refuses it in this process too, and records that verdict
        launch = self.launch(wait=True) if self.launch is not None and s.refused is None else None
        try:
            request = replace(self.request, file=s.file, lesson=self.lesson)
            judged = self.flow.check(request, **({"launch": launch} if launch else {}))
            s.judged, s.error = judged, None
        except CourseError as exc:
            s.judged, s.error = None, str(exc)
        s.phase = CHECKED
        self.view.checked(s)

    def grade(self) -> None:
        s = self.state
        request = replace(self.request, file=s.file, lesson=self.lesson)
        warm = self.launch() if self.launch is not None else None  # a grade never waits for the zygote
        try:
            with self.view.grading(s) as on_event:
                s.last_grade = self.flow.grade(request, on_event=on_event, **({"launch": warm} if warm else {}))
        except CourseError as exc:
            self.view.message(f"the grading stopped: {exc}")
            return
        except KeyboardInterrupt:  # Ctrl-C stops the grading, not the watch
            self.view.message("grading interrupted; g grades again, q quits")
            return
        s.grades += 1
        self.view.graded(s)

    def hint(self) -> None:
        lesson = self.lesson
        if lesson is None:
            self.view.message("hints belong to a lesson: watch a lesson (`course watch lesson3`) or pass --lesson")
            return
        try:
            answer = self.flow.hint(lesson)
        except CourseError as exc:
            self.view.message(str(exc))
            return
        self.state.hints += 1
        self.view.hint(answer)


def policy_findings(file: Path, lesson_id: str | None) -> str | None:
    """The static policy's refusals of `file`, one NAME:LINE:COL: reason line each; None when it may run.

    Runs in this process in milliseconds, before any worker; a file it cannot read is left to the full check.
    """
    from grader.course.lesson import get_lesson
    from grader.errors import PolicyError
    from grader.walls.policy import check_file

    try:
        check_file(file, get_lesson(lesson_id).allowed_imports if lesson_id else ())
    except PolicyError as exc:
        return str(exc)
    except (OSError, CourseError):
        return None
    return None


# ------------------------------------------------------------------------------------------ real sources


class FileWatcher:
    """A thread that puts CHANGED on the queue whenever `file` is written, created or replaced."""

    def __init__(self, file: Path, events: Events, debounce_ms: int = 150):
        self.file = Path(file).resolve()
        self.events = events
        self.debounce_ms = debounce_ms
        self.thread = threading.Thread(target=self._run, name="course-watch-files", daemon=True)

    def start(self) -> FileWatcher:
        self.thread.start()
        return self

    def _run(self) -> None:
        import watchfiles  # native file events; imported only by `course watch`

        name = self.file.name
        only_the_file = lambda change, path: Path(path).name == name
        for _ in watchfiles.watch(self.file.parent, watch_filter=only_the_file, debounce=self.debounce_ms,
                                  stop_event=self.events.stop, rust_timeout=200, yield_on_timeout=False,
                                  recursive=False):
            self.events.put(Event(CHANGED))


class KeyReader:
    """A thread that puts each key (a terminal) or each line's first key (a pipe) on the queue."""

    def __init__(self, events: Events, stream=None):
        self.events = events
        self.stream = stream or sys.stdin
        self.thread = threading.Thread(target=self._run, name="course-watch-keys", daemon=True)

    def start(self) -> KeyReader:
        self.thread.start()
        return self

    def _run(self) -> None:
        terminal = _isatty(self.stream)
        while not self.events.stop.is_set():
            text = _read_key(self.stream) if terminal else self.stream.readline()
            if text == "":
                self.events.put(Event(CLOSED))
                return
            key = text if terminal else (text.strip()[:1] or "\n")
            self.events.put(Event(KEY, ENTER if key in ("\n", "\r") else key))


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _read_key(stream) -> str:
    if sys.platform == "win32":
        import msvcrt

        return msvcrt.getwch()
    return stream.read(1)


@contextmanager
def single_keys(stream=None):
    """A terminal in cbreak mode (keys arrive without Enter, Ctrl-C still interrupts) for the block's length."""
    stream = stream or sys.stdin
    if sys.platform == "win32" or not _isatty(stream):
        yield
        return
    import termios
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class WarmWorkers:
    """A zygote started in the background when the watch starts, so that checks and grades fork a worker that
    already has torch imported; where there is no fork (Windows) or it fails, they start cold as usual."""

    def __init__(self):
        self._kept: KeptZygote | None = None

    def __call__(self, file: Path) -> None:
        if self._kept is None:
            self._kept = KeptZygote()

    def launch(self, wait: bool = False):
        """The zygote's launcher, or None where there is none (cold start).

        A grade never waits for a zygote still starting; a check does (`wait`): a cold worker would import torch
        beside the zygote doing the same, and on two cores both would take twice as long.
        """
        if self._kept is None:
            return None
        zygote = self._kept.wait() if wait else self._kept.zygote
        return zygote.launch if zygote is not None else None

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()


def watch(flow, lesson_id: str | None, view: WatchView, *, file=None, manual: bool = False,
          request: GradeRequest | None = None, warm_workers: bool = True,
          stream=None) -> WatchSummary:
    """`course watch`: resolve the file (the lesson's work file, or `file`), then run the loop on real events.

    With warm_workers, a zygote starts with the watch so that checks and `g` skip importing torch.
    """
    target = flow.target(file, lesson_id)
    if not target.file.is_file():
        raise UsageError(f"{target.file} does not exist")
    warm = WarmWorkers() if warm_workers else None
    loop = WatchLoop(flow, target.file, target.lesson, view, request or GradeRequest(None), warm,
                     warm.launch if warm is not None else None)
    events = Events()
    with single_keys(stream):
        KeyReader(events, stream).start()
        if not manual:
            FileWatcher(target.file, events).start()
        try:
            return loop.run(events)
        finally:
            events.stop.set()  # the file watcher sees it within rust_timeout; the key reader dies with the process
            if warm is not None:
                warm.close()
