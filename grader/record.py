"""The typed data of one grading: what was asked (GradeRequest; its options are grader.course.options'), what the
worker is told (WorkerTask), and what came of it (RunRecord with its EpochRecords). No torch: the CLI, the
gradebook and the views all read these.

A RunRecord is also a file format (`course grade --json`, the gradebook's stored records): `to_dict` writes
the current SCHEMA_VERSION, `from_dict` reads every version written so far (tests/test_record.py pins it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from grader.course.lesson import COURSE_MAX_EPOCHS
from grader.course.options import COURSE_TIMEOUT_S, GradeOptions
from grader.course.verdict import Verdict, epochs_to_target

SCHEMA_VERSION = 2  # 1: the untyped record of course 0.1 (worker figures, "verified" flag); 2: evaluator figures


@dataclass(frozen=True)
class GradeRequest:
    """One `course grade` (or `course check`): which file, judged by which lesson, graded how."""

    file: Path | None  # None: the workspace's file for the lesson (grader.workflow resolves it)
    lesson: str | None = None  # None: judged against the course target
    options: GradeOptions = GradeOptions()  # each default's why is in grader.course.options
    # False: the lesson's fixed recipe (what its may_change leaves out) overrides the file's own, as for any student.
    # True only for a course file a lesson compares (a [verify] extra): the recipe it sets is the one change it
    # measures (lesson 2's SGD against the lesson's Adam), which the lesson's rule would otherwise silently undo.
    own_recipe: bool = False


@dataclass(frozen=True)
class WorkerTask:
    """What the sandboxed worker is told: everything it needs, nothing it could use to reach the test set."""

    mode: str  # "check" or "grade"
    file: str  # the submission's copy inside the worker's directory
    sha256: str  # of the bytes the static policy passed; the worker refuses any other
    train_images: str  # a few training images as IDX files in the worker's directory (the parent wrote them)
    train_labels: str
    train_size: int = 60_000  # images the trainer will train on: make_optimizer's steps_per_epoch counts them
    # the grading's, as grader.course.options.for_children tells a child: its timeout decided, no data folder;
    # the timeout also sets the CPU-time limit the worker puts on itself
    options: GradeOptions = GradeOptions(timeout=COURSE_TIMEOUT_S)
    max_epochs: int = COURSE_MAX_EPOCHS  # the lesson's budget; EPOCHS above it is capped (options.epochs caps more)
    max_params: int | None = None  # a model far over it is refused before training
    lesson_recipe: dict[str, Any] | None = None  # the lesson's default recipe (lesson.toml [recipe])
    fixed_recipe: tuple[str, ...] = ()  # recipe names the lesson fixes: a submission's own value is ignored
    limits: dict[str, Any] = field(default_factory=dict)  # grader.walls.sandbox.Limits fields; {}: its defaults

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerTask:
        values = _known(cls, raw)
        values["options"] = GradeOptions.from_dict(raw.get("options"))
        values["fixed_recipe"] = tuple(raw.get("fixed_recipe") or ())
        return cls(**values)


@dataclass(frozen=True)
class TrainTask:
    """What the trusted trainer is told: the program and recipe the worker described, as files and data it reads
    again itself, never the submission; the training split; and the grading's options."""

    graph: str  # the parent's copies of the worker's files, in the trainer's own directory
    constants: str
    initial: str
    recipe: dict[str, Any]  # grader.trainer.recipe.Recipe.to_dict(), as the worker resolved it
    init: object = None  # the submission's INIT declaration, as data (grader.trainer.init checks it)
    train_images: str = ""  # the training split as IDX files in the trainer's directory
    train_labels: str = ""
    # as the worker's (WorkerTask.options); the timeout sets the CPU-time limit the trainer puts on itself
    options: GradeOptions = GradeOptions(timeout=COURSE_TIMEOUT_S)
    limits: dict[str, Any] = field(default_factory=dict)  # grader.walls.sandbox.Limits fields; {}: its defaults

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainTask:
        values = _known(cls, raw)
        values["options"] = GradeOptions.from_dict(raw.get("options"))
        return cls(**values)


@dataclass
class EpochRecord:
    """One epoch. Training figures are the worker's (progress display); test figures are the evaluator's."""

    epoch: int
    train_loss: float | None  # mean over the epoch's augmented batches, dropout on
    train_acc: float | None  # percent, same batches
    test_loss: float | None  # the evaluator's, on the clean test set in eval mode
    test_acc: float | None  # percent, the evaluator's: the only accuracy a verdict reads
    lr: float | None  # at the end of the epoch
    seconds: float | None  # the worker's training time for the epoch

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EpochRecord:
        figures = {f.name: _number(raw.get(f.name)) for f in fields(cls) if f.name != "epoch"}
        return cls(int(raw["epoch"]), **figures)


@dataclass
class RunRecord:
    """Everything one grading measured and decided, enough to reproduce it and to judge it again."""

    file: str
    sha256: str
    seed: int
    quick: bool
    lesson: str | None = None
    device: str = "cpu"  # what trained: cpu, cuda:0, mps
    device_name: str = ""  # the GPU's model, or the CPU with its thread count
    versions: dict[str, Any] = field(default_factory=dict)  # grader, python, torch, torchvision, cuda, cudnn
    recipe: dict[str, Any] = field(default_factory=dict)  # the recipe actually used, with where each field came from
    loop: dict[str, Any] = field(default_factory=dict)  # LoopOptions, as used
    params: int | None = None  # counted on the exported program by the trusted side
    params_detail: dict[str, Any] = field(default_factory=dict)  # parameters, buffers, constants, exempt norm stats
    rf: int | None = None  # receptive field entering the global operation
    rf_final: int | None = None
    # what `course check` shows (structure, RF table, torchsummary)
    report: dict[str, Any] = field(default_factory=dict)
    baseline_test_acc: float | None = None  # the untrained model, measured by the evaluator: about 10 %
    epochs: list[EpochRecord] = field(default_factory=list)
    train_loss_steps: list[list[float]] = field(default_factory=list)  # [epoch fraction, loss] for the curves
    train_images: int = 0
    test_images: int = 0  # images the evaluator measured on (of the split measured_on names)
    # "test", or "validation" for a --validate run: its "test" figures are then the held-out training images'.
    # Added within schema 2: a record written before it reads as "test", which is what it measured.
    measured_on: str = "test"
    target: float | None = None  # the accuracy target the verdict used, percent
    export: dict[str, Any] = field(default_factory=dict)  # how the program was exported: seconds, ops, nodes
    init: dict[str, str] = field(default_factory=dict)  # target -> the rule that drew it (trainer.init)
    evaluator: dict[str, Any] = field(default_factory=dict)  # the evaluator's device, seconds, walls
    warnings: list[str] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)  # the worker's walls as they held on this machine
    duration: float | None = None  # seconds, the whole grading
    verdict: Verdict | None = None
    schema: int = SCHEMA_VERSION

    # ----------------------------------------------------------------------------------------- derived

    @property
    def trained(self) -> bool:
        """Whether anything trained: a grading whose static criteria failed stops before (train_anyway)."""
        return self.baseline_test_acc is not None or bool(self.epochs)

    @property
    def test_accs(self) -> list[float]:
        """The evaluator's accuracy of every epoch that has one, in epoch order."""
        return [e.test_acc for e in self.epochs if e.test_acc is not None]

    @property
    def best_acc(self) -> float | None:
        return max(self.test_accs, default=None)

    @property
    def last_acc(self) -> float | None:
        accs = self.test_accs
        return accs[-1] if accs else None

    @property
    def best_epoch(self) -> int | None:
        best = self.best_acc
        return next((e.epoch for e in self.epochs if e.test_acc == best), None) if best is not None else None

    @property
    def epochs_to_target(self) -> int | None:
        """The first epoch whose test accuracy reaches the target (None on a --quick run, which proves nothing)."""
        if self.target is None or self.quick or self.measured_on != "test":
            return None  # a validation run measured other images than the target is about
        return epochs_to_target(self.test_accs, self.target)

    @property
    def status(self) -> str | None:
        return self.verdict.status if self.verdict else None

    def _repr_html_(self) -> str:  # Jupyter shows a record as its criteria and per-epoch tables
        from grader.views.html import record_html

        return record_html(self)

    # ----------------------------------------------------------------------------------------- file format

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; NaN and inf become strings (JSON has neither), derived figures are included for readers."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["epochs"] = [asdict(e) for e in self.epochs]
        out["verdict"] = self.verdict.to_dict() if self.verdict else None
        out.update(best_acc=self.best_acc, last_acc=self.last_acc, epochs_to_target=self.epochs_to_target)
        return json_safe(out)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        """Read a record of any schema version written so far."""
        schema = int(raw.get("schema", 1))
        if schema > SCHEMA_VERSION:
            raise ValueError(f"run record schema {schema} is newer than this course's {SCHEMA_VERSION}; upgrade course")
        values = _known(cls, raw)
        values["epochs"] = [EpochRecord.from_dict(e) for e in raw.get("epochs") or []]
        values["verdict"] = Verdict.from_dict(raw["verdict"]) if raw.get("verdict") else None
        values["baseline_test_acc"] = _number(raw.get("baseline_test_acc"))
        if schema == 1:  # the worker measured, and a final-epoch check stood for every epoch
            values["evaluator"] = {"verified_last_epoch": raw.get("verified"),
                                   "last_epoch_acc": raw.get("evaluator_test_acc")}
            if values.get("target") is None and values["verdict"] is not None:
                values["target"] = _target_from_criteria(values["verdict"])
        values["schema"] = SCHEMA_VERSION
        return cls(**values)


def _target_from_criteria(verdict: Verdict) -> float | None:
    for c in verdict.criteria:
        if c.name == "accuracy":
            try:
                return float(c.threshold.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _known(cls, raw: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


def _number(value) -> float | None:
    """Numbers stay numbers; the strings a diverged run wrote for NaN/inf come back as floats."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def json_safe(value):
    """JSON-ready: NaN and inf (a diverging model makes them) become strings, paths become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
