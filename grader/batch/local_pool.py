"""Run a batch's jobs on this machine: N gradings at a time, spread over the devices, started warm.

Each grading is the parent side of grader.host.grading (no torch, no submission: it only talks to its children),
so the batch runs them in threads of its own process. Their workers and evaluators are forked by one zygote
(grader.host.zygote) that imported torch once, instead of starting a fresh interpreter each; where there is no
fork (Windows) or COURSE_ZYGOTE=off, they start cold. Ctrl-C kills every running grading's children: nothing of a
stopped grading is recorded, and results already on their way are kept.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

from grader.batch.job import JobSpec, grade_job
from grader.channel import ChildProcess, cold_start, poll_get
from grader.events import BatchEvent, JobStarted

JOIN_S = 30  # after Ctrl-C, how long a grading's thread may take to notice its children are gone


def cpu_threads(device: str, slot_devices: list[str]) -> int | None:
    """Torch threads for a CPU job: the CPUs shared by the CPU slots, so parallel jobs do not oversubscribe."""
    if device != "cpu":
        return None
    cpu_slots = sum(d == "cpu" for d in slot_devices)
    return max(1, (os.cpu_count() or 1) // cpu_slots)


class Launches:
    """Starts one job's children (warm or cold) with its thread count, and remembers them so Ctrl-C can kill them."""

    def __init__(self, start: Callable[..., ChildProcess], threads: int | None, live: set, lock: threading.Lock):
        self.start, self.threads, self.live, self.lock = start, threads, live, lock
        self.stopped = False

    def __call__(self, module: str, *, name: str, cwd, env, events) -> ChildProcess:
        if self.threads and "OMP_NUM_THREADS" not in os.environ:
            env = {**env, "OMP_NUM_THREADS": str(self.threads)}  # read by torch in the worker
        with self.lock:
            if self.stopped:
                raise KeyboardInterrupt  # the batch is stopping: start nothing new
            child = self.start(module, name=name, cwd=cwd, env=env, events=events)
            self.live.add(child)
        return child


class LocalPool:
    """Gradings on this machine, one per slot; a slot is a device (several slots may share one)."""

    def __init__(self, slot_devices: list[str], devices: list[str] | None = None, warm: bool = True):
        self.slot_devices = list(slot_devices)
        self.devices = list(devices or dict.fromkeys(slot_devices))
        self.warm = warm
        self.started_warm = False  # whether the last run's children came from a zygote

    def describe(self) -> tuple[list[str], int]:
        """(devices, jobs at a time), for the batch's first line."""
        return self.devices, len(self.slot_devices)

    def run(self, specs: list[JobSpec], emit: Callable[[BatchEvent], None],
            on_result: Callable[[JobSpec, dict[str, Any]], None]) -> bool:
        """Run every job; `on_result(spec, result)` in this thread as each ends. True when Ctrl-C stopped the batch."""
        if not specs:
            return False
        from grader.host.zygote import warm_launcher

        zygote = warm_launcher() if self.warm else None
        self.started_warm = zygote is not None
        start = zygote.launch if zygote is not None else cold_start
        inbox: queue.Queue = queue.Queue()  # events and results from the gradings' threads, handled here
        live: set[ChildProcess] = set()
        lock = threading.Lock()
        pending = list(specs)
        free = list(self.slot_devices)
        running: dict[threading.Thread, Launches] = {}
        restore = sigterm_is_ctrl_c()
        try:
            while pending or running:
                while pending and free:
                    device = free.pop(0)
                    spec = pending.pop(0).on(device)
                    launches = Launches(start, cpu_threads(device, self.slot_devices), live, lock)
                    thread = threading.Thread(target=_grade, args=(spec, launches, inbox), daemon=True,
                                              name=f"grading-{spec.student}-{spec.seed}")
                    running[thread] = launches
                    emit(JobStarted(spec.student, spec.seed, device))
                    thread.start()
                kind, *rest = poll_get(inbox)  # not inbox.get(): Ctrl-C must get in while a job hangs
                if kind == "event":
                    emit(rest[0])
                else:
                    thread, spec, result = rest
                    running.pop(thread, None)
                    free.append(spec.device)
                    on_result(spec, result)
            return False
        except KeyboardInterrupt:
            self._stop(running, live, lock)
            return True
        finally:
            restore()
            if zygote is not None:
                zygote.close()

    @staticmethod
    def _stop(running: dict, live: set, lock: threading.Lock) -> None:
        """Ctrl-C: start nothing new, kill every running grading's children, let the threads wind down."""
        with lock:
            for launches in running.values():
                launches.stopped = True
            for child in list(live):
                child.kill()
        for thread in list(running):
            thread.join(JOIN_S)


def _grade(spec: JobSpec, launches: Launches, inbox: queue.Queue) -> None:
    thread = threading.current_thread()
    try:
        result = grade_job(spec, lambda event: inbox.put(("event", event)), launch=launches)
    except KeyboardInterrupt:
        result = {"died": "stopped by Ctrl-C; not recorded"}
    finally:
        with launches.lock:
            launches.live.difference_update(c for c in list(launches.live) if c.poll() is not None)
    if not launches.stopped:
        inbox.put(("result", thread, spec, result))


def sigterm_is_ctrl_c() -> Callable[[], None]:
    """While jobs run, `kill PID` stops the batch as Ctrl-C does (instead of orphaning the jobs)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
