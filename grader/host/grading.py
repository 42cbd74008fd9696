"""One check or grading from the parent's side (the CLI's process, no torch): the only place a verdict is decided.

A grading runs three children (grader.channel):
- the worker (grader.worker) imports the submission, builds it, exports its training program with the state it
  built and describes its recipe as data, then exits: the only time the submission's code runs;
- the trainer (grader.trainer) never imports the submission: it draws the initial state, trains the program with
  the grader's loop on the training split it was handed, and writes the state after every epoch;
- the evaluator (grader.evaluator) holds the test split it was handed and measures, with each state, the program
  the parent derived from the training one (grader.program.derive_eval).
The parent checks and counts the exported program, copies every file out of a child's directory as it is
announced, and builds the run record from trusted figures only: the trainer's own numbers are progress display.
One budget (`timeout`) covers all three children.
"""

from __future__ import annotations

import queue
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import mnist, program, program_analysis
from grader.channel import CLOSED, ChildProcess, Garbage, cold_start, exit_reason
from grader.course.lesson import DEFAULT_CRITERIA, MODEL_FILE, Lesson
from grader.course.options import check_timeout, epoch_budget, for_children, grading_timeout
from grader.course.verdict import judge, judge_static
from grader.device import check_requested
from grader.digest import file_sha256
from grader.errors import (
    CourseError,
    DataError,
    IntegrityError,
    ManifestError,
    PolicyError,
    SubmissionError,
    TrainingError,
    UsageError,
)
from grader.events import (
    CheckReport,
    Described,
    EpochDone,
    EpochTrained,
    EvaluatorReady,
    Event,
    Failed,
    Loaded,
    Measured,
    Progress,
    Shown,
    StateSaved,
    TrainResult,
    TrainStart,
)
from grader.host import rules
from grader.host.phases import GRADING_SCALE, Phases
from grader.host.rooms import Rooms
from grader.record import EpochRecord, GradeRequest, RunRecord, TrainTask, WorkerTask
from grader.walls.policy import Screened, screen_file
from grader.walls.sandbox import worker_env

QUICK_TRAIN = 5_000  # images for a --quick smoke run: about a tenth of an epoch, seconds on a CPU
QUICK_TEST = 2_000
CHECK_TRAIN = 64  # the worker needs two digits for the contract and a few to export with, never the split
# The evaluator holds the test split (31 MB) and one batch, which its work bound keeps under 1 GiB on a CPU.
EVALUATOR_LIMITS = {"memory_gib": 4.0}
_STATE_NAME = re.compile(r"state-\d{3}\.bin")
_ERRORS: dict[str, type[CourseError]] = {
    e.kind: e for e in (UsageError, DataError, SubmissionError, ManifestError, TrainingError, PolicyError,
                        IntegrityError)}


class WorkerError(CourseError):
    """A child ended without a result: crash, kill, timeout, a garbled channel, or a grader bug."""

    kind = "worker"


@dataclass
class Checked:
    report: dict[str, Any]  # what `course check` shows, with the parameter count of the exported program
    log: str = ""  # what the submission printed, up to grader.channel.LOG_LIMIT bytes
    log_dropped: int = 0  # bytes past the limit
    warnings: list[str] = field(default_factory=list)  # the static policy's: code it skipped instead of refusing


@dataclass
class Graded:
    record: RunRecord
    log: str = ""
    log_dropped: int = 0


def _file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist; pass the path of a model.py")
    return path.resolve()


def _screen(file: Path, lesson: Lesson | None, screen: bool = True) -> Screened:
    """The static policy, in this process, before any child starts: a refused file never runs. Its sha256 and
    warnings; `screen=False` (tests only) reads the sha256 alone."""
    if not screen:
        return Screened(file_sha256(file), [])
    return screen_file(file, lesson.allowed_imports if lesson else ())


def _place_submission(file: Path, sha256: str, directory: Path) -> Path:
    """Copy the checked bytes into the worker's directory: the worker imports that copy, never the student's path."""
    target = directory / MODEL_FILE
    shutil.copyfile(file, target)
    if file_sha256(target) != sha256:
        raise SubmissionError(f"{file.name} changed while it was being checked; grade it again")
    return target


_WHO = {"evaluator": "the clean evaluator", "trainer": "the trainer", "worker": "the grading process"}


def _error_from(child: ChildProcess, event: Failed) -> CourseError:
    if event.kind == "internal":
        who = "grading" if child.name == "worker" else _WHO.get(child.name, child.name)
        return WorkerError(f"{who} failed unexpectedly: {event.message}\n{event.traceback}" + child.tail())
    return _ERRORS.get(event.kind, WorkerError)(event.message + child.tail())


def _closed(child: ChildProcess) -> WorkerError:
    code = child.wait(10)
    return WorkerError(f"{_WHO.get(child.name, child.name)} {exit_reason(code)}{child.tail()}")


def _garbage(child: ChildProcess, item: Garbage) -> WorkerError:
    return WorkerError(
        f"the {child.name}'s event channel carried something that is not a grader event ({item.reason}: "
        f"{item.line[:60]!r}); the submission wrote to the grader's channel, so this run cannot be trusted"
        + child.tail())


# --------------------------------------------------------------------------------------------------- check


def check(request: GradeRequest, lesson: Lesson | None, *, screen: bool = True, limits: dict[str, Any] | None = None,
          launch: Callable[..., ChildProcess] = cold_start) -> Checked:
    """Contract (checked in the worker), and structure, receptive field and parameter count (read off the program here).

    `screen=False` skips the static policy: only tests do that, to prove the walls behind it hold on their own.
    `launch` starts the children: a fresh interpreter each (the default) or a fork of a warm zygote.
    """
    file = _file(request.file)
    screened = _screen(file, lesson, screen)
    sha = screened.sha256
    options = request.options
    timeout = check_timeout(options)
    rooms = Rooms()
    events: queue.Queue = queue.Queue()
    try:
        images, labels = mnist.write_split(rooms.worker, train=True, data_dir=options.data_dir, limit=CHECK_TRAIN)
        task = WorkerTask("check", str(_place_submission(file, sha, rooms.worker)), sha, str(images), str(labels),
                          options=for_children(options, timeout), limits=limits or {})
        with launch("grader.worker", name="worker", cwd=rooms.worker, env=worker_env(rooms.worker),
                    events=events) as worker:
            worker.send(task.to_dict())
            # Each call into the submission's code has a budget of its own: a forward that never returns ends the
            # check within seconds, naming the call (grader.host.phases).
            for child, event in Phases(time.monotonic() + timeout).watch(events, worker):
                if isinstance(event, Garbage):
                    raise _garbage(child, event)
                if event is CLOSED:
                    raise _closed(child)
                if isinstance(event, Failed):
                    raise _error_from(child, event)
                if isinstance(event, Described):
                    report = {**event.report, "file": str(file)}
                    _take(rooms.worker, rooms.handed, program_file(event, "graph"))
                    _take(rooms.worker, rooms.handed, program_file(event, "constants"))
                    graph = program.read_graph(rooms.handed / "graph.json")
                    constants, _ = program.read_tensors(rooms.handed / "constants.bin")
                    report = program_analysis.with_analysis(report, graph)
                    return Checked(program.with_count(report, program.count_parameters(graph, constants)),
                                   worker.log, worker.log_dropped, screened.warnings)
            raise WorkerError(f"timed out after {timeout:g} s; the check was stopped{worker.tail()}")
    finally:
        rooms.close()


PROGRAM_FILES = {"graph": "graph.json", "constants": "constants.bin", "initial": "initial.bin"}
EVAL_GRAPH = "eval-graph.json"  # the program the evaluator measures, derived by the parent


def program_file(event: Described, key: str) -> str:
    name = str(getattr(event, key))
    if name != PROGRAM_FILES.get(key):
        raise IntegrityError(f"the worker named an unexpected program file {name[:40]!r}")
    return name


# --------------------------------------------------------------------------------------------------- grade


@dataclass
class _Run:
    """What the parent has learned so far about one grading."""

    request: GradeRequest
    lesson: Lesson | None
    sha256: str
    file: Path
    on_event: Callable[[Shown], None] | None
    policy_warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    report: dict[str, Any] | None = None
    count: program.ParamCount | None = None
    export: dict[str, Any] = field(default_factory=dict)
    worker_sandbox: dict[str, Any] = field(default_factory=dict)  # the worker's walls, as it described them
    result: TrainResult | None = None
    trained: dict[int, EpochTrained] = field(default_factory=dict)  # epoch -> the trainer's figures
    measured: dict[int, Measured] = field(default_factory=dict)  # epoch -> the evaluator's figures
    sent: set[int] = field(default_factory=set)  # epochs handed to the evaluator
    steps: list[list[float]] = field(default_factory=list)
    evaluator: dict[str, Any] = field(default_factory=dict)  # the record's `evaluator`: device, seconds, walls
    test_images: int = 0
    stopped: bool = False  # a static criterion failed: judged without training (GradeOptions.train_anyway)

    @property
    def criteria(self):
        return self.lesson.criteria if self.lesson else DEFAULT_CRITERIA

    def emit(self, event: Shown) -> None:
        if self.on_event is not None:
            self.on_event(event)

    @property
    def done(self) -> bool:
        return self.stopped or (self.result is not None and self.sent == set(self.measured))


@dataclass
class _Children:
    """The three children of one grading and the directories they work in."""

    worker: ChildProcess
    trainer: ChildProcess
    evaluator: ChildProcess
    rooms: Rooms
    task: dict[str, Any]  # the TrainTask's fields known before the worker has described the submission


def grade(request: GradeRequest, lesson: Lesson | None, on_event: Callable[[Shown], None] | None = None, *,
          screen: bool = True, limits: dict[str, float] | None = None,
          launch: Callable[..., ChildProcess] = cold_start) -> Graded:
    """Describe the submission in the worker, train its program in the trainer, measure every epoch in the
    evaluator, and judge it.

    `screen=False` skips the static policy: only tests do that, to prove the walls behind it hold on their own.
    `launch` starts the children: a fresh interpreter each (the default) or a fork of a warm zygote.
    """
    options = request.options
    check_requested(options.device)  # a GPU this machine lacks: one line, before any child starts
    file = _file(request.file)
    screened = _screen(file, lesson, screen)
    run = _Run(request, lesson, screened.sha256, file, on_event, screened.warnings)
    timeout = grading_timeout(options, lesson)
    told = for_children(options, timeout)
    deadline = time.monotonic() + timeout
    rooms = Rooms()
    events: queue.Queue = queue.Queue()
    children: list[ChildProcess] = []

    def start(module: str, name: str, room: Path) -> ChildProcess:
        child = launch(module, name=name, cwd=room, env=worker_env(room), events=events)
        children.append(child)
        return child

    try:
        quick = options.quick
        # --validate: the trainer gets the training split less its last 5,000 images, and the evaluator those
        # 5,000 in place of the test set; the evaluator measures whatever it is handed, the same way.
        fit = "fit" if options.validate else "all"
        sample = mnist.write_split(rooms.worker, True, options.data_dir, CHECK_TRAIN, part=fit)
        train = mnist.write_split(rooms.trainer, True, options.data_dir, QUICK_TRAIN if quick else None, part=fit)
        test = (mnist.write_split(rooms.evaluator, True, options.data_dir, QUICK_TEST if quick else None,
                                  part="validation") if options.validate
                else mnist.write_split(rooms.evaluator, False, options.data_dir, QUICK_TEST if quick else None))
        run.test_images = _count_items(test[1])
        criteria = run.criteria
        task = WorkerTask(
            "grade", str(_place_submission(file, run.sha256, rooms.worker)), run.sha256, str(sample[0]),
            str(sample[1]), train_size=_count_items(train[1]), options=told, max_epochs=criteria.max_epochs,
            max_params=criteria.max_params, lesson_recipe=lesson.recipe if lesson else None,
            fixed_recipe=lesson.fixed_recipe if lesson and not request.own_recipe else (), limits=limits or {})
        worker = start("grader.worker", "worker", rooms.worker)
        worker.send(task.to_dict())
        # Started now, so that their interpreters come up while the worker exports; each waits for its request.
        trainer = start("grader.trainer", "trainer", rooms.trainer)
        evaluator = start("grader.evaluator", "evaluator", rooms.evaluator)
        # The test order is drawn here and told only to the evaluator: no model can key on an image's position.
        # The seed goes into the record too: once the run is over it tells nothing about the next grading's order
        # (each draws its own), and it lets anyone replay the measurement.
        run.evaluator["order_seed"] = secrets.randbits(63)
        evaluator.send({"op": "setup", "test_images": str(test[0]), "test_labels": str(test[1]),
                        "device": options.device, "workdir": str(rooms.evaluator), "timeout": timeout,
                        "readable": [str(rooms.handed)], "order_seed": run.evaluator["order_seed"],
                        "limits": {**EVALUATOR_LIMITS, **(limits or {})}})
        kids = _Children(worker, trainer, evaluator, rooms, {
            "train_images": str(train[0]), "train_labels": str(train[1]), "options": told, "limits": limits or {}})
        _pump(run, events, kids, deadline, timeout)
        evaluator.close_input()
        record = _untrained_record(run) if run.stopped else _record(run)
        return Graded(record, worker.log + trainer.log, worker.log_dropped + trainer.log_dropped)
    finally:
        for child in children:
            child.kill()
        rooms.close()


def _count_items(labels: Path) -> int:
    with open(labels, "rb") as fh:
        return mnist.idx_shape(fh.read(8))[0]


def _pump(run: _Run, events: queue.Queue, kids: _Children, deadline: float, timeout: float) -> None:
    for child, event in Phases(deadline, GRADING_SCALE).watch(events, kids.worker):
        if isinstance(event, Garbage):
            raise _garbage(child, event)
        if event is CLOSED:
            if child is kids.worker and run.report is not None:
                continue  # it described the submission and left, as it should
            if child is kids.trainer and run.result is not None:
                if run.done:
                    return
                continue
            raise _closed(child)
        if isinstance(event, Failed):
            raise _error_from(child, event)
        if child is kids.worker:
            _from_worker(run, event, kids)
        elif child is kids.trainer:
            _from_trainer(run, event, kids)
        else:
            _from_evaluator(run, event)
        if run.done:
            return
    raise WorkerError(f"timed out after {timeout:g} s; the grading (training and evaluation) was stopped"
                      f"{kids.trainer.tail() or kids.worker.tail()}")


def _from_worker(run: _Run, event: Event, kids: _Children) -> None:
    """The worker's one message: the program, its initial state and the recipe. From here the grader owns them."""
    if not isinstance(event, Described) or run.report is not None:
        raise IntegrityError("the worker sent more than its description; this run cannot be trusted")
    rooms = kids.rooms
    for key in PROGRAM_FILES:
        _take(rooms.worker, rooms.handed, program_file(event, key))
    graph = program.read_graph(rooms.handed / "graph.json")  # checked: ops, mutations, shapes
    run.count = program.count_parameters(graph, program.read_tensors(rooms.handed / "constants.bin")[0])
    run.report = program.with_count({**event.report, "file": str(run.file)}, run.count)
    run.report = program_analysis.with_analysis(run.report, graph)
    run.export = dict(event.export)
    run.worker_sandbox = dict(event.sandbox)
    rules.refuse_oversized(run.count.total, run.criteria.max_params)
    if not run.request.options.train_anyway and any(c.passed is False for c in judge_static(run.criteria, run.report)):
        run.stopped = True  # the verdict is failed whatever training does: do not spend minutes on it
        run.emit(CheckReport(run.report))
        return
    program.write_graph(program.derive_eval(graph), rooms.handed / EVAL_GRAPH)
    kids.evaluator.send({"op": "load", "graph": str(rooms.handed / EVAL_GRAPH),
                         "constants": str(rooms.handed / "constants.bin")})
    for key in PROGRAM_FILES:  # the trainer reads the parent's copies, in its own room
        shutil.copyfile(rooms.handed / PROGRAM_FILES[key], rooms.trainer / PROGRAM_FILES[key])
    if event.recipe is None:
        raise IntegrityError("the worker described no recipe; this run cannot be trusted")
    task = TrainTask(graph=str(rooms.trainer / "graph.json"), constants=str(rooms.trainer / "constants.bin"),
                     initial=str(rooms.trainer / "initial.bin"), recipe=event.recipe, init=event.init,
                     **kids.task)
    kids.trainer.send(task.to_dict())
    run.emit(CheckReport(run.report))


def _from_trainer(run: _Run, event: Event, kids: _Children) -> None:
    rooms = kids.rooms
    if isinstance(event, TrainStart):
        run.emit(replace(event, test_images=run.test_images,
                         measured_on="validation" if run.request.options.validate else "test"))
    elif isinstance(event, Progress):
        if event.loss is not None:
            run.steps.append([round(event.epoch - 1 + event.step / max(event.steps, 1), 4), event.loss])
        run.emit(event)
    elif isinstance(event, (StateSaved, EpochTrained)):
        if run.report is None:
            raise IntegrityError("the trainer handed over a state before the program; this run cannot be trusted")
        epoch, name = event.epoch, event.state
        if not _STATE_NAME.fullmatch(name) or epoch in run.sent or epoch != len(run.sent):
            raise IntegrityError(f"the trainer handed over an unexpected state ({name[:40]!r}, epoch {epoch})")
        _take(rooms.trainer, rooms.handed, name)  # ours now: the trainer cannot change it later
        run.sent.add(epoch)
        if isinstance(event, EpochTrained):
            run.trained[epoch] = event
        kids.evaluator.send({"op": "measure", "epoch": epoch, "state": str(rooms.handed / name)})
    elif isinstance(event, TrainResult):
        if run.result is not None:
            raise IntegrityError("the trainer reported more than one result; this run cannot be trusted")
        run.result = event
    else:
        raise IntegrityError(f"the trainer sent a {event.EVENT!r} event, which is not the trainer's; "
                             "this run cannot be trusted")


def _take(source_room: Path, target_room: Path, name: str) -> None:
    """Copy a file a child announced out of its directory, into the parent's own."""
    source = source_room / name
    if source.is_symlink() or not source.is_file():
        raise IntegrityError(f"a child announced {name} but did not write it; this run cannot be trusted")
    if source.stat().st_size > program.MAX_TENSOR_FILE_BYTES:
        raise IntegrityError(f"{name} is {source.stat().st_size:,} bytes; a model's state is a few MB")
    shutil.copyfile(source, target_room / name)


def _from_evaluator(run: _Run, event: Event) -> None:
    if isinstance(event, EvaluatorReady):
        run.evaluator.update(device=event.device, test_images=event.test_images, order=event.order,
                             sandbox=dict(event.sandbox))
    elif isinstance(event, Loaded):
        run.evaluator.update(load_seconds=event.seconds, footprint=dict(event.footprint))
    elif isinstance(event, Measured):
        epoch = event.epoch
        if epoch not in run.sent or epoch in run.measured:
            raise WorkerError(f"the clean evaluator answered for epoch {epoch}, which it was not asked about")
        run.measured[epoch] = event
        if event.nonfinite:
            run.evaluator.setdefault("nonfinite", {})[str(epoch)] = event.nonfinite
        run.evaluator["seconds"] = run.evaluator.get("seconds", 0.0) + event.seconds
        if epoch == 0:
            rules.check_baseline(event.test_acc)
        else:
            run.emit(EpochDone(**asdict(_epoch(run, epoch))))
    else:
        raise IntegrityError(f"the clean evaluator sent a {event.EVENT!r} event, which is not the evaluator's; "
                             "this run cannot be trusted")


def _epoch(run: _Run, epoch: int) -> EpochRecord:
    trained, measured = run.trained.get(epoch), run.measured.get(epoch)
    return EpochRecord(epoch, train_loss=trained.train_loss if trained else None,
                       train_acc=trained.train_acc if trained else None,
                       test_loss=measured.test_loss if measured else None,
                       test_acc=measured.test_acc if measured else None, lr=trained.lr if trained else None,
                       seconds=trained.seconds if trained else None)


def _warnings(run: _Run) -> list[str]:
    """What the evaluator saw that the student should know: outputs that were NaN or inf."""
    seen = run.evaluator.get("nonfinite") or {}
    if not seen:
        return []
    worst = max(seen.items(), key=lambda kv: kv[1])
    return [f"the model's output was NaN or inf for some test images in {len(seen)} measurement(s) (at most "
            f"{worst[1]:,} images, epoch {worst[0]}): those count as wrong answers and the test loss is NaN there. "
            "Look for a division by zero, a log of zero or a value that overflows in forward()"]


def _described(run: _Run) -> dict[str, Any]:
    """The record's fields known once the worker has described the submission: the same whether it trains or not."""
    report = run.report or {}
    rf = report.get("rf") or {}
    return dict(
        file=str(run.file), sha256=run.sha256, seed=run.request.options.seed,
        quick=run.request.options.quick,
        lesson=run.lesson.id if run.lesson else None, params=run.count.total if run.count else None,
        params_detail=run.count.to_dict() if run.count else {}, rf=rf.get("rf_before_global_pool"),
        rf_final=rf.get("rf_final"), report=report, export=run.export,
        target=run.criteria.accuracy.target if run.criteria.accuracy else None,
        measured_on="validation" if run.request.options.validate else "test")


def _judged(run: _Run, record: RunRecord) -> RunRecord:
    """The record with its verdict, which carries the record's warnings (a fixed recipe, a skipped import ...)."""
    record.verdict = judge(run.criteria, record.report, record.test_accs if record.trained else None,
                           quick=run.request.options.quick, validate=run.request.options.validate)
    record.verdict.warnings = list(record.warnings)
    return record


def _untrained_record(run: _Run) -> RunRecord:
    """The record of a grading stopped before training: its static verdict, failed, and why nothing trained."""
    return _judged(run, RunRecord(
        **_described(run), device="",
        warnings=run.policy_warnings + [
            "not trained: a static criterion already fails, so no accuracy could pass it. Fix the failed criterion "
            "first (course check shows it in seconds), or pass --train-anyway to watch it train"],
        sandbox={"worker": run.worker_sandbox}, duration=time.perf_counter() - run.started))


def _record(run: _Run) -> RunRecord:
    result = run.result
    if result is None:  # _pump returns a trained run only once the trainer reported
        raise WorkerError("the trainer ended without its result")
    rules.check_epochs(result.epochs_trained, int(result.recipe.get("epochs", -1)), set(run.measured),
                       epoch_budget(run.criteria.max_epochs, run.request.options.epochs), run.request.options.quick)
    return _judged(run, RunRecord(
        **_described(run), device=result.device, device_name=result.device_name, versions=dict(result.versions),
        recipe=result.recipe, loop=dict(result.loop), baseline_test_acc=run.measured[0].test_acc,
        epochs=[_epoch(run, e) for e in sorted(run.trained)], train_loss_steps=run.steps,
        train_images=result.train_images, init=dict(result.init), evaluator=run.evaluator,
        warnings=run.policy_warnings + list(result.warnings) + _warnings(run), test_images=run.test_images,
        sandbox={**result.sandbox, "worker": run.worker_sandbox, "evaluator": run.evaluator.get("sandbox") or {}},
        duration=time.perf_counter() - run.started))
