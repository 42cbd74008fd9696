"""One grading, inside the worker: measure, train with the grader's loop, return the run record."""

from __future__ import annotations

import importlib.metadata
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

import grader
from grader.walls import sandbox
from grader.worker.report import measure
from grader.mnist import load_split, normalize
from grader.device import device_name, pick_device
from grader.errors import SubmissionError
from grader.evaluator.evaluate import EXPORT_BATCH, export_model
from grader.worker.integrity import refuse_oversized
from grader.worker.recipe import resolve
from grader.worker.submission import load
from grader.worker.train import LoopOptions, steps_per_epoch, train

QUICK_TRAIN = 5_000  # images for a --quick smoke run: about a tenth of an epoch, seconds on a CPU
QUICK_TEST = 2_000
PROGRESS_MIN_INTERVAL_S = 0.25  # a progress event reads the GPU's running sums (a host sync): a few a second is plenty


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


def _limits(request: dict) -> sandbox.Limits:
    return sandbox.Limits(**(request.get("sandbox") or {}).get("limits", {}))


def _load(request: dict):
    """Import the submission, making sure it is the very file the parent's static policy passed."""
    sub = load(request["file"])
    if request.get("sha256") and sub.sha256 != request["sha256"]:
        raise SubmissionError(f"{sub.path.name} changed after it was checked; grade it again")
    return sub


def run_check(request: dict) -> dict:
    """Load and measure the submission; the report that `course check` renders."""
    sandbox.limit_memory(_limits(request))
    sub = _load(request)
    _, report = measure(sub, request.get("data_dir"), request.get("seed", 0))
    return report


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


def run_grade(request: dict, emit: Callable[[dict], None]) -> dict:
    """Load, measure, train and evaluate; stream events through `emit` and return the run record."""
    started = time.perf_counter()
    seed = int(request.get("seed", 0))
    quick = bool(request.get("quick"))
    device = pick_device(request.get("device", "auto"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False  # same seed, same kernels: repeatable numbers
    else:  # CUDA reserves far more address space than it uses, so only other devices get the cap
        sandbox.limit_memory(_limits(request))

    sub = _load(request)
    model, report = measure(sub, request.get("data_dir"), seed)
    emit({"event": "check", "report": report})
    refuse_oversized(report["params"], request.get("max_params"))

    max_epochs = int(request.get("max_epochs", 20))
    recipe = resolve(sub.recipe_overrides(), request.get("lesson_recipe"), max_epochs, request.get("epochs"))
    if quick:
        recipe.epochs, recipe.sources["epochs"] = 1, "--quick"

    train_split = load_split(train=True, data_dir=request.get("data_dir"))
    test_split = load_split(train=False, data_dir=request.get("data_dir"))
    if quick:
        train_split, test_split = train_split.subset(QUICK_TRAIN), test_split.subset(QUICK_TEST)
    steps = steps_per_epoch(len(train_split), recipe.batch_size)
    emit({"event": "start", "epochs": recipe.epochs, "steps_per_epoch": steps, "device": device_name(device),
          "device_type": device.type,
          "train_images": len(train_split), "test_images": len(test_split), "quick": quick})

    pacer = ProgressPacer(steps)

    def on_step(step, total, loss_sum, correct, seen):
        if pacer.due(step, total):
            emit({"event": "progress", "step": step, "steps": total,
                  "loss": loss_sum.item() / seen, "acc": 100.0 * correct.item() / seen})

    torch.manual_seed(seed)  # dropout masks and any randomness inside the model
    options = LoopOptions(**(request.get("loop") or {}))
    result = train(model, recipe, train_split, test_split, device, seed,
                   on_epoch=lambda m: emit({"event": "epoch", **asdict(m)}), on_step=on_step, options=options)
    # For the clean evaluator (grader.evaluator.evaluate), which re-measures the final model in a fresh process.
    example = normalize(test_split.images[:EXPORT_BATCH]).to(device)
    workdir = Path((request.get("sandbox") or {}).get("workdir") or Path.cwd())
    export = export_model(model, example, workdir)
    return {
        "file": str(sub.path),
        "sha256": sub.sha256,
        "seed": seed,
        "quick": quick,
        "device": str(device),
        "device_name": device_name(device),
        "versions": versions(device),
        "recipe": {**recipe.to_dict(), **result.optimizer},
        "params": report["params"],
        "rf": report["rf"]["rf_before_global_pool"],
        "rf_final": report["rf"]["rf_final"],
        "report": report,
        "baseline_test_acc": result.baseline_test_acc,
        "epochs": [asdict(m) for m in result.epochs],
        "train_images": len(train_split),
        "test_images": len(test_split),
        "export": export,
        "loop": asdict(options),
        "warnings": result.warnings,
        "sandbox": dict(sandbox.APPLIED),
        "duration": time.perf_counter() - started,
    }
