"""The optimizer and scheduler a submission asked for, as plain data that crosses from the worker to the trainer.

The worker (grader.worker.optimizer_data) reads what `make_optimizer` returned into these types; the trusted
trainer (grader.trainer.optimizer) rebuilds torch's own classes from them. No torch here: the parent and the
trainer can check a spec before anything is built, and nothing in a spec can run: classes are named from the
allowlists below, and every value is checked by `check_plain` to be JSON data of bounded size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from grader.errors import SubmissionError

# torch.optim's classes, trained exactly as torch defines them. Left out: LBFGS (its step needs a closure that
# re-runs the model), SparseAdam (sparse gradients only; a course model's are dense), Adafactor and Muon (newer,
# not taught, Muon only for 2-D weights): a student who needs one can ask for it to be added here.
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop")
# torch.optim.lr_scheduler's classes whose whole state is data (their state_dict rebuilds them exactly).
# Left out: LambdaLR and MultiplicativeLR (a function decides the rate), ChainedScheduler (steps several
# schedulers at once: write a SequentialLR or one scheduler instead). CyclicLR only with its built-in modes.
SCHEDULERS = ("OneCycleLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau",
              "LinearLR", "ConstantLR", "PolynomialLR", "CosineAnnealingWarmRestarts", "CyclicLR", "SequentialLR")
# What SequentialLR may chain: torch refuses ReduceLROnPlateau there, and one level of nesting is all a
# schedule needs (a SequentialLR inside another is refused so the state stays a short, checkable tree).
SEQUENTIAL_CHILDREN = tuple(name for name in SCHEDULERS if name not in ("SequentialLR", "ReduceLROnPlateau"))
# Schedulers whose schedule is written in optimizer steps, not epochs: the loop steps them after every batch.
PER_BATCH = ("OneCycleLR", "CyclicLR")

MAX_STRING = 256  # the longest dotted parameter name or state string; a course model's are under 60 characters
MAX_ITEMS = 4096  # a list's or a dict's length: one group may name every parameter of a model (hundreds at most)
MAX_DEPTH = 8  # the deepest state torch writes is OneCycleLR's list of phase dicts (3 levels): room to spare
MAX_VALUES = 50_000  # every value in one spec together: a bound on the work a spec can make the trainer do
MAX_INT = 2**63  # an integer wider than int64 is no step count, milestone or size: refuse huge-int arithmetic


def check_plain(value, where: str) -> None:
    """Raise SubmissionError unless `value` is plain JSON data of bounded size; the message names `where`."""
    _check(value, where, 0, [MAX_VALUES])


def _check(value, where: str, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise SubmissionError(f"{where}: more than {MAX_VALUES} values in all; an optimizer's settings are far fewer")
    if depth > MAX_DEPTH:
        raise SubmissionError(f"{where}: nested more than {MAX_DEPTH} deep; give plain numbers, strings and lists")
    kind = type(value)  # exact types: a subclass of float or dict can carry behaviour that JSON would drop
    if value is None or kind is bool or kind is str and len(value) <= MAX_STRING:
        return
    if kind is int:
        if abs(value) > MAX_INT:
            raise SubmissionError(f"{where}: the integer {value:.3e} is out of range")
        return
    if kind is float:
        if not math.isfinite(value):
            raise SubmissionError(f"{where}: {value} is not a finite number")
        return
    if kind is str:
        raise SubmissionError(f"{where}: a string of {len(value)} characters (at most {MAX_STRING})")
    if kind in (list, tuple, dict) and len(value) > MAX_ITEMS:
        raise SubmissionError(f"{where}: {len(value)} items (at most {MAX_ITEMS})")
    if kind in (list, tuple):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", depth + 1, budget)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or len(key) > MAX_STRING:
                raise SubmissionError(f"{where}: the key {_short(key)} is not a short string")
            _check(item, f"{where}.{key}", depth + 1, budget)
        return
    what = "a tensor" if kind.__name__ in ("Tensor", "Parameter") else f"a {kind.__name__}"
    raise SubmissionError(f"{where} is {what}: only plain numbers, booleans, None, strings, lists and dicts "
                          "are allowed (write lr=0.1, not a tensor or an object)")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields(data, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """`data` as a dict with exactly the required keys and some of the optional ones."""
    if type(data) is not dict:
        raise SubmissionError(f"{where} must be a dict, got {type(data).__name__}")
    missing = [key for key in required if key not in data]
    unknown = [key for key in data if key not in required + optional]
    if missing:
        raise SubmissionError(f"{where} lacks {', '.join(missing)}")
    if unknown:
        raise SubmissionError(f"{where} has unknown keys {', '.join(_short(key) for key in unknown)}; "
                              f"expected {', '.join(required + optional)}")
    return data


def _names(value, where: str) -> tuple[str, ...]:
    if type(value) not in (list, tuple) or any(type(name) is not str for name in value):
        raise SubmissionError(f"{where} must be a list of parameter names")
    check_plain(value, where)
    return tuple(value)


def _kind(value, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise SubmissionError(f"{what} {_short(value)} is not allowed; allowed: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class GroupSpec:
    """One param group: the dotted names of its parameters and its hyperparameters (lr, momentum ...)."""

    params: tuple[str, ...]
    hyper: dict

    def to_dict(self) -> dict:
        return {"params": list(self.params), "hyper": self.hyper}

    @classmethod
    def from_dict(cls, data, where: str = "group") -> GroupSpec:
        data = _fields(data, where, ("params", "hyper"))
        hyper = data["hyper"]
        if type(hyper) is not dict or "params" in hyper:
            raise SubmissionError(f"{where}.hyper must be a dict of hyperparameters without 'params'")
        check_plain(hyper, f"{where}.hyper")
        return cls(_names(data["params"], f"{where}.params"), hyper)


@dataclass(frozen=True)
class OptimizerSpec:
    """A torch.optim class by name, its param groups and its constructor's keyword arguments."""

    kind: str
    groups: tuple[GroupSpec, ...]
    # torch reads a few settings from `defaults`, not the groups (differentiable, Adagrad's
    # initial_accumulator_value): empty means the class's own
    defaults: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "groups": [group.to_dict() for group in self.groups], "defaults": self.defaults}

    @classmethod
    def from_dict(cls, data, where: str = "optimizer") -> OptimizerSpec:
        data = _fields(data, where, ("kind", "groups"), ("defaults",))
        groups = data["groups"]
        if type(groups) not in (list, tuple) or not groups or len(groups) > MAX_ITEMS:
            raise SubmissionError(f"{where}.groups must be a non-empty list of param groups")
        defaults = data.get("defaults", {})
        if type(defaults) is not dict:
            raise SubmissionError(f"{where}.defaults must be a dict")
        check_plain(defaults, f"{where}.defaults")
        return cls(_kind(data["kind"], OPTIMIZERS, "the optimizer"),
                   tuple(GroupSpec.from_dict(group, f"{where}.groups[{i}]") for i, group in enumerate(groups)),
                   defaults)


@dataclass(frozen=True)
class SchedulerSpec:
    """A torch.optim.lr_scheduler class by name and its state_dict; SequentialLR's schedulers as children."""

    kind: str
    state: dict
    children: tuple[SchedulerSpec, ...] = ()  # only SequentialLR has any: its state's _schedulers, in order

    def to_dict(self) -> dict:
        return {"kind": self.kind, "state": self.state, "children": [child.to_dict() for child in self.children]}

    @classmethod
    def from_dict(cls, data, where: str = "scheduler", nested: bool = False) -> SchedulerSpec:
        data = _fields(data, where, ("kind", "state"), ("children",))
        kind = _kind(data["kind"], SEQUENTIAL_CHILDREN if nested else SCHEDULERS,
                     "inside SequentialLR, the scheduler" if nested else "the scheduler")
        state = data["state"]
        if type(state) is not dict:
            raise SubmissionError(f"{where}.state must be a dict")
        check_plain(state, f"{where}.state")
        children = data.get("children", [])
        if type(children) not in (list, tuple) or len(children) > MAX_ITEMS:
            raise SubmissionError(f"{where}.children must be a list")
        if bool(children) != (kind == "SequentialLR"):
            raise SubmissionError(f"{where}: only SequentialLR has (and needs) child schedulers")
        return cls(kind, state, tuple(cls.from_dict(child, f"{where}.children[{i}]", nested=True)
                                      for i, child in enumerate(children)))


@dataclass(frozen=True)
class OptimSpec:
    """What make_optimizer (or the lesson's recipe) asked for: an optimizer and maybe a scheduler."""

    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None
    # parameters no group holds: they keep their initial value (the student's choice), said in the record
    unheld: tuple[str, ...] = ()
    # parameters whose requires_grad was False when make_optimizer returned: no gradient, so never stepped
    frozen: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"optimizer": self.optimizer.to_dict(),
                "scheduler": self.scheduler.to_dict() if self.scheduler is not None else None,
                "unheld": list(self.unheld), "frozen": list(self.frozen)}

    @classmethod
    def from_dict(cls, data) -> OptimSpec:
        """The spec from JSON-loaded data; SubmissionError names the first thing that is not allowed."""
        data = _fields(data, "optim spec", ("optimizer", "scheduler"), ("unheld", "frozen"))
        scheduler = data["scheduler"]
        return cls(OptimizerSpec.from_dict(data["optimizer"]),
                   SchedulerSpec.from_dict(scheduler) if scheduler is not None else None,
                   _names(data.get("unheld", []), "unheld"), _names(data.get("frozen", []), "frozen"))
