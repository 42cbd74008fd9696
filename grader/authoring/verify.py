"""`course verify`: every stub fails its lesson's static checks, every solution passes them; with training,
every solution reaches its lesson's target on K seeds and the numbers go to solutions/RESULTS.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import paths
from grader.authoring import results, trusted
from grader.course.lesson import MODEL_FILE, Lesson, get_lesson, lesson_ids
from grader.course.options import GradeOptions
from grader.course.verdict import FAILED, PASSED, SMOKE
from grader.digest import code_sha256, file_sha256
from grader.errors import CourseError, SubmissionError, TrainingError
from grader.events import Event, VerifyDone, VerifyRun, VerifyStatic
from grader.gradebook.progress import now

RESULTS_NAME = "RESULTS.md"


@dataclass
class StaticRow:
    """One file's static verdict and whether it is what the course needs (stub: fail, solution: pass)."""

    lesson: str
    kind: str  # "stub", "solution" or "extra" (a hint path or comparison the lesson's text talks about)
    file: Path
    status: str  # the verdict's status, "error" (contract broken) or "missing"
    message: str
    ok: bool
    expect: str = ""  # an extra's: pass (must pass the static checks too), fail or measure (must build)


@dataclass
class SeedRun:
    """One solution trained on one seed."""

    lesson: str
    seed: int
    status: str  # passed | failed | error | smoke
    message: str
    params: int | None = None
    rf: int | None = None
    best: float | None = None
    last: float | None = None
    epochs_to_target: int | None = None
    epochs: int = 0
    device: str | None = None
    seconds: float = 0.0
    ok: bool = False
    file: str = ""  # repo-relative; an extra's runs name their file, a solution's say model.py
    expect: str = "pass"  # what the lesson says of this file: pass, fail, or measure (figures only)
    measured_on: str = "test"  # or "validation" (--validate): best and last are then the held-out images'

    @property
    def outcome(self) -> str:
        """The status as a person reads it: a validation run is measured, not judged (its status says smoke)."""
        return "validation" if self.measured_on != "test" and self.status == SMOKE else self.status


@dataclass
class VerifyReport:
    static: list[StaticRow] = field(default_factory=list)
    runs: list[SeedRun] = field(default_factory=list)
    written: list[results.ResultRow] = field(default_factory=list)  # rows this run put into RESULTS.md
    notes: list[str] = field(default_factory=list)  # what went otherwise than asked, nothing lost (--extend)
    results_path: Path | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.static) and all(r.ok for r in self.runs)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            "ok": self.ok,
            "static": [{**asdict(r), "file": str(r.file)} for r in self.static],
            "runs": [asdict(r) for r in self.runs],
            "results_path": str(self.results_path) if self.results_path else None,
            "notes": self.notes,
        }


ONLY = ("solutions", "extras")


def command_line(lesson: str | None, train: bool, seeds: int, device: str, only: str | None = None,
                 jobs: int = 1, first_seed: int = 0, file: str | None = None, extend: bool = False,
                 validate: bool = False) -> str:
    """The command that reproduces a verify run, as RESULTS.md quotes it (with --jobs, its seconds are shared)."""
    words = ["course", "verify"]
    if train:
        words += ["--train", "--seeds", str(seeds)]
        if first_seed:
            words += ["--first-seed", str(first_seed)]
        if extend:
            words += ["--extend"]
        words += ["--device", device]
        if validate:
            words += ["--validate"]
        if jobs > 1:
            words += ["--jobs", str(jobs)]
    if lesson:
        words += ["--lesson", lesson]
    if only:
        words += ["--only", only]
    if file:
        words += ["--file", file]
    return " ".join(words)


def expected(status: str, expect: str, quick: bool = False, validate: bool = False) -> bool:
    """Whether a graded run went the way the lesson says: pass, fail, or (measure) graded at all. A --quick or
    --validate run is never judged on accuracy: it went well if it trained, and, for a file that must pass, failed
    no rule (a comparison that breaks a rule on purpose, like lesson 4's model without dropout, still fails it)."""
    if quick or validate:
        return status == SMOKE if expect == "pass" else status in (SMOKE, FAILED)
    if expect == "fail":
        return status == FAILED
    if expect == "measure":
        return status in ("passed", "failed")
    return status == PASSED


def static_check(path: Path, lesson: Lesson, data_dir=None) -> tuple[str, str]:
    """(status, message) of `course check` on a course file, in this process: the course's own files are trusted."""
    from grader.course.verdict import judge

    if not path.is_file():
        return "missing", f"{path} does not exist"
    try:
        report = trusted.report_course_file(path, data_dir)
    except SubmissionError as exc:
        return "error", str(exc)
    verdict = judge(lesson.criteria, report)
    return verdict.status, verdict.message


def verify(
    lesson: str | None = None,
    train: bool = False,
    seeds: int = 3,
    options: GradeOptions = GradeOptions(),
    on_event: Callable[[Event], None] | None = None,
    lessons_root: Path | None = None,
    solutions_root: Path | None = None,
    results_path: Path | None = None,
    only: str | None = None,
    jobs: int = 1,
    first_seed: int = 0,
    file: str | None = None,
    extend: bool = False,
) -> VerifyReport:
    """Verify every lesson (or one); with train, grade each solution and each extra file its lesson.toml lists
    (`[verify] extra`) on seeds first_seed..first_seed+seeds-1 and update RESULTS.md, one row per file, device and
    kind of seeds (from 0, or fresh: a first_seed above 0 confirms a design on seeds it was not chosen on).
    extend adds seeds first_seed.. to each file's row of seeds 0..first_seed-1 instead (a comparison gains seeds
    without its old ones trained again); such a row must exist and still describe the file, checked before training.

    `options` grade every file (its seed aside) and judge the static checks (data_dir). only="solutions" or
    "extras" trains just those, and file (repo-relative) just that one (the static checks always cover
    everything); options.quick trains --quick smoke
    runs (for tests), written only to an explicit results_path. jobs > 1 runs that many trainings
    at a time, their workers forked warm by one zygote (a GPU runs many tiny trainings side by side).
    """
    if only not in (None, *ONLY):
        raise CourseError(f"only must be one of {list(ONLY)}, got {only!r}")
    lessons_root = Path(lessons_root) if lessons_root else paths.lessons_dir()
    solutions_root = Path(solutions_root) if solutions_root else paths.solutions_dir()
    ids = [get_lesson(lesson, lessons_root).id] if lesson else lesson_ids(lessons_root)
    emit = on_event or (lambda event: None)
    data_dir, quick = options.data_dir, options.quick
    report = VerifyReport()
    lessons = [get_lesson(i, lessons_root) for i in ids]
    for les in lessons:
        emit(VerifyStatic(les.id))
        status, message = static_check(les.stub, les, data_dir)
        ok = status not in ("passed", "missing")  # a stub must exist, and must not already pass
        report.static.append(StaticRow(les.id, "stub", les.stub, status, message, ok))
        solution = solutions_root / les.id / MODEL_FILE
        status, message = static_check(solution, les, data_dir)
        report.static.append(StaticRow(les.id, "solution", solution, status, message, ok=status == PASSED))
        for extra in les.verify_extras:
            path = lessons_root.parent / extra.file
            status, message = static_check(path, les, data_dir)
            # a hint path must pass the checks; a file the text says fails, or that is only measured, must build
            ok = status == PASSED if extra.expect == "pass" else status in ("passed", "failed")
            report.static.append(StaticRow(les.id, "extra", path, status, message, ok, extra.expect))
    if not train:
        return report
    if results_path is None and not quick:
        results_path = solutions_root / RESULTS_NAME
    report.results_path = results_path
    root = lessons_root.parent  # the repository: RESULTS.md names files as lesson markers do
    if first_seed < 0:
        raise CourseError(f"first_seed must be 0 or more, got {first_seed}")
    if extend and not first_seed:
        raise CourseError("--extend adds seeds after a row's seeds 0..N-1: say where with --first-seed N")
    command = command_line(lesson, train, seeds, options.device, only, jobs, first_seed, file, extend,
                           options.validate)
    seed_list = list(range(first_seed, first_seed + seeds))
    ok_static = {(r.lesson, r.file) for r in report.static if r.ok}
    todo: list[tuple[Lesson, Path, str]] = []  # (lesson, file, expect) in the order they train
    for les in lessons:
        files = []
        if only != "extras":
            files.append((solutions_root / les.id / MODEL_FILE, "pass"))
        if only != "solutions":
            files += [(root / e.file, e.expect) for e in les.verify_extras]
        for path, expect in files:
            if file is not None and _rel(path, root) != file:
                continue
            if (les.id, path) in ok_static:
                todo.append((les, path, expect))
            else:  # a file that fails its static checks cannot be calibrated
                report.runs.append(SeedRun(les.id, -1, "error",
                                           f"{_rel(path, root)} fails its static checks; not trained",
                                           file=_rel(path, root), expect=expect))
    if file is not None and not todo and not report.runs:
        listed = [_rel(r.file, root) for r in report.static if r.kind != "stub"]
        raise CourseError(f"{file} is not a solution or [verify] extra of {lesson or 'any lesson'} "
                          f"(these are: {', '.join(listed)})")
    split = "validation" if options.validate else "test"
    bases = _extendable(todo, first_seed, results_path, root, split) if extend else {}
    outcomes = _train_all(todo, seed_list, options, emit, jobs, root)
    for les, path, expect in todo:
        rel = _rel(path, root)
        runs = [outcomes[(rel, seed)][0] for seed in seed_list]
        records = [outcomes[(rel, seed)][1] for seed in seed_list if outcomes[(rel, seed)][1] is not None]
        report.runs.extend(runs)
        if records and results_path is not None and len(records) == len(runs):
            row = _result_row(les, path, rel, records, runs, command, quick, expect)
            base = next((b for b in bases.get(rel, []) if b.device == row.device), None)
            if extend and base is None:  # kept as a row of its own: nothing trained is lost
                report.notes.append(f"{rel}: no row of seeds 0..{first_seed - 1} on {row.device}; seeds "
                                    f"{', '.join(map(str, seed_list))} were written as a row of their own")
            row = results.extend(base, row) if base is not None else row
            merged = results.merge(results.read(results_path), [row])
            results.write(results_path, merged, command, now())
            report.written.append(row)
    return report


def _extendable(todo, first_seed: int, results_path: Path | None, root: Path, split: str) -> dict[str, list]:
    """Per file to train, its rows of seeds 0..first_seed-1 (on `split`) that still describe it; a clear error if
    one has none."""
    rows = results.read(results_path) if results_path is not None else []
    bases = {}
    for _les, path, _expect in todo:
        rel = _rel(path, root)
        bases[rel] = [r for r in rows if r.file == rel and not r.quick and r.split == split
                      and r.seeds == list(range(first_seed)) and r.describes(path)]
        if not bases[rel]:
            raise CourseError(f"--extend: {rel} has no {'validation ' if split != 'test' else ''}row of seeds "
                              f"0..{first_seed - 1} in RESULTS.md that describes the file as it is now; train it "
                              "from seed 0 instead (without --extend)")
    return bases


def _train_all(todo, seeds: list[int], options: GradeOptions, emit, jobs: int, root: Path) -> dict:
    """Every (file, seed) trained: one at a time with live progress, or `jobs` at a time with warm workers."""
    plan = [(les, path, expect, seed) for les, path, expect in todo for seed in seeds]
    outcomes = {}

    def announce(n, les, rel, seed):
        emit(VerifyRun(les.id, rel, seed, n, len(plan)))

    if jobs <= 1:
        for n, (les, path, expect, seed) in enumerate(plan, start=1):
            rel = _rel(path, root)
            announce(n, les, rel, seed)
            run, record = _train_one(path, les, seed, options, emit, expect)
            run.file = rel
            outcomes[(rel, seed)] = (run, record)
            emit(VerifyDone(run))
        return outcomes
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from grader.batch.local_pool import Launches, cpu_threads
    from grader.channel import cold_start
    from grader.device import visible_devices
    from grader.host.zygote import warm_launcher

    zygote = warm_launcher()
    # each training gets its share of the cores, as grade-all's do: K trainings that each take every core spin in
    # each other's OpenMP barriers and run several times slower than one at a time
    on_cpu = options.device == "cpu" or (options.device == "auto" and visible_devices() == ["cpu"])
    threads = cpu_threads("cpu", ["cpu"] * jobs) if on_cpu else None
    launch = Launches(zygote.launch if zygote is not None else cold_start, threads, set(), threading.Lock())
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_train_one, path, les, seed, options, None, expect, launch):
                       (n, les, _rel(path, root), seed) for n, (les, path, expect, seed) in enumerate(plan, start=1)}
            for future in as_completed(futures):
                n, les, rel, seed = futures[future]
                run, record = future.result()
                run.file = rel
                outcomes[(rel, seed)] = (run, record)
                announce(n, les, rel, seed)
                emit(VerifyDone(run))
    finally:
        if zygote is not None:
            zygote.close()
    return outcomes


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return os.fspath(path)


def _train_one(solution: Path, lesson: Lesson, seed: int, options: GradeOptions, emit, expect: str = "pass",
               launch=None):
    from grader import api
    from grader.record import GradeRequest

    started = time.perf_counter()
    # train_anyway: a model the lesson expects to fail a static rule is still measured (its row quotes accuracy);
    # own_recipe: a file the lesson compares with its solution is trained with the recipe it sets, the lesson's
    # fixed names aside (the solution itself is held to them, as a student is)
    is_solution = solution.name == MODEL_FILE and solution.parent.name == lesson.id
    request = GradeRequest(solution, lesson.id, replace(options, seed=seed, train_anyway=True),
                           own_recipe=not is_solution)
    try:
        result = api.grade(request, emit, launch)
    except (SubmissionError, TrainingError) as exc:
        return SeedRun(lesson.id, seed, "error", str(exc), seconds=time.perf_counter() - started, expect=expect), None
    except CourseError as exc:
        if exc.kind != "worker":  # data, usage, device: nothing to learn from the other seeds either
            raise
        return SeedRun(lesson.id, seed, "error", str(exc), seconds=time.perf_counter() - started, expect=expect), None
    rec, verdict = result.record, result.verdict
    run = SeedRun(
        lesson.id, seed, verdict.status, verdict.message, rec.params, rec.rf, rec.best_acc, rec.last_acc,
        verdict.epochs_to_target, len(rec.epochs), rec.device_name, rec.duration,
        expected(verdict.status, expect, options.quick, options.validate), expect=expect,
        measured_on=rec.measured_on,
    )
    return run, rec


def _result_row(lesson: Lesson, path: Path, rel: str, records: list, runs: list[SeedRun], command: str,
                quick: bool, expect: str = "pass") -> results.ResultRow:
    first = records[0]
    # the code's digest only if the file is still what was trained (an edit during the training would lie)
    code = code_sha256(path.read_text(encoding="utf-8")) if file_sha256(path) == first.sha256 else None
    train_last = [rec.epochs[-1].train_acc if rec.epochs else None for rec in records]
    return results.ResultRow(
        lesson=lesson.id, file=rel, sha256=first.sha256, device=first.device_name, params=first.params,
        rf=first.rf, seeds=[r.seed for r in runs], best=[r.best for r in runs], last=[r.last for r in runs],
        epochs_to_target=[r.epochs_to_target for r in runs], epochs=[r.epochs for r in runs],
        passed=[r.status == PASSED for r in runs], seconds=[round(r.seconds, 1) for r in runs], when=now(),
        command=command, torch=first.versions.get("torch"), quick=quick, expect=expect,
        train_last=None if None in train_last else [round(a, 2) for a in train_last], code_sha256=code,
        split=first.measured_on,
    )
