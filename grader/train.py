"""The grader's training loop: data resident on the device, batched augmentation, metrics read once an epoch."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from grader import integrity, speed
from grader.augment import Augmenter
from grader.data import Split, normalize, to_unit
from grader.errors import SubmissionError, TrainingError
from grader.recipe import PER_BATCH_SCHEDULERS, Recipe, build_optimizer, describe_optimizer, step_scheduler

EVAL_BATCH = 1000  # large enough to keep a GPU busy, small enough for a laptop's memory
DIVERGENCE_CHECK_EVERY = 50  # steps between host reads of the NaN flag: cheap, and stops a dead run early


@dataclass(frozen=True)
class LoopOptions:
    """Opt-in speed-ups that leave what is computed unchanged, up to float rounding."""

    # torch.compile: costs tens of seconds up front, pays off only on long GPU runs. True, or a torch.compile mode:
    # "reduce-overhead" also replays the step as CUDA graphs, which is what a small model on a fast GPU waits on.
    compile: bool | str = False
    channels_last: bool = False  # NHWC memory: can speed up cuDNN on GPUs; slower for small nets on a few CPU threads


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float  # percent
    test_loss: float
    test_acc: float  # percent
    lr: float  # learning rate at the end of the epoch
    seconds: float


@dataclass
class TrainResult:
    baseline_test_acc: float  # the untrained model's accuracy: a fresh model scores about 10 %
    epochs: list[EpochMetrics] = field(default_factory=list)
    optimizer: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Forward:
    """The training forward: compiled when asked, falling back to eager once, with a warning, if compiling fails."""

    def __init__(self, model: torch.nn.Module, compile: bool, warnings: list[str]):
        self.model, self.fn, self.warnings = model, model, warnings
        if compile:
            try:
                self.fn = torch.compile(model, mode=None if compile is True else compile)
            except Exception as exc:  # torch.compile raises many kinds; any of them means "run eagerly"
                self.fall_back(exc)

    @property
    def compiled(self) -> bool:
        return self.fn is not self.model

    def fall_back(self, exc: Exception) -> None:
        self.fn = self.model
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        self.warnings.append(f"torch.compile could not handle this model ({type(exc).__name__}: {reason}); "
                             "trained without it")


def _loss(fn, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = fn(x)
    loss = F.cross_entropy(out.float(), y)  # right for logits and log-probabilities alike
    loss.backward()
    return out, loss


def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (percent) on normalised images, in eval mode under no_grad."""
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    batch = speed.eval_batch_size(images.device)  # LOCAL WIRING (bench branch): cache-sized batches on a CPU
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x, y = images[start : start + batch], labels[start : start + batch]
            try:
                out = model(x).float()
            except Exception as exc:
                raise SubmissionError(
                    f"evaluation failed on a batch of {len(y)} test images: {type(exc).__name__}: {exc}"
                ) from exc
            loss_sum += F.cross_entropy(out, y, reduction="sum")
            correct += (out.argmax(dim=1) == y).sum()
    n = len(labels)
    return loss_sum.item() / n, 100.0 * correct.item() / n


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of n images: a trailing batch of one image is dropped (see _batches)."""
    steps = -(-n // batch_size)
    return steps - 1 if steps > 1 and n % batch_size == 1 else steps


def _batches(n: int, batch_size: int, generator: torch.Generator, device) -> list[torch.Tensor]:
    # A trailing batch of one sample breaks BatchNorm in train mode, so it is dropped (at most 1 image).
    order = torch.randperm(n, generator=generator, device=generator.device).to(device)
    return list(order.split(batch_size))[: steps_per_epoch(n, batch_size)]


def current_lr(optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def train(
    model: torch.nn.Module,
    recipe: Recipe,
    train_split: Split,
    test_split: Split,
    device: torch.device,
    seed: int,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    on_step: Callable[[int, int, torch.Tensor, torch.Tensor, int], None] | None = None,
    options: LoopOptions = LoopOptions(),
) -> TrainResult:
    """Train `model` with the recipe and evaluate on the full test split after every epoch."""
    # The generator lives on the data's device so shuffling and augmentation never leave it.
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    train_images = train_split.images.to(device)  # uint8: a quarter of the memory of floats
    train_labels = train_split.labels.to(device)
    test_images = normalize(test_split.images.to(device)).contiguous(memory_format=memory_format)
    test_labels = test_split.labels.to(device)
    augment = Augmenter(recipe.augment)

    n = len(train_labels)
    steps = steps_per_epoch(n, recipe.batch_size)
    optimizer, scheduler = build_optimizer(recipe, model, steps)
    integrity.check_optimizer(optimizer, model)
    per_batch = isinstance(scheduler, PER_BATCH_SCHEDULERS)

    _, baseline = evaluate(model, test_images, test_labels)
    integrity.check_baseline(baseline)
    hidden = integrity.snapshot(model, optimizer)  # compared once, after the last epoch
    result = TrainResult(baseline_test_acc=baseline, optimizer=describe_optimizer(optimizer, scheduler))
    forward = _Forward(model, options.compile, result.warnings)

    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        first_bad = torch.full((), -1, device=device, dtype=torch.long)  # first step with a non-finite loss
        lrs = []  # host-side: the lr each step used, to name it if the run diverges
        seen = 0
        for step, idx in enumerate(_batches(n, recipe.batch_size, generator, device), start=1):
            x = normalize(augment(to_unit(train_images[idx]), generator)).contiguous(memory_format=memory_format)
            y = train_labels[idx]
            lrs.append(current_lr(optimizer))
            optimizer.zero_grad(set_to_none=True)
            try:
                out, loss = _loss(forward.fn, x, y)
            except Exception as exc:
                if not forward.compiled:
                    raise SubmissionError(
                        f"training failed at epoch {epoch}, step {step} (batch of {len(idx)}): "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                forward.fall_back(exc)
                optimizer.zero_grad(set_to_none=True)
                out, loss = _loss(forward.fn, x, y)
            optimizer.step()
            if per_batch:
                step_scheduler(scheduler, epoch, step, lrs[-1])
            detached = loss.detach()
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(detached), step, first_bad)
            loss_sum += detached * len(idx)
            correct += (out.detach().argmax(dim=1) == y).sum()
            seen += len(idx)
            if step % DIVERGENCE_CHECK_EVERY == 0:
                _raise_if_diverged(first_bad, epoch, lrs)
            if on_step is not None:
                on_step(step, steps, loss_sum, correct, seen)  # tensors: the caller decides when to sync
        _raise_if_diverged(first_bad, epoch, lrs)
        test_loss, test_acc = evaluate(model, test_images, test_labels)
        if scheduler is not None and not per_batch:
            step_scheduler(scheduler, epoch, steps, current_lr(optimizer), metric=test_loss)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=loss_sum.item() / seen,
            train_acc=100.0 * correct.item() / seen,
            test_loss=test_loss,
            test_acc=test_acc,
            lr=current_lr(optimizer),
            seconds=time.perf_counter() - started,
        )
        if not math.isfinite(metrics.test_loss):
            raise TrainingError(f"diverged at epoch {epoch}: the test loss is {metrics.test_loss} (lr {metrics.lr:.3g})")
        result.epochs.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
    integrity.check_hidden_state(model, optimizer, hidden)
    return result


def _raise_if_diverged(first_bad: torch.Tensor, epoch: int, lrs: list[float]) -> None:
    step = int(first_bad.item())
    if step >= 0:
        raise TrainingError(
            f"diverged at epoch {epoch}, step {step} (lr {lrs[step - 1]:.3g}): the loss became NaN or inf. "
            "Lower the learning rate, or check for a division or log of zero in forward()"
        )
