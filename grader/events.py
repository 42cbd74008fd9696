"""The events of a grading, one typed class per kind: what its children send the parent over grader.channel, and
what the parent shows while it runs.

The worker, the trainer, the evaluator and the zygote emit the first kind (KINDS); the channel writes each as one
JSON line (`to_dict`) and the parent's reader turns the line back into its class (`parse`), so that the host reads
attributes, never `.get()` on a dict. A line that names no known event, or lacks a field, or carries a field of
the wrong type, is an EventError there: the run cannot be trusted, and the message says what was wrong.

The parent hands the second kind (Shown: CheckReport, TrainStart, Progress, EpochDone) to its `on_event` callback,
the progress views; `course verify` adds its own (VerifyStatic, VerifyRun, VerifyDone). Those never cross a
channel from a child.

A batch (grader.batch) hands its `on_event` a third kind (BatchEvent): the batch's start, each grading's start (or
its retry on another Ray node), what each grading shows, and how each ended. Only a Ray task's (TASK_KINDS) cross
a process, as plain data its head parses back. No torch and no other grader module: every process imports this
first.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar


class EventError(ValueError):
    """A channel line that is not one of the events below, or not a well-formed one."""


@dataclass(frozen=True)
class Event:
    """Base of every event; EVENT is its name on the wire ({"event": EVENT, ...fields})."""

    EVENT: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.EVENT, **asdict(self)}


# ------------------------------------------------------------------------------------------------- every child


@dataclass(frozen=True)
class Failed(Event):
    """The child could not do what it was asked; `kind` is a grader.errors kind, or "internal" (a grader bug)."""

    EVENT: ClassVar[str] = "error"
    kind: str
    message: str
    traceback: str = ""  # only for "internal": where the grader failed


# ------------------------------------------------------------------------------------------------------ worker


@dataclass(frozen=True)
class Phase(Event):
    """The worker is about to call into the submission's code (grader.host.phases gives each call a budget)."""

    EVENT: ClassVar[str] = "phase"
    name: str


@dataclass(frozen=True)
class Described(Event):
    """The worker's one result: the program files it wrote, what `course check` shows, and the recipe as data."""

    EVENT: ClassVar[str] = "described"
    report: dict[str, Any]
    graph: str  # file names inside the worker's directory; the parent checks them against PROGRAM_FILES
    constants: str
    initial: str
    export: dict[str, Any] = field(default_factory=dict)  # how the export went: seconds, ops, nodes
    sandbox: dict[str, Any] = field(default_factory=dict)  # the worker's walls, for the record
    recipe: dict[str, Any] | None = None  # a grading's resolved recipe (None for a check)
    init: object = None  # the submission's INIT as plain data, checked by the trainer


# ----------------------------------------------------------------------------------------------------- trainer


@dataclass(frozen=True)
class TrainStart(Event):
    """Training begins: what the progress display needs to draw its bar."""

    EVENT: ClassVar[str] = "start"
    epochs: int
    steps_per_epoch: int
    device: str
    device_type: str
    train_images: int
    quick: bool
    test_images: int = 0  # the parent fills it in for the display: the trainer never sees the test split
    measured_on: str = "test"  # the parent's too: "validation" when --validate measures held-out training images


@dataclass(frozen=True)
class StateSaved(Event):
    """The trainer wrote the state an epoch ended with (epoch 0: the initial state) for the evaluator."""

    EVENT: ClassVar[str] = "state"
    epoch: int
    state: str  # a file name in the trainer's directory, state-NNN.bin


@dataclass(frozen=True)
class Progress(Event):
    """Running training figures within an epoch: display only."""

    EVENT: ClassVar[str] = "progress"
    epoch: int
    step: int
    steps: int
    loss: float | None  # None never comes from the trainer; NaN does (a diverging model)
    acc: float | None


@dataclass(frozen=True)
class EpochTrained(Event):
    """An epoch ended: the trainer's own figures (display only) and the state it wrote."""

    EVENT: ClassVar[str] = "trained"
    epoch: int
    train_loss: float | None
    train_acc: float | None
    lr: float | None
    seconds: float | None
    state: str


@dataclass(frozen=True)
class TrainResult(Event):
    """Training is over: how it ran, for the record the parent builds (never a figure the verdict reads)."""

    EVENT: ClassVar[str] = "result"
    seed: int
    quick: bool
    device: str  # cpu, cuda:0, mps
    device_name: str  # the GPU's model, or the CPU with its thread count
    versions: dict[str, Any]  # grader, python, torch, torchvision, cuda, cudnn
    recipe: dict[str, Any]  # the recipe and the optimizer as used
    loop: dict[str, Any]  # LoopOptions as used, with what actually happened (compiled, graphed, channels_last)
    init: dict[str, str]  # target -> the rule that drew its initial value
    epochs_trained: int
    train_images: int
    warnings: list[str]
    sandbox: dict[str, Any]  # the trainer's walls as they held
    duration: float  # seconds, the trainer's whole run


# --------------------------------------------------------------------------------------------------- evaluator


@dataclass(frozen=True)
class EvaluatorReady(Event):
    """The evaluator holds the test split, in the order the parent's secret seed drew."""

    EVENT: ClassVar[str] = "ready"
    test_images: int
    device: str
    sandbox: dict[str, Any] = field(default_factory=dict)
    order: str = ""  # "shuffled", or "file order" (tests only)


@dataclass(frozen=True)
class Loaded(Event):
    """The evaluator loaded the program it measures."""

    EVENT: ClassVar[str] = "loaded"
    seconds: float
    footprint: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measured(Event):
    """One state's figures on the test split: the only accuracy a verdict reads."""

    EVENT: ClassVar[str] = "measured"
    epoch: int
    test_loss: float | None  # NaN where some output was not finite
    test_acc: float
    nonfinite: int = 0  # test images whose output had a NaN or inf
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------------ zygote


@dataclass(frozen=True)
class ZygoteReady(Event):
    """The fork server imported torch and is ready to fork children."""

    EVENT: ClassVar[str] = "zygote-ready"
    pid: int


# ------------------------------------------------------------------------------- shown while a grading runs


@dataclass(frozen=True)
class CheckReport(Event):
    """The exported program checked and counted by the parent: what `course check` shows, before training."""

    EVENT: ClassVar[str] = "check"
    report: dict[str, Any]


@dataclass(frozen=True)
class EpochDone(Event):
    """An epoch trained and measured: the trainer's figures (display only) beside the evaluator's."""

    EVENT: ClassVar[str] = "epoch"
    epoch: int
    train_loss: float | None
    train_acc: float | None
    test_loss: float | None
    test_acc: float | None
    lr: float | None
    seconds: float | None


Shown = CheckReport | TrainStart | Progress | EpochDone  # what a grading hands its on_event callback


@dataclass(frozen=True)
class VerifyStatic(Event):
    """`course verify` checks a lesson's stub and solution without training."""

    EVENT: ClassVar[str] = "verify-static"
    lesson: str


@dataclass(frozen=True)
class VerifyRun(Event):
    """`course verify --train` starts one training: run `index` of `total`."""

    EVENT: ClassVar[str] = "verify-run"
    lesson: str
    file: str
    seed: int
    index: int
    total: int


@dataclass(frozen=True)
class VerifyDone(Event):
    """One verify training ended; `run` is its grader.authoring.verify.SeedRun."""

    EVENT: ClassVar[str] = "verify-done"
    run: Any


# ------------------------------------------------------------------------------------------------------ a batch


@dataclass(frozen=True)
class BatchStart(Event):
    """A batch found its submissions and is about to run its gradings (grader.batch.head)."""

    EVENT: ClassVar[str] = "batch"
    total: int  # gradings to run, those of submissions that cannot be graded (error rows) included
    skipped: int  # (submission, seed) pairs the gradebook has already
    jobs: int  # gradings at a time
    devices: list[str]
    students: int


@dataclass(frozen=True)
class _JobPlaced(Event):
    """One grading of a batch, (student, seed), begins on `device`."""

    student: str
    seed: int
    device: str  # a device on this machine, or a Ray task's "host GPU 0" / "host CPU"
    node: str = ""  # the Ray node's id; "" on this machine
    gpu_ids: list[str] = field(default_factory=list)  # the GPUs Ray gave the task; none on this machine


@dataclass(frozen=True)
class JobStarted(_JobPlaced):
    """A pool started one grading of the batch."""

    EVENT: ClassVar[str] = "job"


@dataclass(frozen=True)
class JobRetried(_JobPlaced):
    """Ray runs a grading again (its node or its Ray worker died): the head saw a second start of it."""

    EVENT: ClassVar[str] = "job-retry"


@dataclass(frozen=True)
class JobShown(Event):
    """What one grading of the batch shows while it trains (its check report is left out: the batch shows none)."""

    EVENT: ClassVar[str] = "job-shown"
    student: str
    seed: int
    shown: TrainStart | Progress | EpochDone

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.EVENT, "student": self.student, "seed": self.seed, "shown": self.shown.to_dict()}


@dataclass(frozen=True)
class Outcome:
    """How one (submission, seed) of a batch ended: a row of its report and of `course teach grade-all --json`."""

    student: str
    seed: int
    source: str
    status: str  # passed | failed | smoke | error | skipped
    device: str | None = None  # None: it never ran (a skipped one, a submission that cannot be graded)
    params: int | None = None  # None: no program was counted
    best_acc: float | None = None
    duration: float | None = None  # None: it never ran
    message: str = ""
    run_id: int | None = None  # None: nothing was recorded in the gradebook


@dataclass(frozen=True)
class BatchDone(Event):
    """One (submission, seed) of the batch ended and is recorded, or cannot be graded: a line of the report."""

    EVENT: ClassVar[str] = "done"
    outcome: Outcome


BatchEvent = BatchStart | JobStarted | JobRetried | JobShown | BatchDone  # what a batch hands its on_event


# ---------------------------------------------------------------------------------------------------- parsing


KINDS: dict[str, type[Event]] = {cls.EVENT: cls for cls in (Failed, Phase, Described, TrainStart, StateSaved,
                                                            Progress, EpochTrained, TrainResult, EvaluatorReady,
                                                            Loaded, Measured, ZygoteReady)}
TASK_KINDS: dict[str, type[Event]] = {cls.EVENT: cls for cls in (JobStarted, JobShown)}  # a Ray task's, to its head
_NON_FINITE = {"nan", "inf", "-inf"}  # how grader.record.json_safe writes a float JSON has no word for


def parse(raw: object, kinds: dict[str, type[Event]] = KINDS) -> Event:
    """The event a decoded channel line describes, one of `kinds`; EventError naming what is wrong when it is not."""
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        raise EventError("not an event (a JSON object with an \"event\" name)")
    name = raw["event"]
    cls = kinds.get(name)
    if cls is None:
        raise EventError(f"unknown event {name[:40]!r}")
    return _parse_as(cls, raw)


def _parse_as(cls: type[Event], raw: dict[str, Any]) -> Event:
    name = cls.EVENT
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        if f.name in raw:
            values[f.name] = _typed(raw[f.name], hints[f.name], f"{name}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise EventError(f"a {name!r} event without its {f.name!r}")
    return cls(**values)


def _typed(value: object, hint: object, where: str) -> object:
    """`value` as `hint` says (a float may travel as "nan"); EventError when it cannot be."""
    if hint is object or hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, Event):  # an event inside an event (JobShown's)
        if isinstance(value, dict) and value.get("event") == hint.EVENT:
            return _parse_as(hint, value)
        raise EventError(f"{where} is not a {hint.EVENT!r} event")
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                try:
                    return _typed(value, option, where)
                except EventError:
                    continue
        raise EventError(f"{where} is {type(value).__name__}, not {hint}")
    base = typing.get_origin(hint) or hint
    if base is float:
        if isinstance(value, str) and value in _NON_FINITE:
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base in (str, bool, dict, list) and isinstance(value, base):
        return value
    raise EventError(f"{where} is {type(value).__name__}, not {getattr(base, '__name__', base)}")
