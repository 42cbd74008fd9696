"""A model's learning-rate schedule, simulated as the grader's loop would step it, and the figures `course docs`
reads off it (schedule:FIELD, onecycle:ARG, lr_levers): the optimizer and scheduler are built, never trained."""

from __future__ import annotations

import math
from dataclasses import dataclass

from grader.errors import CourseError, DocsError

SCHEDULE_FIELDS = ("steps_per_epoch", "total_steps", "built_steps", "start_lr", "peak_lr", "peak_epoch", "final_lr",
                   "start_momentum", "peak_momentum", "tail_lr")
ONECYCLE_ARGS = ("max_lr", "div_factor", "final_div_factor", "pct_start", "anneal_strategy", "cycle_momentum",
                 "base_momentum", "max_momentum")
TAIL_EPOCHS = 3  # "the last epochs": as many as lesson 7's last-3 rule judges


def plain(value) -> str:
    """A value as prose prints it: on/off, thousands separators, floats without trailing zeros."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class Schedule:
    """A model's learning rate and momentum at every optimizer step, as the grader's loop would step them."""

    source: str
    steps_per_epoch: int
    epochs: int
    lrs: list[float]
    momenta: list[float | None]
    onecycle: dict | None  # the OneCycleLR arguments it was built with (None: another or no scheduler)
    built_steps: int | None = None  # the steps a OneCycleLR was built for (a hard-coded count can differ)


def lr_schedule(sub, lesson, train_images: int, source: str) -> Schedule:
    """Build the model's optimizer and scheduler exactly as training would, and step through the whole run."""
    import warnings

    import torch

    from grader.trainer.recipe import PER_BATCH_SCHEDULERS, build_optimizer, resolve
    from grader.trainer.train import steps_per_epoch
    from grader.worker.submission import build

    recipe = resolve(sub.recipe_overrides(), lesson.recipe, lesson.criteria.max_epochs)
    steps = steps_per_epoch(train_images, recipe.batch_size)
    try:
        model = build(sub)
        optimizer, scheduler = build_optimizer(recipe, model, steps)
    except CourseError as exc:
        raise DocsError(f"{source}: {exc}") from exc
    onecycle = _onecycle_args(scheduler, recipe.epochs, steps)
    lrs, momenta = [], []
    group = optimizer.param_groups[0]
    per_batch = isinstance(scheduler, PER_BATCH_SCHEDULERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": no training happens here
        for epoch in range(recipe.epochs):
            for step in range(steps):
                lrs.append(float(group["lr"]))
                momenta.append(float(group["momentum"]) if "momentum" in group else None)
                last = epoch == recipe.epochs - 1 and step == steps - 1
                if per_batch and not last:
                    scheduler.step()
            if scheduler is not None and not per_batch and not isinstance(
                    scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step()
    built = scheduler.total_steps if onecycle is not None else None
    return Schedule(source, steps, recipe.epochs, lrs, momenta, onecycle, built)


def _onecycle_args(scheduler, epochs: int, steps: int) -> dict | None:
    import torch

    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return None
    group = scheduler.optimizer.param_groups[0]
    return {
        "max_lr": group["max_lr"],
        "div_factor": group["max_lr"] / group["initial_lr"],
        "final_div_factor": group["initial_lr"] / group["min_lr"],
        "pct_start": round((scheduler._schedule_phases[0]["end_step"] + 1) / scheduler.total_steps, 4),
        "anneal_strategy": scheduler._anneal_func_type,
        "cycle_momentum": scheduler.cycle_momentum,
        "base_momentum": group.get("base_momentum", 0.85),
        "max_momentum": group.get("max_momentum", 0.95),
        "epochs": epochs,
        "steps_per_epoch": steps,
    }


def _onecycle_run(args: dict) -> Schedule:
    """A bare OneCycleLR with these arguments on a one-weight SGD, stepped through every step."""
    import torch

    args = dict(args)
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=args["max_lr"], momentum=0.9)
    epochs, steps = args.pop("epochs"), args.pop("steps_per_epoch")
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, epochs=epochs, steps_per_epoch=steps, **args)
    group, lrs, momenta = optimizer.param_groups[0], [], []
    for i in range(epochs * steps):
        lrs.append(float(group["lr"]))
        momenta.append(float(group["momentum"]))
        if i < epochs * steps - 1:
            optimizer.step()
            scheduler.step()
    return Schedule("", steps, epochs, lrs, momenta, {**args, "epochs": epochs, "steps_per_epoch": steps})


def _sig(x: float) -> str:
    """Two significant digits, plain: 0.0051, 0.1, 1e-06 stays 0.000001."""
    text = f"{x:.2g}"
    if "e" in text:
        text = f"{float(text):.{max(0, -math.floor(math.log10(abs(x))) + 1)}f}".rstrip("0").rstrip(".")
    return text


def _tail_mean(s: Schedule) -> float:
    tail = s.lrs[-TAIL_EPOCHS * s.steps_per_epoch:]
    return sum(tail) / len(tail)


def schedule_field(s: Schedule, name: str) -> str:
    """One figure of a model's schedule; learning rates with two significant digits."""
    if name not in SCHEDULE_FIELDS:
        raise DocsError(f"unknown schedule field {name!r}; known: {', '.join(SCHEDULE_FIELDS)}")
    peak = max(range(len(s.lrs)), key=s.lrs.__getitem__)
    if name in ("start_momentum", "peak_momentum"):
        m = s.momenta[0 if name == "start_momentum" else peak]
        if m is None:
            raise DocsError(f"{s.source}'s optimizer has no momentum")
        return f"{m:g}"
    return {
        "steps_per_epoch": lambda: f"{s.steps_per_epoch:,}",
        "total_steps": lambda: f"{len(s.lrs):,}",
        "built_steps": lambda: _built(s),
        "start_lr": lambda: _sig(s.lrs[0]),
        "peak_lr": lambda: _sig(s.lrs[peak]),
        "peak_epoch": lambda: str(peak // s.steps_per_epoch + 1),
        "final_lr": lambda: _sig(s.lrs[-1]),
        "tail_lr": lambda: _sig(_tail_mean(s)),
    }[name]()


def _built(s: Schedule) -> str:
    if s.built_steps is None:
        raise DocsError(f"{s.source} does not build a OneCycleLR")
    return f"{s.built_steps:,}"


def onecycle_arg(s: Schedule, name: str) -> str:
    """One argument of the OneCycleLR the model builds, read back from the built scheduler."""
    if s.onecycle is None:
        raise DocsError(f"{s.source} does not build a OneCycleLR")
    if name not in ONECYCLE_ARGS:
        raise DocsError(f"unknown OneCycleLR argument {name!r}; known: {', '.join(ONECYCLE_ARGS)}")
    return plain(s.onecycle[name])


def lr_levers(s: Schedule) -> str:
    """Markdown: the model's OneCycle schedule and what changing one argument at a time does to it."""
    if s.onecycle is None:
        raise DocsError(f"{s.source} does not build a OneCycleLR; lr_levers compares OneCycle arguments")
    base = s.onecycle
    variants = [
        ("final_div_factor", base["final_div_factor"] * 100),
        ("pct_start", round(base["pct_start"] / 2, 4)),
        ("max_lr", base["max_lr"] / 2),
        ("epochs", max(1, base["epochs"] * 3 // 4)),
    ]
    lines = [f"| one change | peak lr (epoch) | last lr | mean lr, last {TAIL_EPOCHS} epochs |",
             "|---|---:|---:|---:|"]
    reference = _tail_mean(s)

    def row(label: str, run: Schedule) -> str:
        peak = max(range(len(run.lrs)), key=run.lrs.__getitem__)
        tail = _tail_mean(run)
        change = "" if run is s else f" ({(tail / reference - 1) * 100:+.0f} %)".replace("-", "−")
        return (f"| {label} | {_sig(run.lrs[peak])} ({peak // run.steps_per_epoch + 1}) | {_sig(run.lrs[-1])} | "
                f"{_sig(tail)}{change} |")

    lines.append(row("none (as built)", s))
    for name, value in variants:
        if value == base[name]:
            continue  # a one-epoch run has no shorter run to compare with
        args = {k: v for k, v in base.items()}
        args[name] = value
        lines.append(row(f"{name} {plain(base[name])} → {plain(value)}", _onecycle_run(args)))
    return "\n".join(lines)
