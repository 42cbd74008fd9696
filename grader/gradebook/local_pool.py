"""Run a batch's jobs on this machine: a job process each (grader.gradebook.job), N at a time, over the devices.

Jobs run in sessions of their own (grader.channel), out of the terminal's reach, so Ctrl-C is the batch's to
handle: it stops every job with SIGTERM, which unwinds through the grading's cleanup (its worker and evaluator
are killed) and records nothing; results already on their way are kept.
"""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from grader.channel import CLOSED, ChildProcess, Garbage
from grader.gradebook.job import JobSpec

STOP_GRACE_S = 30  # after Ctrl-C, how long a job may take to kill its worker before it is killed itself


@dataclass
class _Running:
    child: ChildProcess
    spec: JobSpec
    device: str
    result: dict | None = None


def cpu_threads(device: str, slot_devices: list[str]) -> int | None:
    """Torch threads for a CPU job: the CPUs shared by the CPU slots, so parallel jobs do not oversubscribe."""
    if device != "cpu":
        return None
    cpu_slots = sum(d == "cpu" for d in slot_devices)
    return max(1, (os.cpu_count() or 1) // cpu_slots)


def _env(threads: int | None) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the job must import this very grader, installed or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    if threads and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)  # read by torch in the worker the job starts
    return env


class LocalPool:
    """Job processes on this machine, one per slot; a slot is a device (several slots may share one)."""

    def __init__(self, slot_devices: list[str], devices: list[str] | None = None):
        self.slot_devices = list(slot_devices)
        self.devices = list(devices or dict.fromkeys(slot_devices))

    def describe(self) -> tuple[list[str], int]:
        """(devices, jobs at a time), for the batch's first line."""
        return self.devices, len(self.slot_devices)

    def run(self, specs: list[JobSpec], emit: Callable[[dict], None],
            on_result: Callable[[JobSpec, dict], None]) -> bool:
        """Run every job; `on_result(spec, result)` as each ends. True when Ctrl-C (or SIGTERM) stopped the batch."""
        pending = list(specs)
        free = list(self.slot_devices)
        running: dict[ChildProcess, _Running] = {}
        events: queue.Queue = queue.Queue()
        restore = _sigterm_is_ctrl_c()
        try:
            while pending or running:
                while pending and free:
                    device = free.pop(0)
                    spec = replace(pending.pop(0), device=device)
                    child = ChildProcess.python("grader.gradebook.job", name="job", events=events,
                                                env=_env(cpu_threads(device, self.slot_devices)))
                    child.send(spec.to_dict())
                    running[child] = _Running(child, spec, device)
                    emit({"event": "job", "student": spec.student, "seed": spec.seed, "device": device})
                try:
                    child, event = events.get(timeout=1.0)
                except queue.Empty:
                    continue
                job = running.get(child)
                if job is not None and self._handle(job, event, emit):
                    del running[child]
                    free.append(job.device)
                    on_result(job.spec, job.result or _died(job))
            return False
        except KeyboardInterrupt:
            self._stop(running, events, on_result)
            return True
        finally:
            restore()
            for job in running.values():
                job.child.kill()

    @staticmethod
    def _handle(job: _Running, event, emit) -> bool:
        """Take one event of a job; True once the job is over."""
        if event is CLOSED:
            try:
                job.child.wait(STOP_GRACE_S)
            except Exception:  # noqa: BLE001 - a job that will not exit is killed
                job.child.kill()
            return True
        if isinstance(event, Garbage):
            job.child.kill()
            return False  # its CLOSED follows
        if event["event"] == "done":
            job.result = {k: v for k, v in event.items() if k != "event"}
        else:
            emit(event)
        return False

    def _stop(self, running: dict, events: queue.Queue, on_result) -> None:
        """Ctrl-C: SIGTERM every job, keep the results already on their way, kill what is left after the grace."""
        for job in running.values():
            job.child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        try:
            while running and time.monotonic() < deadline:
                try:
                    child, event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                job = running.get(child)
                if job is not None and self._handle(job, event, lambda e: None):
                    del running[child]
                    if job.result is not None:
                        on_result(job.spec, job.result)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            pass


def _died(job: _Running) -> dict:
    code = job.child.poll()
    return {"died": f"the batch job ended without a result (exit code {code}); not recorded{job.child.tail()}"}


def _sigterm_is_ctrl_c() -> Callable[[], None]:
    """While jobs run, `kill PID` stops the batch as Ctrl-C does (instead of orphaning the jobs)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
