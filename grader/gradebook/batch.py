"""Grade a folder of submissions: find them, skip what is already graded, run N at a time over the devices.

Each grading runs in a job process of its own (`python -m grader.gradebook.batch`, which grades through grader.api
and so starts the usual worker), so one bad submission cannot stop the batch, and Ctrl-C can stop every
running grading cleanly: jobs run in sessions of their own, out of the terminal's reach, and are told to
stop with SIGTERM, which unwinds through the runner's cleanup (the worker is killed) and records nothing.
Finished runs are already in the gradebook.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from grader.gradebook import store
from grader.errors import CourseError, UsageError

MODEL_FILE = "model.py"
MAX_MODEL_BYTES = 1_000_000  # a model.py is a few KB; this refuses zip bombs without refusing any real file
STOP_GRACE_S = 30  # after Ctrl-C, how long a job may take to kill its worker before it is killed itself


@dataclass
class BatchConfig:
    lesson: str | None = None
    jobs: int | None = None  # None: see default_jobs()
    devices: list[str] | None = None  # None: every visible GPU, else mps, else the CPU
    seeds: int = 1  # each submission is graded with seeds 0..seeds-1
    quick: bool = False
    epochs: int | None = None
    regrade: bool = False  # grade again even when the gradebook has this run already
    data_dir: str | None = None
    timeout: float | None = None  # per grading; None: the lesson's


@dataclass
class Entry:
    """One student's submission as found in the folder."""

    student: str
    source: Path  # what the student handed in: their folder's model.py, a .py or a .zip
    file: Path | None  # the model.py to grade (extracted into a scratch folder for a zip)
    problem: str | None = None  # why it cannot be graded; recorded as an error run
    sha256: str | None = None  # of the file to grade, else of what was handed in; None for a folder


def _digest(entry: Entry) -> Entry:
    target = entry.file or entry.source
    if target.is_file():
        try:
            entry.sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
        except OSError as exc:
            entry.file, entry.problem = None, f"{target} cannot be read ({exc.strerror})"
    return entry


@dataclass
class Outcome:
    """How one (submission, seed) of the batch ended."""

    student: str
    seed: int
    source: str
    status: str  # passed | failed | smoke | error | skipped
    device: str | None = None
    params: int | None = None
    best_acc: float | None = None
    duration: float | None = None
    message: str = ""
    run_id: int | None = None


@dataclass
class BatchResult:
    db: Path
    outcomes: list[Outcome] = field(default_factory=list)
    planned: int = 0  # gradings the batch set out to run (skipped ones not counted)
    seconds: float = 0.0
    interrupted: bool = False
    devices: list[str] = field(default_factory=list)
    jobs: int = 1
    identical: list[list[str]] = field(default_factory=list)  # students who handed in byte-identical files

    def counts(self) -> dict[str, int]:
        keys = ("passed", "failed", "smoke", "error", "skipped")
        counts = {k: sum(o.status == k for o in self.outcomes) for k in keys}
        counts["not run"] = self.planned - sum(counts[k] for k in keys if k != "skipped")
        return counts

    def slowest(self, n: int = 3) -> list[Outcome]:
        timed = [o for o in self.outcomes if o.duration is not None and o.status != "skipped"]
        return sorted(timed, key=lambda o: -o.duration)[:n]

    @property
    def gradings_per_minute(self) -> float | None:
        done = sum(o.status != "skipped" for o in self.outcomes)
        return 60.0 * done / self.seconds if done and self.seconds > 0 else None


# ------------------------------------------------------------------------------------------- discovery


def discover(root: Path, scratch: Path) -> list[Entry]:
    """DIR/<student>/model.py, DIR/<student>.py and DIR/<student>.zip, sorted by student."""
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(root).iterdir()):
        if path.name.startswith((".", "_")):  # .git, __MACOSX, __pycache__: never a student
            continue
        if path.is_dir() or path.suffix in (".py", ".zip"):
            found.setdefault(path.stem if path.is_file() else path.name, []).append(path)
    entries: list[Entry] = []
    for i, (student, paths) in enumerate(sorted(found.items())):
        if len(paths) > 1:
            names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
            entries.append(Entry(student, paths[0], None, f"{student} handed in several submissions ({names}); keep one"))
        elif paths[0].is_dir():
            entries.append(_from_folder(student, paths[0]))
        elif paths[0].suffix == ".zip":
            entries.append(_from_zip(student, paths[0], scratch / f"{i:05d}"))
        else:
            entries.append(Entry(student, paths[0], paths[0]))
    return [_digest(e) for e in entries]


def _from_folder(student: str, folder: Path) -> Entry:
    model = folder / MODEL_FILE
    if model.is_file():
        return Entry(student, model, model)
    return Entry(student, folder, None, f"{folder.name}/ has no {MODEL_FILE}")


def _unsafe(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0])


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _from_zip(student: str, archive: Path, scratch: Path) -> Entry:
    """Extract the one model.py of a zip into `scratch`; only that file, to a path chosen here, never the zip's."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and m.filename.endswith(".py")
                       and not m.filename.startswith("__MACOSX/") and not PurePosixPath(m.filename).name.startswith(".")]
            chosen = _choose(members)
            if isinstance(chosen, str):
                return Entry(student, archive, None, f"{archive.name}: {chosen}")
            if _unsafe(chosen.filename) or _is_symlink(chosen):
                return Entry(student, archive, None, f"{archive.name}: refusing unsafe member {chosen.filename!r}")
            if chosen.flag_bits & 0x1:
                return Entry(student, archive, None, f"{archive.name}: {chosen.filename} is encrypted; zip it without a password")
            if chosen.file_size > MAX_MODEL_BYTES:
                return Entry(student, archive, None, f"{archive.name}: {chosen.filename} is {chosen.file_size:,} bytes; "
                             f"a model.py is a few KB")
            with zf.open(chosen) as fh:
                data = fh.read(MAX_MODEL_BYTES + 1)  # the header's size may lie: read no more than the cap
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, NotImplementedError, EOFError) as exc:
        return Entry(student, archive, None, f"{archive.name} cannot be read as a zip ({exc})")
    if len(data) > MAX_MODEL_BYTES:
        return Entry(student, archive, None, f"{archive.name}: {chosen.filename} is larger than {MAX_MODEL_BYTES:,} bytes")
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / MODEL_FILE
    target.write_bytes(data)
    return Entry(student, archive, target)


def _choose(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | str:
    """The model.py nearest the top of the zip, or its only .py file; else why none can be chosen."""
    models = [m for m in members if PurePosixPath(m.filename).name == MODEL_FILE]
    pool = models or (members if len(members) == 1 else [])
    if not pool:
        listed = ", ".join(m.filename for m in members[:5]) or "no .py files"
        return f"no {MODEL_FILE} inside (found: {listed})"
    depth = min(len(PurePosixPath(m.filename).parts) for m in pool)
    top = [m for m in pool if len(PurePosixPath(m.filename).parts) == depth]
    if len(top) > 1:
        return f"several {MODEL_FILE} files at the same depth ({', '.join(m.filename for m in top)}); keep one"
    return top[0]


# ---------------------------------------------------------------------------------------------- devices


def visible_devices() -> list[str]:
    """Every visible GPU (cuda:0, cuda:1 ...), else ["mps"], else ["cpu"]."""
    import torch  # only here: the batch's own process needs torch for nothing else

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]


def default_jobs(devices: list[str]) -> int:
    """2 per GPU: a tiny CNN leaves most of a GPU idle. On CPUs, half the cores but at least 2: each grading
    spends seconds starting processes (torch import, the clean evaluator) on one core, which a second job
    overlaps, and a tiny CNN trains more per core on one thread than on several."""
    gpus = sum(d.startswith("cuda") for d in devices)
    cpus = os.cpu_count() or 1
    return 2 * gpus if gpus else max(min(2, cpus), cpus // 2)


def slots(devices: list[str], jobs: int) -> list[str]:
    """The device of each of the `jobs` slots: round-robin, so the jobs spread evenly over the devices."""
    return [devices[i % len(devices)] for i in range(jobs)]


def cpu_threads(device: str, slot_devices: list[str]) -> int | None:
    """Torch threads for a CPU job: the CPUs shared by the CPU slots, so parallel jobs do not oversubscribe."""
    if device != "cpu":
        return None
    cpu_slots = sum(d == "cpu" for d in slot_devices)
    return max(1, (os.cpu_count() or 1) // cpu_slots)


# ------------------------------------------------------------------------------------------------ batch


def grade_all(root: str | os.PathLike, db: str | os.PathLike, config: BatchConfig,
              on_event: Callable[[dict], None] | None = None) -> BatchResult:
    """Grade every submission under `root` into the gradebook `db`; returns what happened to each."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; pass the folder that holds the students' submissions")
    if config.lesson:
        from grader.course.lesson import get_lesson

        get_lesson(config.lesson)  # an unknown lesson is a usage error before anything runs
    if config.seeds < 1 or (config.jobs is not None and config.jobs < 1):
        raise UsageError("--seeds and --jobs must be at least 1")
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-batch-") as scratch:
        entries = discover(root, Path(scratch))
        if not entries:
            raise UsageError(f"{root} holds no submissions; expected {root}/<student>/model.py, "
                             f"{root}/<student>.py or {root}/<student>.zip")
        result = BatchResult(Path(db), identical=_identical(entries))
        with store.opened(db) as conn:
            todo = _plan(conn, entries, config, result)
            # torch is imported to find the GPUs only when there is something to grade
            devices = config.devices or (visible_devices() if any(not e.problem for e, _ in todo) else ["cpu"])
            jobs = config.jobs or default_jobs(devices)
            result.devices, result.jobs = devices, jobs
            emit({"event": "batch", "total": len(todo), "skipped": len(result.outcomes), "jobs": jobs,
                  "devices": devices, "students": len(entries)})
            for entry, seed in [t for t in todo if t[0].problem]:
                result.outcomes.append(_record_problem(conn, entry, seed, config))
                emit({"event": "done", "outcome": asdict(result.outcomes[-1])})
        graded = [t for t in todo if not t[0].problem]
        result.interrupted = _run(graded, config, Path(db), slots(devices, min(jobs, max(1, len(graded)))),
                                  result, emit)
    result.seconds = time.perf_counter() - started
    result.outcomes.sort(key=lambda o: (o.student, o.seed))  # finishing order is noise; the report reads by name
    return result


def _identical(entries: list[Entry]) -> list[list[str]]:
    by_hash: dict[str, list[str]] = {}
    for e in entries:
        if e.file is not None and e.sha256:
            by_hash.setdefault(e.sha256, []).append(e.student)
    return [names for names in by_hash.values() if len(names) > 1]


def _plan(conn, entries: list[Entry], config: BatchConfig, result: BatchResult) -> list[tuple[Entry, int]]:
    todo = []
    for entry in entries:
        sha = entry.sha256
        for seed in range(config.seeds):
            key = store.RunKey(entry.student, sha or "", config.lesson, seed, config.quick, config.epochs)
            if sha and not config.regrade and store.find_run(conn, key) is not None:
                result.outcomes.append(Outcome(entry.student, seed, str(entry.source), "skipped",
                                               message="already graded (--regrade grades it again)"))
                continue
            result.planned += 1
            todo.append((entry, seed))
    return todo


def _record_problem(conn, entry: Entry, seed: int, config: BatchConfig) -> Outcome:
    run_id = None
    if entry.sha256:  # a folder with no model.py has nothing to hash, so nothing to attach a run to
        run_id = store.record_error(conn, file=entry.source, lesson=config.lesson, seed=seed, message=entry.problem,
                                    kind="submission", student=entry.student, quick=config.quick,
                                    epochs_limit=config.epochs, sha256=entry.sha256)
    return Outcome(entry.student, seed, str(entry.source), "error", message=entry.problem, run_id=run_id)


@dataclass
class _Job:
    """A running job process and what it is grading."""

    proc: subprocess.Popen
    fd: int  # our end of its events pipe
    device: str
    entry: Entry
    seed: int
    stderr: object  # a temp file: the job's own stderr, quoted if it dies without a result
    pending: bytes = b""
    done: bool = False


def _run(todo: list[tuple[Entry, int]], config: BatchConfig, db: Path, slot_devices: list[str],
         result: BatchResult, emit) -> bool:
    """Run the gradings `len(slot_devices)` at a time; True if Ctrl-C stopped the batch."""
    if not todo:
        return False
    pending = deque(todo)
    free = list(slot_devices)
    running: dict[int, _Job] = {}  # fd -> job
    sel = selectors.DefaultSelector()
    stopping = []  # non-empty once Ctrl-C came: a job that ends without a result was stopped, not broken

    def handle(job: _Job, message: dict) -> None:
        if message["event"] == "done":
            job.done = True
            result.outcomes.append(Outcome(**message["outcome"]))
        emit(message)

    def read(job: _Job) -> bool:
        """Take what the job wrote; False once it closed its end (it has exited)."""
        chunk = os.read(job.fd, 65536)
        *lines, job.pending = (job.pending + chunk).split(b"\n")
        for line in lines:
            handle(job, json.loads(line))
        return bool(chunk)

    def finish(job: _Job) -> None:
        sel.unregister(job.fd)
        os.close(job.fd)
        del running[job.fd]
        try:
            code = job.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            job.proc.kill()
            code = job.proc.wait()
        if not job.done and not stopping:
            handle(job, {"event": "done", "outcome": asdict(Outcome(
                job.entry.student, job.seed, str(job.entry.source), "error", job.device,
                message=f"the batch job ended without a result (exit code {code}); not recorded{_tail(job.stderr)}"))})
        job.stderr.close()
        free.append(job.device)

    restore = _sigterm_is_ctrl_c()
    try:
        while pending or running:
            while pending and free:
                entry, seed = pending.popleft()
                device = free.pop(0)
                job = _start(entry, seed, device, cpu_threads(device, slot_devices), config, db)
                running[job.fd] = job
                sel.register(job.fd, selectors.EVENT_READ, job)
                emit({"event": "job", "student": entry.student, "seed": seed, "device": device})
            for key, _ in sel.select(timeout=1.0):
                if not read(key.data):
                    finish(key.data)
        return False
    except KeyboardInterrupt:
        stopping.append(True)
        _stop(list(running.values()), sel, read, finish)
        return True
    finally:
        restore()
        sel.close()


def _start(entry: Entry, seed: int, device: str, threads: int | None, config: BatchConfig, db: Path) -> _Job:
    spec = {"student": entry.student, "file": str(entry.file), "source": str(entry.source), "seed": seed,
            "device": device, "db": str(db), "lesson": config.lesson, "quick": config.quick, "epochs": config.epochs,
            "data_dir": config.data_dir, "timeout": config.timeout}
    env = dict(os.environ)
    # The job must import this very grader, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH")]))
    if threads and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)  # read by torch in the worker the job starts
    read_fd, write_fd = os.pipe()
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.gradebook.batch", "--events-fd", str(write_fd), json.dumps(spec)],
        pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        start_new_session=True,  # the terminal's Ctrl-C is the batch's to handle; it stops jobs with SIGTERM
    )
    os.close(write_fd)
    return _Job(proc, read_fd, device, entry, seed, stderr)


def _tail(stderr, limit: int = 1500) -> str:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    return f"\n{text[-limit:]}" if text else ""


def _stop(jobs: list[_Job], sel, read, finish) -> None:
    """Ctrl-C: SIGTERM every job (it unwinds through the worker's cleanup and records nothing), keep the
    outcomes that were already on their way, kill whatever is still there after the grace period."""
    for job in jobs:
        if job.proc.poll() is None:
            job.proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    try:
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                if not read(key.data):
                    finish(key.data)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        pass
    for job in jobs:
        if job.proc.poll() is None:
            job.proc.kill()
        if job.fd in sel.get_map():
            finish(job)


def _sigterm_is_ctrl_c() -> Callable[[], None]:
    """While jobs run, `kill PID` stops the batch as Ctrl-C does (instead of orphaning the jobs)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------------------- the job process


class _Stopped(BaseException):
    """Raised in a job by SIGTERM: not an Exception, so nothing on the way out mistakes it for a result."""


def _job(spec: dict, emit: Callable[[dict], None]) -> None:
    """One grading: api.grade records the run (or its error) in the gradebook; the outcome goes to the batch."""
    from grader import api

    who = {"student": spec["student"], "seed": spec["seed"]}

    def forward(event: dict) -> None:
        if event["event"] != "check":  # the check report is large and the batch view does not show it
            emit({**event, **who, "event": "job-" + event["event"]})

    outcome = Outcome(spec["student"], spec["seed"], spec["source"], "error", spec["device"])
    clock = time.perf_counter()
    try:
        result = api.grade(spec["file"], spec["lesson"], device=spec["device"], seed=spec["seed"],
                           epochs=spec["epochs"], quick=spec["quick"], data_dir=spec["data_dir"],
                           timeout=spec["timeout"], on_event=forward, plot=False, db=Path(spec["db"]),
                           student=spec["student"], source=spec["source"])
    except CourseError as exc:
        outcome.message, outcome.duration = str(exc), time.perf_counter() - clock
    except Exception as exc:  # a grader bug must not take the batch down; say what it was
        outcome.message = f"grading failed unexpectedly ({type(exc).__name__}: {exc}); not recorded"
    else:
        rec = result.record
        outcome.status, outcome.params, outcome.duration = result.verdict.status, rec.params, rec.duration
        outcome.best_acc, outcome.message = rec.best_acc, result.verdict.message
        outcome.run_id, outcome.device = result.run_id, rec.device or spec["device"]
    emit({"event": "done", "outcome": asdict(outcome)})


def main(argv=None) -> int:
    """`python -m grader.gradebook.batch --events-fd N SPEC`: one job of a batch, started by _start()."""
    parser = argparse.ArgumentParser(prog="python -m grader.gradebook.batch")
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("spec")
    args = parser.parse_args(argv)

    def stop(signum, frame):
        raise _Stopped()

    signal.signal(signal.SIGTERM, stop)
    with os.fdopen(args.events_fd, "w", buffering=1, encoding="utf-8") as channel:
        try:
            _job(json.loads(args.spec), lambda event: channel.write(json.dumps(event, default=str) + "\n"))
        except _Stopped:
            return 143  # stopped by the batch: nothing recorded, nothing reported
    return 0


if __name__ == "__main__":
    sys.exit(main())
