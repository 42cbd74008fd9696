"""Read what the submission's make_optimizer returned as plain data (grader.optim_spec), in the worker.

Only torch's own classes, by exact type, are described: the trusted trainer rebuilds them from this data
(grader.trainer.optimizer) and never runs the submission's code. Whatever cannot be written as data (a
subclass, a lambda, a tensor that is not one of the model's parameters, a hook) is refused here, by name.
"""

from __future__ import annotations

import collections
import copy
import functools
import math

import torch

from grader.errors import SubmissionError
from grader.optim_spec import (
    OPTIMIZERS,
    SCHEDULERS,
    SEQUENTIAL_CHILDREN,
    GroupSpec,
    OptimizerSpec,
    OptimSpec,
    SchedulerSpec,
    check_plain,
)

_OPTIMIZER_CLASSES = {getattr(torch.optim, name): name for name in OPTIMIZERS}
_SCHEDULER_CLASSES = {getattr(torch.optim.lr_scheduler, name): name for name in SCHEDULERS}
_HOOKS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
          "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
          "_optimizer_load_state_dict_post_hooks")
_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def describe(made, model: torch.nn.Module) -> OptimSpec:
    """make_optimizer's result (an optimizer or (optimizer, scheduler)) as an OptimSpec over `model`'s names."""
    optimizer, scheduler = made if isinstance(made, tuple) and len(made) == 2 else (made, None)  # as the recipe
    kind = _optimizer_kind(optimizer)
    _check_fresh(optimizer)
    names = _parameter_names(model)
    buffers = {id(tensor): name for name, tensor in model.named_buffers(remove_duplicate=False)}
    held: dict[str, int] = {}
    groups = tuple(_group(group, index, names, buffers, held) for index, group in enumerate(optimizer.param_groups))
    defaults = _hyper(optimizer.defaults, "the optimizer's defaults")
    spec = OptimizerSpec(kind, groups, defaults)
    sched = _scheduler(scheduler, optimizer, SCHEDULERS) if scheduler is not None else None
    canonical = list(dict.fromkeys(names.values()))
    return OptimSpec(spec, sched, tuple(name for name in canonical if name not in held),
                     tuple(name for name, p in model.named_parameters() if not p.requires_grad))


def _optimizer_kind(optimizer) -> str:
    kind = _OPTIMIZER_CLASSES.get(type(optimizer))  # exact type: a subclass's own step would not be rebuilt
    if kind is not None:
        return kind
    allowed = f"allowed: torch.optim.{', '.join(OPTIMIZERS)}"
    name = type(optimizer).__name__
    if type(optimizer) is torch.optim.LBFGS:
        raise SubmissionError(f"make_optimizer returned LBFGS, whose step needs a closure the grader's loop does "
                              f"not give; {allowed}")
    if isinstance(optimizer, torch.optim.Optimizer):
        base = next((f"torch.optim.{n}" for cls, n in _OPTIMIZER_CLASSES.items() if isinstance(optimizer, cls)),
                    "torch.optim.Optimizer")
        raise SubmissionError(f"make_optimizer returned {name}, a subclass of {base}: the grader trains with "
                              f"torch's own classes, exactly; {allowed}")
    raise SubmissionError(f"make_optimizer must return an optimizer or (optimizer, scheduler) from torch.optim, "
                          f"got {name}; {allowed}")


def _check_fresh(optimizer) -> None:
    """Refuse an optimizer that already stepped or carries code (hooks, a replaced method)."""
    if getattr(optimizer, "_opt_called", False) or _stepped(optimizer):
        raise SubmissionError("make_optimizer stepped the optimizer (it holds state a fresh one lacks): return it "
                              "fresh, the grader's loop steps it")
    for hooks in _HOOKS:
        if getattr(optimizer, hooks, None):
            raise SubmissionError(f"make_optimizer registered a hook on the optimizer ({hooks.strip('_')}): "
                                  "hooks are code, and the grader trains from data only")
    for attr, value in vars(optimizer).items():
        if callable(value) and not _scheduler_step_wrapper(optimizer, attr, value):
            raise SubmissionError(f"make_optimizer replaced the optimizer's {attr} with its own code: "
                                  "the grader trains with torch's own optimizer, unchanged")


def _stepped(optimizer) -> bool:
    """Whether the optimizer has state a fresh one lacks (the trainer's starts fresh: this state would be lost)."""
    if type(optimizer) is not torch.optim.Adagrad:
        return any(optimizer.state.values())
    # Adagrad fills its state when built: step 0, and sums at the initial_accumulator_value it reads from defaults
    fill = optimizer.defaults["initial_accumulator_value"]
    for state in optimizer.state.values():
        if state and (set(state) != {"step", "sum"} or float(state["step"]) != 0):
            return True
        if state and not bool((state["sum"] == fill).all()):
            raise SubmissionError("make_optimizer changed the Adagrad's sums: they start at its "
                                  "initial_accumulator_value, the one setting of them a submission gives")
    return False


def _scheduler_step_wrapper(optimizer, attr: str, value) -> bool:
    """Whether `value` is the wrapper torch's LRScheduler puts on optimizer.step (it only counts calls)."""
    return (attr == "step" and getattr(value, "_wrapped_by_lr_sched", False)
            and getattr(value, "__wrapped__", None) is type(optimizer).step)


def _parameter_names(model: torch.nn.Module) -> dict[int, str]:
    """id(parameter) -> its canonical name: a tied parameter's first name in named_parameters()."""
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), name)
    return names


def _group(group: dict, index: int, names: dict[int, str], buffers: dict[int, str],
           held: dict[str, int]) -> GroupSpec:
    params = []
    for tensor in group["params"]:
        name = names.get(id(tensor))
        if name is None:
            raise SubmissionError(_foreign(tensor, buffers))
        if name in held:
            raise SubmissionError(f"make_optimizer put {name} into the optimizer twice (groups {held[name]} and "
                                  f"{index}): each parameter may be in one group, once")
        held[name] = index
        params.append(name)
    hyper = _hyper({k: v for k, v in group.items() if k != "params"}, f"param group {index}")
    return GroupSpec(tuple(params), hyper)


def _foreign(tensor, buffers: dict[int, str]) -> str:
    """The message for a tensor in a group that is not one of the model's parameters."""
    if id(tensor) in buffers:
        return (f"make_optimizer put {buffers[id(tensor)]}, a buffer, into the optimizer: only the model's "
                "parameters may be trained")
    shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
    return (f"make_optimizer put a tensor of shape {shape} that is not one of the model's parameters into the "
            "optimizer: only the model's parameters (model.parameters()) may be trained")


def _hyper(hyper: dict, where: str) -> dict:
    """A group's (or the defaults') hyperparameters, checked to be plain data; tuples become lists for JSON."""
    for key, value in hyper.items():
        if isinstance(value, torch.Tensor):
            raise SubmissionError(f"{where}: {key} is a tensor; give it as a plain number (lr=0.01, not "
                                  "torch.tensor(0.01))")
    if hyper.get("differentiable"):
        raise SubmissionError(f"{where}: differentiable=True is not allowed: the grader's loop does not "
                              "differentiate through the optimizer's step")
    check_plain(hyper, where)
    return {key: list(value) if type(value) is tuple else value for key, value in hyper.items()}


def _scheduler(scheduler, optimizer, allowed: tuple[str, ...]) -> SchedulerSpec:
    kind = _scheduler_kind(scheduler, allowed)
    if scheduler.optimizer is not optimizer:
        raise SubmissionError(f"the {kind} make_optimizer returned schedules another optimizer than the one it "
                              "returned: build the scheduler on that optimizer")
    if kind == "CyclicLR":
        _check_cyclic(scheduler)
    children: tuple[SchedulerSpec, ...] = ()
    state = scheduler.state_dict()
    if kind == "SequentialLR":
        state.pop("_schedulers")
        children = tuple(_scheduler(child, optimizer, SEQUENTIAL_CHILDREN) for child in scheduler._schedulers)
    state = _encode_state(kind, state)
    check_plain(state, f"the {kind}'s state")
    return SchedulerSpec(kind, copy.deepcopy(state), children)  # a copy: the live lists change as it steps


def _scheduler_kind(scheduler, allowed: tuple[str, ...]) -> str:
    kind = _SCHEDULER_CLASSES.get(type(scheduler))  # exact type, as for the optimizer
    if kind in allowed:
        return kind
    where = "make_optimizer returned" if allowed is SCHEDULERS else "SequentialLR chains"
    name = type(scheduler).__name__
    if kind is not None:
        reason = "a scheduler SequentialLR cannot chain"
    elif type(scheduler) in (torch.optim.lr_scheduler.LambdaLR, torch.optim.lr_scheduler.MultiplicativeLR):
        reason = "its rate comes from a function, which the grader does not run"
    elif isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        reason = ("several schedulers stepped together" if type(scheduler) is torch.optim.lr_scheduler.ChainedScheduler
                  else "not one of torch's own classes, exactly")
    else:
        reason = "not a scheduler from torch.optim.lr_scheduler"
    raise SubmissionError(f"{where} {name}: {reason}; allowed: torch.optim.lr_scheduler.{', '.join(allowed)}")


def _check_cyclic(scheduler) -> None:
    """CyclicLR is data only with a built-in mode: no scale_fn of the student's, none swapped in afterwards."""
    cls = torch.optim.lr_scheduler.CyclicLR
    ref = getattr(scheduler, "_scale_fn_ref", None)
    built_in = (ref is cls._triangular_scale_fn or ref is cls._triangular2_scale_fn
                or type(ref) is functools.partial and ref.func is cls._exp_range_scale_fn
                and ref.args == (scheduler.gamma,) and not ref.keywords)
    if scheduler._scale_fn_custom is not None or scheduler.mode not in _CYCLIC_MODES or not built_in:
        raise SubmissionError("CyclicLR with a scale_fn of its own is not allowed (a function decides the rate); "
                              f"use one of its modes: {', '.join(_CYCLIC_MODES)}")


def _encode_state(kind: str, state: dict) -> dict:
    """The state_dict values JSON cannot hold as they are, as data the trainer decodes back."""
    if kind == "MultiStepLR" and type(state.get("milestones")) is collections.Counter:
        # a Counter's keys are ints, JSON's are strings: keep the [milestone, count] pairs in order
        state["milestones"] = [[milestone, count] for milestone, count in state["milestones"].items()]
    if kind == "ReduceLROnPlateau":
        # no metric seen yet is an infinite `best`: JSON has no infinity, so it is named
        for key in ("best", "mode_worse"):
            value = state.get(key)
            if type(value) is float and math.isinf(value):
                state[key] = "inf" if value > 0 else "-inf"
    return state
