"""The training recipe: what the submission set, filled in from the lesson's defaults, then built-in ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch

from grader.course.lesson import COURSE_MAX_EPOCHS
from grader.course.options import epoch_budget
from grader.errors import SubmissionError, TrainingError
from grader.trainer.augment import AugmentConfig

# Schedulers whose schedule is written in optimizer steps, not epochs: stepped after every batch.
PER_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)


@dataclass
class Recipe:
    epochs: int = COURSE_MAX_EPOCHS  # the course target's budget
    batch_size: int = 128  # what the seed write-ups used; small enough for BN noise to help
    # the seeds' plain baseline
    # None: make_optimizer builds it (the worker turns that into `optim`)
    optimizer: dict[str, Any] | None = field(default_factory=lambda: {"name": "SGD", "lr": 0.01, "momentum": 0.9})
    scheduler: dict[str, Any] | None = None  # none unless the lesson or submission asks: lesson 6 teaches OneCycle
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # off: augmentation is lesson 6's topic
    # the submission's own function, in the worker only: it becomes `optim`
    make_optimizer: Callable[..., Any] | None = None
    # what make_optimizer returned, as data (grader.optim_spec); replaces optimizer/scheduler
    optim: dict[str, Any] | None = None
    sources: dict[str, str] = field(default_factory=dict)  # field -> "submission", "lesson" or "default"
    ignored: list[str] = field(default_factory=list)  # the submission's names the lesson fixes, left unused

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: the recipe actually used, for the run record."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "augment": self.augment.to_dict(),
            "make_optimizer": "submission" if self.make_optimizer or self.optim else None,
            "optim": self.optim,
            "sources": self.sources,
            "ignored": self.ignored,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Recipe:
        """The recipe the worker resolved, as the trainer receives it (every value checked again here)."""
        try:
            return cls(epochs=_positive_int(raw["epochs"], "EPOCHS"),
                       batch_size=_batch_size(raw["batch_size"]),
                       optimizer=raw.get("optimizer"), scheduler=raw.get("scheduler"),
                       augment=AugmentConfig.from_dict(raw.get("augment")), optim=raw.get("optim"),
                       sources=dict(raw.get("sources") or {}), ignored=list(raw.get("ignored") or []))
        except (KeyError, TypeError, AttributeError) as exc:
            raise SubmissionError(f"the worker described a malformed recipe ({exc})") from exc


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SubmissionError(f"{name} must be a positive integer, got {value!r}")
    return value


def _batch_size(value) -> int:
    batch_size = _positive_int(value, "BATCH_SIZE")
    if batch_size > 8192:
        raise SubmissionError(f"BATCH_SIZE {batch_size} is too large; use at most 8192 (128 is typical)")
    return batch_size


def resolve(overrides: dict[str, Any], lesson_recipe: dict[str, Any] | None, max_epochs: int,
            epochs_flag: int | None = None, fixed: tuple[str, ...] = ()) -> Recipe:
    """Merge submission overrides (EPOCHS, BATCH_SIZE, AUGMENT, make_optimizer) over lesson defaults.

    EPOCHS is capped by the lesson's max_epochs; --epochs (epochs_flag) caps it further for a shorter run. Names in
    `fixed` are the lesson's to set (its `may_change` leaves them out): a submission's own value is ignored.
    """
    ignored = sorted(name for name in overrides if name in fixed)
    overrides = {k: v for k, v in overrides.items() if k not in fixed}
    lesson_recipe = lesson_recipe or {}
    base = Recipe()
    sources = {}

    def pick(sub_name, lesson_key, default):
        if sub_name and sub_name in overrides:
            sources[lesson_key] = "submission"
            return overrides[sub_name]
        if lesson_key in lesson_recipe:
            sources[lesson_key] = "lesson"
            return lesson_recipe[lesson_key]
        sources[lesson_key] = "default"
        return default

    epochs = _positive_int(pick("EPOCHS", "epochs", max_epochs), "EPOCHS")
    if epochs > max_epochs:
        epochs, sources["epochs"] = max_epochs, f"{sources['epochs']} (capped at max_epochs {max_epochs})"
    if epochs_flag is not None:
        epochs, sources["epochs"] = min(epochs, epoch_budget(max_epochs, _positive_int(epochs_flag, "--epochs"))), \
            "--epochs"
    batch_size = _batch_size(pick("BATCH_SIZE", "batch_size", base.batch_size))
    augment_raw = pick("AUGMENT", "augment", None)
    if augment_raw is not None and not isinstance(augment_raw, dict):
        raise SubmissionError(f"AUGMENT must be a dict like {{'degrees': 10}}, got {type(augment_raw).__name__}")
    augment = AugmentConfig.from_dict(augment_raw)
    make_opt = overrides.get("make_optimizer")
    if make_opt is not None:
        if not callable(make_opt):
            raise SubmissionError("make_optimizer must be a function make_optimizer(model, steps_per_epoch, epochs)")
        sources["optimizer"] = sources["scheduler"] = "submission"
        optimizer, scheduler = None, None
    else:
        optimizer = pick(None, "optimizer", base.optimizer)
        scheduler = pick(None, "scheduler", None)
    return Recipe(epochs, batch_size, optimizer, scheduler, augment, make_optimizer=make_opt, sources=sources,
                  ignored=ignored)


def build_optimizer(recipe: Recipe, model: torch.nn.Module, steps_per_epoch: int):
    """(optimizer, scheduler or None) from what make_optimizer returned (as data), the submission's own function
    (tests and benchmarks that train a module directly), or the recipe's specs."""
    if recipe.optim is not None:
        from grader.optim_spec import OptimSpec
        from grader.trainer.optimizer import build

        # a ProgramModule: only the trainer's own module carries `optim`, described by the worker
        return build(OptimSpec.from_dict(recipe.optim), cast(Any, model).named_by_target())
    if recipe.make_optimizer is not None:
        try:
            made = recipe.make_optimizer(model, steps_per_epoch, recipe.epochs)
        except Exception as exc:
            raise SubmissionError(f"make_optimizer raised {type(exc).__name__}: {exc}") from exc
        optimizer, scheduler = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise SubmissionError(
                "make_optimizer must return an optimizer or (optimizer, scheduler); "
                f"got {type(made).__name__}"
            )
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise SubmissionError(f"the scheduler returned by make_optimizer has no step(): {type(scheduler).__name__}")
        return optimizer, scheduler
    from grader.trainer.optimizer import build_default

    if recipe.optimizer is None:
        raise SubmissionError("the recipe names no optimizer and has no make_optimizer")
    return build_default(recipe.optimizer, recipe.scheduler, dict(model.named_parameters()), recipe.epochs,
                         steps_per_epoch)


def describe_optimizer(optimizer, scheduler) -> dict[str, Any]:
    """What was actually built, for the record: class names and the first group's hyperparameters."""
    group = {k: v for k, v in optimizer.param_groups[0].items()
             if k != "params" and isinstance(v, (int, float, bool, str, tuple, type(None)))}
    return {
        "optimizer": type(optimizer).__name__,
        "optimizer_args": group,
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "scheduler_per_batch": isinstance(scheduler, PER_BATCH_SCHEDULERS),
    }


def step_scheduler(scheduler, epoch: int, step: int, lr: float, metric: float | None = None) -> None:
    """Step a scheduler; an exception (e.g. OneCycleLR past total_steps) becomes a clear TrainingError."""
    try:
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if metric is None:
                raise ValueError("ReduceLROnPlateau steps on the epoch's metric, and none was given")
            scheduler.step(metric)
        else:
            scheduler.step()
    except Exception as exc:
        raise TrainingError(
            f"the scheduler {type(scheduler).__name__} raised at epoch {epoch}, step {step} (lr {lr:.3g}): {exc}. "
            "For OneCycleLR, total_steps must be at least epochs * steps_per_epoch: use the arguments "
            "make_optimizer receives"
        ) from exc
