"""The grader's training loop, read the way pytorch/examples' mnist/main.py reads: `train_epoch` trains one epoch,
`fit` runs a recipe's epochs. Speed the airbench way: the data stays resident on the device as uint8, augmentation
is batched, and the running sums stay on the device (no host sync per step).

The worker never sees the test set: after each epoch `fit` hands the epoch's training figures to `on_epoch`,
and the caller writes the state the clean evaluator measures.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.course.options import LoopOptions
from grader.errors import SubmissionError, TrainingError
from grader.mnist import Split, normalize
from grader.trainer.augment import Augmenter
from grader.trainer.fused import FusedForward
from grader.trainer.graphed import Replay, unsupported
from grader.trainer.program_module import ProgramModule
from grader.trainer.recipe import PER_BATCH_SCHEDULERS, Recipe, build_optimizer, describe_optimizer, step_scheduler
from grader.trainer.step import EpochTally, loss_and_backward

DIVERGENCE_CHECK_EVERY = 50  # steps between host reads of the NaN flag: cheap, and stops a dead run early


@dataclass
class EpochStats:
    """One epoch as the worker saw it: training figures on augmented batches with dropout on (progress only)."""

    epoch: int
    train_loss: float
    train_acc: float  # percent
    lr: float  # at the end of the epoch
    seconds: float


@dataclass
class FitResult:
    epochs: list[EpochStats] = field(default_factory=list)
    optimizer: dict[str, Any] = field(default_factory=dict)  # what make_optimizer or the recipe built, for the record
    warnings: list[str] = field(default_factory=list)
    compiled: bool = False  # whether the epochs really ran through torch.compile (it falls back to eager)
    graphed: bool = False  # whether the epochs replayed a recorded CUDA graph (grader.trainer.graphed)
    channels_last: bool = False  # the memory format the epochs really used (a model may refuse the one asked for)


class _Forward:
    """The training forward: compiled when asked, falling back to eager once, with a warning, if compiling fails."""

    def __init__(self, model: torch.nn.Module, compile: bool | str, warnings: list[str]):
        self.model, self.warnings = model, warnings
        self.fn: Callable = model
        if compile:
            mode = None if compile is True else compile
            try:
                # a program the grader trains is compiled from the fx graph it writes itself (masks drawn outside)
                self.fn = (FusedForward(model, mode, _device_of(model)) if isinstance(model, ProgramModule)
                           else torch.compile(model, mode=mode))
            except Exception as exc:  # torch.compile raises many kinds; any of them means "run eagerly"
                self.fall_back(exc)

    @property
    def compiled(self) -> bool:
        return self.fn is not self.model

    def fall_back(self, exc: Exception) -> None:
        self.fn = self.model
        self.warnings.append(f"torch.compile could not handle this model ({_reason(exc)}); trained without it")


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def _reason(exc: Exception) -> str:
    """An exception in one short line, for a warning that says why the loop fell back."""
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"


@dataclass
class Loop:
    """Everything one epoch needs, built once by `fit`."""

    model: torch.nn.Module
    forward: _Forward
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    augment: Augmenter
    images: torch.Tensor  # uint8 (N, 28, 28), on the device
    labels: torch.Tensor
    batch_size: int
    generator: torch.Generator  # on the data's device, so shuffling and augmentation never leave it
    memory_format: torch.memory_format
    replay: Replay | None = None  # the recorded step, when the run replays it (LoopOptions.cuda_graph)

    @property
    def per_batch(self) -> bool:
        return isinstance(self.scheduler, PER_BATCH_SCHEDULERS)

    @property
    def steps(self) -> int:
        return steps_per_epoch(len(self.labels), self.batch_size)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of n images: a trailing batch of one image is dropped (see _batches)."""
    steps = -(-n // batch_size)
    return steps - 1 if steps > 1 and n % batch_size == 1 else steps


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The size of each batch _batches draws from n images, in order."""
    return [min(batch_size, n - i * batch_size) for i in range(steps_per_epoch(n, batch_size))]


def _shuffle(n: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _batches(n: int, batch_size: int, generator: torch.Generator, device) -> list[torch.Tensor]:
    # A trailing batch of one sample breaks BatchNorm in train mode, so it is dropped (at most 1 image).
    return list(_shuffle(n, generator, device).split(batch_size))[: steps_per_epoch(n, batch_size)]


def current_lr(optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def train_epoch(loop: Loop, epoch: int, on_step: Callable | None = None) -> EpochStats:
    """Train one epoch over a fresh shuffle; figures are read from the device once, at the end."""
    if loop.replay is not None:
        return _train_epoch_replayed(loop, epoch, on_step)
    started = time.perf_counter()
    model, optimizer = loop.model, loop.optimizer
    device = loop.images.device
    model.train()
    tally = EpochTally(device)
    lrs = []  # host-side: the lr each step used, to name it if the run diverges
    seen = 0
    for step, idx in enumerate(_batches(len(loop.labels), loop.batch_size, loop.generator, device), start=1):
        x = loop.augment.inputs(loop.images[idx], loop.generator).contiguous(memory_format=loop.memory_format)
        y = loop.labels[idx]
        lrs.append(current_lr(optimizer))
        optimizer.zero_grad(set_to_none=True)
        try:
            out, loss = loss_and_backward(loop.forward.fn, x, y)
        except SubmissionError:
            raise
        except Exception as exc:
            if not loop.forward.compiled:
                raise SubmissionError(f"training failed at epoch {epoch}, step {step} (batch of {len(idx)}): "
                                      f"{type(exc).__name__}: {exc}") from exc
            loop.forward.fall_back(exc)
            optimizer.zero_grad(set_to_none=True)
            out, loss = loss_and_backward(loop.forward.fn, x, y)
        optimizer.step()
        if loop.per_batch:
            step_scheduler(loop.scheduler, epoch, step, lrs[-1])
        tally.add(step, loss, out, y)
        seen += len(idx)
        if step % DIVERGENCE_CHECK_EVERY == 0:
            _raise_if_diverged(tally.first_bad, epoch, lrs)
        if on_step is not None:
            on_step(step, loop.steps, tally.loss_sum, tally.correct, seen)  # tensors: the caller decides when to sync
    return _end_epoch(loop, tally, epoch, seen, lrs, started)


def _train_epoch_replayed(loop: Loop, epoch: int, on_step: Callable | None) -> EpochStats:
    """train_epoch with the recorded step: the epoch's batches are augmented up front, then one replay a step."""
    started = time.perf_counter()
    replay = loop.replay
    assert replay is not None  # train_epoch sends only a loop with a recorded step here
    loop.model.train()
    replay.start_epoch(loop.images, loop.labels, _shuffle(len(loop.labels), loop.generator, loop.images.device),
                       loop.augment, loop.generator)
    lrs, seen = [], 0
    for step in range(1, loop.steps + 1):
        lrs.append(current_lr(loop.optimizer))
        seen += replay.step(step - 1)
        if loop.per_batch:
            step_scheduler(loop.scheduler, epoch, step, lrs[-1])
        if step % DIVERGENCE_CHECK_EVERY == 0:
            _raise_if_diverged(replay.tally.first_bad, epoch, lrs)
        if on_step is not None:
            on_step(step, loop.steps, replay.tally.loss_sum, replay.tally.correct, seen)
    return _end_epoch(loop, replay.tally, epoch, seen, lrs, started)


def _end_epoch(loop: Loop, tally: EpochTally, epoch: int, seen: int, lrs: list[float], started: float) -> EpochStats:
    """The epoch's figures, read from the device once; a run that diverged stops here with a TrainingError."""
    _raise_if_diverged(tally.first_bad, epoch, lrs)
    stats = EpochStats(epoch, tally.loss_sum.item() / seen, 100.0 * tally.correct.item() / seen,
                       current_lr(loop.optimizer), time.perf_counter() - started)
    if not math.isfinite(stats.train_loss):
        raise TrainingError(f"diverged at epoch {epoch}: the training loss is {stats.train_loss} (lr {stats.lr:.3g})")
    return stats


def replay_or_why(loop: Loop, record: bool = True) -> tuple[Replay | None, str | None]:
    """The recorded step for this loop, or why it trains eagerly instead (record=False: the same step, eagerly)."""
    reason = unsupported(loop.optimizer)
    if reason is None and loop.forward.compiled:
        reason = "torch.compile was asked for, and it brings its own CUDA graphs (compile mode reduce-overhead)"
    if reason is not None:
        return None, reason
    try:
        return Replay(loop.model, loop.optimizer, len(loop.labels), batch_sizes(len(loop.labels), loop.batch_size),
                      loop.images.device, loop.memory_format, record=record), None
    except SubmissionError:
        raise
    except Exception as exc:  # recording fails on host reads (.item()), CPU tensors, ...: all mean "run eagerly"
        loop.optimizer.zero_grad(set_to_none=True)
        return None, _reason(exc)


def pick_memory_format(model: torch.nn.Module, sample: torch.Tensor, options: LoopOptions,
                       warnings: list[str] | None = None) -> torch.memory_format:
    """channels_last where it is asked for and the model runs in it; else the default (contiguous) layout.

    The probe is one forward of `sample` (uint8 training images) in eval mode, with the random state put back, so
    it changes neither BatchNorm's running statistics nor the masks training will draw.
    """
    if not options.channels_last:
        return torch.contiguous_format
    x = normalize(sample)
    was_training = model.training
    model.eval()
    try:
        nhwc = torch.channels_last
        why = _forward_fails(model.to(memory_format=nhwc), x.contiguous(memory_format=nhwc))
        if why is None:
            return torch.channels_last
        model.to(memory_format=torch.contiguous_format)
        # a model that fails either way is left to the training step, which reports the student's own error
        if warnings is not None and _forward_fails(model, x) is None:
            warnings.append(f"trained in the default memory format, not channels_last: the model fails in it with "
                            f"{why}. A .view() over channels is the usual cause; .flatten(1) or .reshape() works "
                            "in both")
        return torch.contiguous_format
    finally:
        model.train(was_training)


def _forward_fails(model: torch.nn.Module, x: torch.Tensor) -> str | None:
    """Why one forward of x raises (a short line), or None; the random state is put back either way."""
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model(x)
    except Exception as exc:  # any failure means "not in this layout"
        return _reason(exc)
    return None


def build_loop(model: torch.nn.Module, recipe: Recipe, train_split: Split, device: torch.device, seed: int,
               options: LoopOptions = LoopOptions(), warnings: list[str] | None = None) -> Loop:
    """Move model and data to the device and build the optimizer and scheduler the recipe asks for."""
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)
    warnings = warnings if warnings is not None else []
    model.to(device)
    memory_format = pick_memory_format(model, train_split.images[:2].to(device), options, warnings)
    model.to(memory_format=memory_format)
    steps = steps_per_epoch(len(train_split), recipe.batch_size)
    optimizer, scheduler = build_optimizer(recipe, model, steps)
    forward = _Forward(model, options.compile, warnings)
    return Loop(model, forward, optimizer, scheduler, Augmenter(recipe.augment), train_split.images.to(device),
                train_split.labels.to(device), recipe.batch_size, generator, memory_format)


def fit(model: torch.nn.Module, recipe: Recipe, train_split: Split, device: torch.device, seed: int,
        on_epoch: Callable[[EpochStats], None] | None = None, on_step: Callable | None = None,
        options: LoopOptions = LoopOptions()) -> FitResult:
    """Train `model` for the recipe's epochs; `on_epoch` gets each epoch's figures as it ends."""
    result = FitResult()
    tally = getattr(model, "tally", None)  # a ProgramModule counts which dropout calls got the cheaper masks
    loop = build_loop(model, recipe, train_split, device, seed, options, result.warnings)
    if options.cuda_graph and device.type == "cuda":
        loop.replay, why = replay_or_why(loop)
        if why:
            result.warnings.append(f"trained without CUDA graphs (slower on a GPU): {why}")
    result.optimizer = describe_optimizer(loop.optimizer, loop.scheduler)
    result.warnings.extend(schedule_warnings(loop.scheduler, recipe.epochs, loop.steps))
    with _quiet_about_replayed_steps(loop):
        for epoch in range(1, recipe.epochs + 1):
            stats = train_epoch(loop, epoch, on_step)
            if loop.scheduler is not None and not loop.per_batch:
                step_scheduler(loop.scheduler, epoch, loop.steps, stats.lr,
                               metric=plateau_metric(loop.scheduler, stats))
            stats.lr = current_lr(loop.optimizer)
            result.epochs.append(stats)
            if on_epoch is not None:
                on_epoch(stats)
    result.compiled = loop.forward.compiled
    if tally is not None and (left := tally.warning()) is not None:
        result.warnings.append(left)
    result.channels_last = loop.memory_format == torch.channels_last
    result.graphed = loop.replay is not None and bool(loop.replay.graphs)
    return result


@contextlib.contextmanager
def _quiet_about_replayed_steps(loop: Loop) -> Iterator[None]:
    """A scheduler warns when it steps before optimizer.step() ever ran, which a replayed step never calls."""
    with warnings.catch_warnings():
        if loop.replay is not None:
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        yield


def plateau_metric(scheduler, stats: EpochStats) -> float:
    """What ReduceLROnPlateau watches: the epoch's training accuracy for mode='max', else its training loss.

    Never a test figure: the worker has none, and the test set must not steer training.
    """
    return stats.train_acc if getattr(scheduler, "mode", "min") == "max" else stats.train_loss


def schedule_warnings(scheduler, epochs: int, steps: int) -> list[str]:
    """A per-step schedule built for another length than the run: it ends early (error) or never finishes (warning)."""
    total = getattr(scheduler, "total_steps", None)
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and total is not None and total != epochs * steps:
        return [f"OneCycleLR was built for {total:,} steps but this run takes {epochs} epochs x {steps} steps = "
                f"{epochs * steps:,}: the schedule "
                + ("does not finish (training ends at a high learning rate)" if total > epochs * steps else "runs out")
                + "; build it from the steps_per_epoch and epochs that make_optimizer receives"]
    return []


def _raise_if_diverged(first_bad: torch.Tensor, epoch: int, lrs: list[float]) -> None:
    step = int(first_bad.item())
    if step >= 0:
        raise TrainingError(
            f"diverged at epoch {epoch}, step {step} (lr {lrs[step - 1]:.3g}): the loss became NaN or inf. "
            "Lower the learning rate, or check for a division or log of zero in forward()"
        )
