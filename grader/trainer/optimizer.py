"""Rebuild the submission's optimizer and scheduler from plain data (grader.optim_spec), in the trusted trainer.

Only torch's own classes, named in the allowlists, are built; the scheduler is built with stand-in arguments
and then given the recorded state, so it goes on exactly as the submission's would have. Nothing of the
submission runs here.
"""

from __future__ import annotations

import collections
import copy
import inspect
from typing import Any

import torch

from grader.errors import SubmissionError
from grader.optim_spec import OPTIMIZERS, SCHEDULERS, OptimizerSpec, OptimSpec, SchedulerSpec

_S = torch.optim.lr_scheduler
_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def build(spec: OptimSpec, params: dict[str, torch.Tensor]):
    """(optimizer, scheduler or None) as `spec` describes them, over the trainer's parameters by dotted name."""
    spec = OptimSpec.from_dict(spec.to_dict())  # a spec made in code gets the checks one read from JSON gets
    optimizer = _optimizer(spec.optimizer, params)
    scheduler = _scheduler(spec.scheduler, optimizer) if spec.scheduler is not None else None
    # building a scheduler rewrites the groups (lr, initial_lr, momentum ...): put back what was recorded
    tuples = _tuple_keys(type(optimizer))
    for index, (group, group_spec) in enumerate(zip(optimizer.param_groups, spec.optimizer.groups)):
        _restore(group, _hyper(group_spec.hyper, index, tuples), optimizer.defaults, index)
    return optimizer, scheduler


def build_default(optimizer: dict[str, Any], scheduler: dict[str, Any] | None, params: dict[str, torch.Tensor],
                  epochs: int, steps_per_epoch: int):
    """The recipe's own (optimizer, scheduler) when there is no make_optimizer, as recipe.build_optimizer builds it.

    `optimizer` and `scheduler` are the lesson's dict specs ({"name": "SGD", "lr": 0.01, ...}); OneCycleLR without
    total_steps gets epochs and steps_per_epoch.
    """
    built = _from_dict_spec(torch.optim, OPTIMIZERS, optimizer, "optimizer", list(params.values()))
    if not scheduler:
        return built, None
    extra = {}
    if scheduler.get("name") == "OneCycleLR" and "total_steps" not in scheduler:
        extra = {"epochs": epochs, "steps_per_epoch": steps_per_epoch}
    return built, _from_dict_spec(_S, SCHEDULERS, scheduler, "scheduler", built, **extra)


def _from_dict_spec(namespace, allowed: tuple[str, ...], spec: dict[str, Any], what: str, *args, **extra):
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in allowed:
        raise SubmissionError(f"unknown {what} {name!r} in the recipe; allowed: {', '.join(allowed)}")
    try:
        return getattr(namespace, name)(*args, **{**extra, **spec})
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"cannot build {what} {name} with {spec}: {exc}") from exc


def _optimizer(spec: OptimizerSpec, params: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
    cls = getattr(torch.optim, spec.kind)
    accepted = inspect.signature(cls.__init__).parameters
    tuples = _tuple_keys(cls)
    groups, seen = [], set()
    for index, group in enumerate(spec.groups):
        for name in group.params:
            if name not in params:
                raise SubmissionError(f"the optimizer's group {index} names {name}, which is not one of the "
                                      "program's parameters")
            if name in seen:
                raise SubmissionError(f"the optimizer names {name} twice: each parameter may be in one group, once")
            seen.add(name)
        groups.append({**_hyper(group.hyper, index, tuples), "params": [params[name] for name in group.params]})
    defaults = _hyper(spec.defaults, "defaults", tuples)
    # the constructor's own arguments only: a class may add a default of its own (AdamW: decoupled_weight_decay)
    kwargs = {key: value for key, value in defaults.items() if key in accepted and key != "params"}
    try:
        optimizer = cls(groups, **kwargs)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise SubmissionError(f"cannot build torch.optim.{spec.kind} from its recorded settings: {exc}") from exc
    if defaults:  # torch reads some settings from here (differentiable, Adagrad's initial_accumulator_value)
        if set(defaults) != set(optimizer.defaults):
            raise SubmissionError(f"the {spec.kind}'s recorded defaults have keys {sorted(defaults)}, a "
                                  f"{spec.kind}'s are {sorted(optimizer.defaults)}")
        optimizer.defaults.update(defaults)
    return optimizer


def _tuple_keys(cls) -> frozenset[str]:
    """The hyperparameters `cls` holds as tuples (betas, etas, step_sizes): JSON turned them into lists."""
    return frozenset(name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                     if type(parameter.default) is tuple)


def _hyper(hyper: dict[str, Any], where, tuples: frozenset[str]) -> dict[str, Any]:
    """Hyperparameters as torch holds them: its tuples back from JSON's lists, anything else as it came."""
    if hyper.get("differentiable"):
        raise SubmissionError(f"the optimizer's {where}: differentiable=True is not allowed")
    return {key: tuple(value) if key in tuples and type(value) is list else value for key, value in hyper.items()}


def _restore(group: dict[str, Any], hyper: dict[str, Any], defaults: dict[str, Any], index: int) -> None:
    """Make `group`'s hyperparameters exactly the recorded ones: same keys, same values."""
    missing = sorted(key for key in defaults if key not in hyper)
    if missing:
        raise SubmissionError(f"the optimizer's group {index} lacks {', '.join(missing)}")
    for key in [key for key in group if key != "params" and key not in hyper]:
        del group[key]
    group.update(hyper)


def _scheduler(spec: SchedulerSpec, optimizer: torch.optim.Optimizer):
    scheduler = _stand_in(spec, optimizer)
    state = _state(spec, scheduler)
    try:
        scheduler.load_state_dict(state)
    except Exception as exc:  # torch's own code on data that came from the worker: any failure is the data's
        raise SubmissionError(f"cannot load the {spec.kind}'s recorded state: {type(exc).__name__}: {exc}") from exc
    return scheduler


def _stand_in(spec: SchedulerSpec, optimizer: torch.optim.Optimizer):
    """A fresh scheduler of spec's class on `optimizer`, its arguments stand-ins that the state then replaces."""
    children = [_stand_in(child, optimizer) for child in spec.children]  # SequentialLR's, built before it
    state = spec.state
    cycle_momentum = state.get("cycle_momentum") is True  # decides which attributes (and group keys) exist
    make = {
        "OneCycleLR": lambda: _S.OneCycleLR(optimizer, max_lr=1.0, total_steps=100, cycle_momentum=cycle_momentum),
        "CyclicLR": lambda: _S.CyclicLR(optimizer, base_lr=0.1, max_lr=1.0, cycle_momentum=cycle_momentum),
        "StepLR": lambda: _S.StepLR(optimizer, step_size=1),
        "MultiStepLR": lambda: _S.MultiStepLR(optimizer, milestones=[]),
        "ExponentialLR": lambda: _S.ExponentialLR(optimizer, gamma=1.0),
        "CosineAnnealingLR": lambda: _S.CosineAnnealingLR(optimizer, T_max=1),
        "ReduceLROnPlateau": lambda: _S.ReduceLROnPlateau(optimizer),
        "LinearLR": lambda: _S.LinearLR(optimizer),
        "ConstantLR": lambda: _S.ConstantLR(optimizer),
        "PolynomialLR": lambda: _S.PolynomialLR(optimizer),
        "CosineAnnealingWarmRestarts": lambda: _S.CosineAnnealingWarmRestarts(optimizer, T_0=1),
        "SequentialLR": lambda: _S.SequentialLR(optimizer, children, milestones=list(state.get("_milestones", []))),
    }[spec.kind]
    try:
        return make()
    except Exception as exc:  # as in _scheduler: torch's constructor refusing recorded data
        raise SubmissionError(f"cannot build the {spec.kind} from its recorded state: {type(exc).__name__}: "
                              f"{exc}") from exc


def _state(spec: SchedulerSpec, scheduler) -> dict[str, Any]:
    """spec's state decoded for load_state_dict, after checking its keys are exactly a fresh instance's."""
    fresh = set(scheduler.state_dict()) - {"_schedulers"}  # SequentialLR's children come from spec.children
    if set(spec.state) != fresh:
        raise SubmissionError(f"the {spec.kind}'s recorded state has keys {sorted(set(spec.state) - fresh)} that "
                              f"a {spec.kind} does not, and lacks {sorted(fresh - set(spec.state))}")
    state = copy.deepcopy(spec.state)  # the scheduler keeps (and mutates) these lists: not the spec's own
    if spec.kind == "MultiStepLR":
        state["milestones"] = _milestones(state["milestones"])
    if spec.kind == "ReduceLROnPlateau":
        for key in ("best", "mode_worse"):  # the worker names an infinity, which JSON cannot hold
            if state[key] in ("inf", "-inf"):
                state[key] = float(state[key])
            if type(state[key]) not in (int, float):
                raise SubmissionError(f"ReduceLROnPlateau's recorded {key} must be a number")
    if spec.kind == "CyclicLR" and (state["_scale_fn_custom"] is not None or state.get("mode") not in _CYCLIC_MODES):
        raise SubmissionError(f"CyclicLR is allowed only with one of its modes ({', '.join(_CYCLIC_MODES)}) "
                              "and no scale_fn")
    if spec.children:
        state["_schedulers"] = [_state(child, sub) for child, sub in zip(spec.children, scheduler._schedulers)]
    return state


def _milestones(pairs) -> collections.Counter:
    """MultiStepLR's milestones, which the worker wrote as [milestone, count] pairs."""
    if type(pairs) is not list or not all(
            type(pair) is list and len(pair) == 2 and all(type(n) is int for n in pair) for pair in pairs):
        raise SubmissionError("MultiStepLR's recorded milestones must be [milestone, count] pairs of integers")
    return collections.Counter({milestone: count for milestone, count in pairs})
