"""One check or grading inside the sandboxed worker: import the submission, measure it, export it, train it.

The worker holds the training split only (the parent wrote it into the worker's directory). It reports training
figures as progress, and after every epoch writes the model's state for the clean evaluator; every figure that
decides the verdict is measured elsewhere (grader.host.grading).
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

import grader
from grader.device import device_name, pick_device
from grader.errors import IntegrityError, SubmissionError
from grader.mnist import split_from_files
from grader.record import WorkerTask
from grader.walls import sandbox
from grader.worker.export import CONSTANTS_FILE, GRAPH_FILE, changed_constants, export_batch, write_state
from grader.worker.recipe import resolve
from grader.worker.report import examine
from grader.worker.submission import load
from grader.worker.train import fit, steps_per_epoch

PROGRESS_MIN_INTERVAL_S = 0.25  # a progress event reads the GPU's running sums (a host sync): a few a second is plenty


def state_file(epoch: int) -> str:
    return f"state-{epoch:03d}.bin"


def versions(device: torch.device) -> dict:
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


def load_checked(file: str, sha256: str):
    """Import the submission, making sure it is the very file the parent's static policy passed."""
    sub = load(file)
    if sub.sha256 != sha256:
        raise SubmissionError(f"{sub.path.name} changed after it was checked; grade it again")
    return sub


def _prepare(task: WorkerTask, workdir: Path, device_type: str = "cpu"):
    """Import the very file the parent checked, then build, check and export it:
    (sub, model, split, report, exported)."""
    sub = load_checked(task.file, task.sha256)
    split = split_from_files(Path(task.train_images), Path(task.train_labels))
    model, report, exported = examine(sub, split, task.seed, workdir, export_batch(device_type))
    return sub, model, split, report, exported


def run_check(task: WorkerTask, emit: Callable[[dict], None], workdir: Path) -> None:
    """Measure the submission without training; the parent counts its parameters on the exported program."""
    sandbox.limit_memory(sandbox.Limits(**task.limits))
    _, _, _, report, exported = _prepare(task, workdir)
    emit({"event": "result", "report": report, "graph": GRAPH_FILE, "constants": CONSTANTS_FILE,
          "export": exported.info()})


def run_grade(task: WorkerTask, emit: Callable[[dict], None], workdir: Path) -> None:
    """Check, export, then train with the grader's loop, writing the state of every epoch for the evaluator."""
    started = time.perf_counter()
    device = pick_device(task.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False  # same seed, same kernels: repeatable numbers
    else:  # CUDA reserves far more address space than it uses, so only other devices get the cap
        sandbox.limit_memory(sandbox.Limits(**task.limits))
    sub, model, split, report, exported = _prepare(task, workdir, device.type)
    emit({"event": "check", "report": report, "graph": GRAPH_FILE, "constants": CONSTANTS_FILE,
          "export": exported.info()})

    recipe = resolve(sub.recipe_overrides(), task.lesson_recipe, task.max_epochs, task.epochs, task.fixed_recipe)
    if task.quick:
        recipe.epochs, recipe.sources["epochs"] = 1, "--quick"
    warnings = [f"this lesson sets {', '.join(recipe.ignored)} itself: your file's own value was not used "
                "(a later lesson lets you choose it)"] if recipe.ignored else []
    steps = steps_per_epoch(len(split), recipe.batch_size)
    emit({"event": "start", "epochs": recipe.epochs, "steps_per_epoch": steps, "device": device_name(device),
          "device_type": device.type, "train_images": len(split), "quick": task.quick})
    write_state(model, exported.graph, workdir / state_file(0), 0)
    emit({"event": "state", "epoch": 0, "state": state_file(0)})

    pacer = ProgressPacer(steps)
    epoch_now = [1]

    def on_step(step, total, loss_sum, correct, seen):
        if pacer.due(step, total):
            emit({"event": "progress", "epoch": epoch_now[0], "step": step, "steps": total,
                  "loss": loss_sum.item() / seen, "acc": 100.0 * correct.item() / seen})

    def on_epoch(stats):
        write_state(model, exported.graph, workdir / state_file(stats.epoch), stats.epoch)
        emit({"event": "epoch", **asdict(stats), "state": state_file(stats.epoch)})
        epoch_now[0] = stats.epoch + 1

    torch.manual_seed(task.seed)  # dropout masks and any randomness inside the model
    result = fit(model, recipe, split, device, task.seed, on_epoch=on_epoch, on_step=on_step, options=task.loop)
    changed = changed_constants(exported)
    if changed:
        raise IntegrityError(
            f"hidden parameters: {', '.join(changed[:3])} changed during training, but only parameters and buffers are "
            "counted and handed to the evaluator. Make it an nn.Parameter (or register_buffer) so it is counted")
    emit({"event": "result", "record": {
        "file": sub.path.name,
        "sha256": sub.sha256,
        "seed": task.seed,
        "quick": task.quick,
        "device": str(device),
        "device_name": device_name(device),
        "versions": versions(device),
        "recipe": {**recipe.to_dict(), **result.optimizer},
        "loop": {**asdict(task.loop), "channels_last": result.channels_last, "compiled": result.compiled,
                 "graphed": result.graphed},
        "epochs_trained": len(result.epochs),
        "train_images": len(split),
        "warnings": warnings + result.warnings,
        "sandbox": dict(sandbox.APPLIED),
        "duration": time.perf_counter() - started,
    }})


def run(task: WorkerTask, emit: Callable[[dict], None], workdir: Path) -> None:
    (run_check if task.mode == "check" else run_grade)(task, emit, workdir)
