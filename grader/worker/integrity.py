"""Checks around the training loop that keep the numbers honest: every trained tensor is a counted parameter,
nothing else learns on the side, and the model starts from scratch.

Each check is cheap and runs a fixed number of times per grading (never per step), so the loop stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from grader.errors import IntegrityError, SubmissionError

MAX_BASELINE_ACC = 30.0  # percent: an untrained 10-class model scores about 10 %; far above means built-in weights
OVERSIZE_FACTOR = 10  # a model this many times over the lesson's parameter limit is refused before training

# Buffers that legitimately change while training: normalisation layers' running statistics.
_NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
                nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_RUNNING_STATS = {"running_mean", "running_var", "num_batches_tracked"}


def refuse_oversized(params: int, max_params: int | None) -> None:
    """Refuse, before any training, a model far over the lesson's parameter limit."""
    if max_params is not None and params > OVERSIZE_FACTOR * max_params:
        raise SubmissionError(
            f"Net has {params:,} parameters, more than {OVERSIZE_FACTOR}x the limit of {max_params:,}; the grader "
            "will not train it. Shrink the model (`course check` shows where the parameters are)"
        )


def check_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Every tensor the optimizer updates must be one of model.parameters(), so the parameter count is honest."""
    own = {id(p) for p in model.parameters()}
    foreign = [p for group in optimizer.param_groups for p in group["params"] if id(p) not in own]
    if foreign:
        shapes = ", ".join(str(tuple(p.shape)) for p in foreign[:3])
        raise IntegrityError(
            f"hidden parameters: the optimizer updates {len(foreign)} tensor(s) that are not in model.parameters() "
            f"(shapes {shapes}); register them as nn.Parameter attributes of a module so they are counted"
        )


def check_baseline(test_acc: float) -> None:
    """An untrained model scores about chance; far above it means the weights were not learned here."""
    if test_acc > MAX_BASELINE_ACC:
        raise IntegrityError(
            f"not trained from scratch: the untrained model already scores {test_acc:.1f}% on the test set "
            f"(chance is about 10%, the limit {MAX_BASELINE_ACC:g}%); weights must be learned by the grader's training"
        )


@dataclass
class HiddenState:
    """Copies of every tensor that may not change in training, taken once before it starts."""

    tensors: dict[str, torch.Tensor]
    param_names: frozenset[str]


def _watched(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    watched = {}
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        for name, buf in module.named_buffers(recurse=False):
            if not (isinstance(module, _NORM_LAYERS) and name in _RUNNING_STATS):
                watched[f"buffer {dot}{name}"] = buf
        for name, param in module.named_parameters(recurse=False):
            if id(param) not in trained or not param.requires_grad:  # frozen: it must stay frozen
                watched[f"frozen parameter {dot}{name}"] = param
        for name, value in vars(module).items():  # tensors kept as plain attributes: not counted anywhere
            values = value if isinstance(value, (list, tuple)) else [value]
            for i, v in enumerate(values):
                if isinstance(v, torch.Tensor) and not isinstance(v, nn.Parameter):
                    key = f"{name}[{i}]" if isinstance(value, (list, tuple)) else name
                    watched[f"tensor attribute {dot}{key}"] = v
    return watched


def snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> HiddenState:
    """What check_hidden_state compares against; copies only the (usually few) watched tensors."""
    tensors = {k: v.detach().clone() for k, v in _watched(model, optimizer).items()}
    return HiddenState(tensors, frozenset(n for n, _ in model.named_parameters()))


def check_hidden_state(model: nn.Module, optimizer: torch.optim.Optimizer, before: HiddenState) -> None:
    """After training: no watched tensor changed, appeared or vanished, and the parameters are the same set."""
    added = sorted({n for n, _ in model.named_parameters()} - before.param_names)
    if added:
        raise IntegrityError(f"hidden parameters: parameters appeared during training ({', '.join(added[:3])}); "
                             "create every parameter in Net.__init__")
    now = _watched(model, optimizer)
    for key in sorted(set(now) | set(before.tensors)):
        old, new = before.tensors.get(key), now.get(key)
        same = old is not None and new is not None and old.shape == new.shape and old.dtype == new.dtype \
            and torch.equal(old, new.detach().to(old.device))
        if not same:
            raise IntegrityError(
                f"hidden parameters: {key} changed during training; only model.parameters() (trained by the "
                "optimizer) and BatchNorm's running statistics may learn. Make it an nn.Parameter, or keep it constant"
            )
