"""One training inside the trusted trainer: draw the initial state, build the program as a module, train it with
the grader's loop, and write the state of every epoch for the clean evaluator.

The trainer holds the training split only (the parent wrote it into the trainer's directory) and reads the
program, its constants, the submission's initial values and the recipe as data. It reports training figures as
progress; every figure that decides the verdict is measured elsewhere (grader.host.grading).
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import grader
from grader import program
from grader.device import device_name, pick_device
from grader.events import EpochTrained, Event, Progress, StateSaved, TrainResult, TrainStart
from grader.interpret import check_tensors, tensors_from_file, tensors_to_file
from grader.mnist import split_from_files
from grader.record import TrainTask
from grader.trainer import speed
from grader.trainer.init import draw, parse_scheme
from grader.trainer.program_module import ProgramModule
from grader.trainer.recipe import Recipe
from grader.trainer.train import fit, steps_per_epoch
from grader.walls import sandbox

PROGRESS_MIN_INTERVAL_S = 0.25  # a progress event reads the GPU's running sums (a host sync): a few a second is plenty


def state_file(epoch: int) -> str:
    return f"state-{epoch:03d}.bin"


def versions(device: torch.device) -> dict[str, Any]:
    """Everything that could change a number: for the record of every run."""
    try:
        tv = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        tv = None
    return {
        "grader": grader.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": tv,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
    }


class ProgressPacer:
    """Which steps report progress: at most 20 an epoch, none closer than `min_interval` s, and always the last.

    Reporting reads the running sums off the device (a host sync), so a fast GPU epoch should pay for one or two,
    not twenty; a slow CPU epoch still gets its twenty updates.
    """

    def __init__(self, steps: int, min_interval: float = PROGRESS_MIN_INTERVAL_S, clock=time.perf_counter):
        self.every, self.min_interval, self.clock = max(1, steps // 20), min_interval, clock
        self.last = float("-inf")

    def due(self, step: int, total: int) -> bool:
        now = self.clock()
        if step == total or (step % self.every == 0 and now - self.last >= self.min_interval):
            self.last = now
            return True
        return False


def write_state(model: ProgramModule, path: Path, epoch: int) -> None:
    """The module's parameters and buffers under the program's names, for the evaluator."""
    tensors_to_file(path, model.state_for_graph(), {"epoch": epoch})


def build_model(task: TrainTask, fast_dropout: bool) -> tuple[ProgramModule, list[str], dict[str, str]]:
    """The program as a module, from the initial state the grader drew: (module, notes for the verdict, the rule
    that set each tensor, by target)."""
    graph = program.read_graph(Path(task.graph))
    constants = tensors_from_file(Path(task.constants), "cpu")
    submitted = tensors_from_file(Path(task.initial), "cpu")
    check_tensors(graph, submitted)
    drawn = draw(graph, submitted, task.options.seed, parse_scheme(task.init))
    model = ProgramModule(graph, constants, drawn.state, fast_dropout, speed.DropoutTally())
    return model, list(drawn.notes), dict(drawn.rules)


def run(task: TrainTask, emit: Callable[[Event], None], workdir: Path) -> None:
    """Train the program with the grader's loop, writing the state of every epoch for the evaluator."""
    started = time.perf_counter()
    device = pick_device(task.options.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False  # same seed, same kernels: repeatable numbers
    else:  # CUDA reserves far more address space than it uses, so only other devices get the cap
        sandbox.limit_memory(sandbox.Limits(**task.limits))
    recipe = Recipe.from_dict(task.recipe)
    model, notes, rules = build_model(task, task.options.loop.fast_dropout and device.type == "cpu")
    split = split_from_files(Path(task.train_images), Path(task.train_labels))
    warnings = [f"this lesson sets {', '.join(recipe.ignored)} itself: your file's own value was not used "
                "(a later lesson lets you choose it)"] if recipe.ignored else []
    warnings += notes
    steps = steps_per_epoch(len(split), recipe.batch_size)
    emit(TrainStart(recipe.epochs, steps, device_name(device), device.type, len(split), task.options.quick))
    write_state(model, workdir / state_file(0), 0)
    emit(StateSaved(0, state_file(0)))

    pacer = ProgressPacer(steps)
    epoch_now = [1]

    def on_step(step, total, loss_sum, correct, seen):
        if pacer.due(step, total):
            emit(Progress(epoch_now[0], step, total, loss_sum.item() / seen, 100.0 * correct.item() / seen))

    def on_epoch(stats):
        write_state(model, workdir / state_file(stats.epoch), stats.epoch)
        emit(EpochTrained(**asdict(stats), state=state_file(stats.epoch)))
        epoch_now[0] = stats.epoch + 1

    torch.manual_seed(task.options.seed)  # dropout masks and any randomness inside the program
    result = fit(model, recipe, split, device, task.options.seed, on_epoch=on_epoch, on_step=on_step,
                 options=task.options.loop)
    emit(TrainResult(
        seed=task.options.seed,
        quick=task.options.quick,
        device=str(device),
        device_name=device_name(device),
        versions=versions(device),
        recipe={**recipe.to_dict(), **result.optimizer},
        loop={**asdict(task.options.loop), "channels_last": result.channels_last, "compiled": result.compiled,
              "graphed": result.graphed},
        init=rules,
        epochs_trained=len(result.epochs),
        train_images=len(split),
        warnings=warnings + result.warnings,
        sandbox=dict(sandbox.APPLIED),
        duration=time.perf_counter() - started,
    ))
