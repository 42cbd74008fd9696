"""Grade a folder of submissions: find them, skip what is already graded, run the rest on a pool, record each.

The pool runs every grading as a job of its own (grader.batch.job) so one bad submission cannot stop the batch:
on this machine (grader.batch.local_pool) or on a Ray cluster (grader.batch.ray_pool). Either way this
process, the batch's head, is the gradebook's only writer: it records each result as it arrives, so an
interrupted batch keeps what finished and the same command resumes it.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from grader.batch.job import JobSpec
from grader.batch.pool import Pool, PoolSource
from grader.course.lesson import MODEL_FILE
from grader.course.options import GradeOptions
from grader.course.verdict import ERROR
from grader.digest import file_sha256
from grader.errors import UsageError
from grader.events import BatchDone, BatchEvent, BatchStart, Outcome
from grader.gradebook import store
from grader.record import RunRecord

MAX_MODEL_BYTES = 1_000_000  # a model.py is a few KB; this refuses zip bombs without refusing any real file
SKIPPED = "skipped"  # an outcome, not a verdict: the gradebook had this run already


@dataclass
class BatchConfig:
    lesson: str | None = None
    # every grading's options, but for the seed (seeds 0..seeds-1) and the device (a pool slot's); a batch grades
    # as `course grade` does unless the instructor says otherwise
    options: GradeOptions = GradeOptions()
    jobs: int | None = None  # None: see default_jobs()
    devices: list[str] | None = None  # None: every visible GPU, else mps, else the CPU
    seeds: int = 1  # each submission is graded with seeds 0..seeds-1
    regrade: bool = False  # grade again even when the gradebook has this run already
    pool: PoolSource | None = None  # None: a LocalPool over `devices`


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
            entry.sha256 = file_sha256(target)
        except OSError as exc:
            entry.file, entry.problem = None, f"{target} cannot be read ({exc.strerror})"
    return entry


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
        keys = ("passed", "failed", "smoke", "error", SKIPPED)
        counts = {k: sum(o.status == k for o in self.outcomes) for k in keys}
        counts["not run"] = self.planned - sum(counts[k] for k in keys if k != "skipped")
        return counts

    def slowest(self, n: int = 3) -> list[Outcome]:
        timed = [o for o in self.outcomes if o.duration is not None and o.status != "skipped"]
        return sorted(timed, key=lambda o: -(o.duration or 0.0))[:n]

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
            entries.append(Entry(student, paths[0], None,
                                 f"{student} handed in several submissions ({names}); keep one"))
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
    return name.startswith(("/", "\\")) or ".." in parts or bool(parts and ":" in parts[0])


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _from_zip(student: str, archive: Path, scratch: Path) -> Entry:
    """Extract the one model.py of a zip into `scratch`; only that file, to a path chosen here, never the zip's."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and m.filename.endswith(".py")
                       and not m.filename.startswith("__MACOSX/")
                       and not PurePosixPath(m.filename).name.startswith(".")]
            chosen = _choose(members)
            if isinstance(chosen, str):
                return Entry(student, archive, None, f"{archive.name}: {chosen}")
            if _unsafe(chosen.filename) or _is_symlink(chosen):
                return Entry(student, archive, None, f"{archive.name}: refusing unsafe member {chosen.filename!r}")
            if chosen.flag_bits & 0x1:
                return Entry(student, archive, None,
                             f"{archive.name}: {chosen.filename} is encrypted; zip it without a password")
            if chosen.file_size > MAX_MODEL_BYTES:
                return Entry(student, archive, None,
                             f"{archive.name}: {chosen.filename} is {chosen.file_size:,} bytes; a model.py is a few KB")
            with zf.open(chosen) as fh:
                data = fh.read(MAX_MODEL_BYTES + 1)  # the header's size may lie: read no more than the cap
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, NotImplementedError, EOFError) as exc:
        return Entry(student, archive, None, f"{archive.name} cannot be read as a zip ({exc})")
    if len(data) > MAX_MODEL_BYTES:
        return Entry(student, archive, None,
                     f"{archive.name}: {chosen.filename} is larger than {MAX_MODEL_BYTES:,} bytes")
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


# ------------------------------------------------------------------------------------------------ batch


def grade_all(root: str | os.PathLike, db: str | os.PathLike, config: BatchConfig,
              on_event: Callable[[BatchEvent], None] | None = None) -> BatchResult:
    """Grade every submission under `root` into the gradebook `db`; returns what happened to each."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; pass the folder that holds the students' submissions")
    if config.lesson:
        from grader.course.lesson import get_lesson

        get_lesson(config.lesson)  # an unknown lesson is a usage error before anything runs
    if config.seeds < 1 or (config.jobs is not None and config.jobs < 1):
        raise UsageError("--seeds and --jobs must be at least 1")
    emit: Callable[[BatchEvent], None] = on_event or (lambda event: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-batch-") as scratch:
        entries = discover(root, Path(scratch))
        if not entries:
            raise UsageError(f"{root} holds no submissions; expected {root}/<student>/model.py, "
                             f"{root}/<student>.py or {root}/<student>.zip")
        result = BatchResult(Path(db), identical=_identical(entries))
        with store.opened(db) as conn:
            todo = _plan(conn, entries, config, result)
            for entry, seed in [t for t in todo if t[0].problem]:
                result.outcomes.append(_record_problem(conn, entry, seed, config))
            graded = [t for t in todo if not t[0].problem]
            pool = _pool(config, len(graded))
            result.devices, result.jobs = pool.describe()
            emit(BatchStart(len(todo), sum(o.status == SKIPPED for o in result.outcomes), result.jobs,
                            result.devices, len(entries)))
            for outcome in result.outcomes:
                if outcome.status == ERROR:
                    emit(BatchDone(outcome))
            sources = {(e.student, seed): e for e, seed in graded}

            def on_result(spec: JobSpec, job_result: dict[str, Any]) -> None:
                outcome = _record_result(conn, sources[(spec.student, spec.seed)], spec, job_result, config)
                result.outcomes.append(outcome)
                emit(BatchDone(outcome))

            result.interrupted = pool.run([_spec(e, seed, config) for e, seed in graded], emit, on_result)
    result.seconds = time.perf_counter() - started
    result.outcomes.sort(key=lambda o: (o.student, o.seed))  # finishing order is noise; the report reads by name
    return result


def _pool(config: BatchConfig, graded: int) -> Pool:
    """The batch's pool: the config's (made now, when it is a factory), else one on this machine."""
    if config.pool is None:
        return _local_pool(config, graded)
    return config.pool if isinstance(config.pool, Pool) else config.pool(graded)


def _local_pool(config: BatchConfig, graded: int) -> Pool:
    from grader.batch.local_pool import LocalPool
    from grader.device import visible_devices

    # torch is imported to find the GPUs only when there is something to grade
    devices = config.devices or (visible_devices() if graded else ["cpu"])
    jobs = config.jobs or default_jobs(devices)
    return LocalPool(slots(devices, min(jobs, max(1, graded))), devices)


def _spec(entry: Entry, seed: int, config: BatchConfig) -> JobSpec:
    return JobSpec(entry.student, str(entry.file), str(entry.source), config.lesson, replace(config.options, seed=seed))


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
            key = store.RunKey(entry.student, sha or "", config.lesson, seed, config.options.quick,
                               config.options.epochs)
            if sha and not config.regrade and store.find_run(conn, key) is not None:
                result.outcomes.append(Outcome(entry.student, seed, str(entry.source), SKIPPED,
                                               message="already graded (--regrade grades it again)"))
                continue
            result.planned += 1
            todo.append((entry, seed))
    return todo


def _record_problem(conn, entry: Entry, seed: int, config: BatchConfig) -> Outcome:
    problem = entry.problem or ""  # the caller passes only entries with a problem
    run_id = None
    if entry.sha256:  # a folder with no model.py has nothing to hash, so nothing to attach a run to
        run_id = store.record_error(conn, file=entry.source, lesson=config.lesson, seed=seed, message=problem,
                                    kind="submission", student=entry.student, quick=config.options.quick,
                                    epochs_limit=config.options.epochs, sha256=entry.sha256)
    return Outcome(entry.student, seed, str(entry.source), ERROR, message=problem, run_id=run_id)


def _record_result(conn, entry: Entry, spec: JobSpec, job: dict[str, Any], config: BatchConfig) -> Outcome:
    """Record what one job ended with (the head is the gradebook's only writer) and say how it went."""
    outcome = Outcome(spec.student, spec.seed, str(entry.source), ERROR, spec.device, duration=job.get("seconds"))
    if "record" in job:
        record = RunRecord.from_dict(job["record"])
        recorded = store.record_run(conn, record, student=spec.student, source=str(entry.source),
                                    epochs_limit=config.options.epochs)
        verdict = record.verdict
        if verdict is None:  # a grading always judges its record; one without a verdict is a grader bug
            return replace(outcome, message="the job's record has no verdict", run_id=recorded)
        return replace(outcome, status=verdict.status, params=record.params, best_acc=record.best_acc,
                       message=verdict.message, device=record.device, duration=record.duration, run_id=recorded)
    if "error" in job:
        error = job["error"]
        if not error.get("record"):
            return replace(outcome, message=error["message"] + "; not recorded")
        run_id = store.record_error(
            conn, file=entry.file or entry.source, lesson=config.lesson, seed=spec.seed, message=error["message"],
            kind=error["kind"], student=spec.student, source=str(entry.source), quick=config.options.quick,
            epochs_limit=config.options.epochs, device=spec.device, duration=job.get("seconds"), sha256=entry.sha256)
        return replace(outcome, message=error["message"], run_id=run_id)
    return replace(outcome, message=job.get("died", "the job ended without a result; not recorded"))
