"""One check or grading inside the sandboxed worker: import the submission, let it describe itself, and exit.

This is the only place the submission's code runs. The worker builds `Net()`, checks the contract, exports one
training-mode program with the state the submission built (grader.worker.export), and reads the recipe as data:
EPOCHS, BATCH_SIZE, AUGMENT, INIT, and what `make_optimizer` returned (grader.worker.optimizer_data). Then it
exits; the trainer (grader.trainer) trains the program without ever importing the file. The worker holds a few
training images (for the contract check and the export's example batch) and never the test set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from grader.errors import SubmissionError
from grader.events import Described, Event, Phase
from grader.mnist import split_from_files
from grader.record import WorkerTask
from grader.trainer.recipe import resolve
from grader.trainer.train import steps_per_epoch
from grader.walls import sandbox
from grader.worker.export import CONSTANTS_FILE, GRAPH_FILE, INITIAL_FILE
from grader.worker.report import examine
from grader.worker.submission import load

MAX_INIT_BYTES = 4096  # INIT names a few schemes; more is not a declaration


def load_checked(file: str, sha256: str):
    """Import the submission, making sure it is the very file the parent's static policy passed."""
    sub = load(file)
    if sub.sha256 != sha256:
        raise SubmissionError(f"{sub.path.name} changed after it was checked; grade it again")
    return sub


def _describe(task: WorkerTask, workdir: Path, phase: Callable[[str], None]) -> Described:
    """Import the very file the parent checked, build, check and export it: the worker's one result."""
    split = split_from_files(Path(task.train_images), Path(task.train_labels))
    phase("import")
    sub = load_checked(task.file, task.sha256)
    model, report, exported = examine(sub, split, task.options.seed, workdir, phase=phase)
    described = Described(report, GRAPH_FILE, CONSTANTS_FILE, INITIAL_FILE, export=exported.info())
    if task.mode == "grade":
        recipe = resolve(sub.recipe_overrides(), task.lesson_recipe, task.max_epochs, task.options.epochs,
                         task.fixed_recipe)
        if task.options.quick:
            recipe.epochs, recipe.sources["epochs"] = 1, "--quick"
        if recipe.make_optimizer is not None:
            phase("optimizer")
            recipe.optim = _optimizer_as_data(recipe, model, steps_per_epoch(task.train_size, recipe.batch_size))
            recipe.make_optimizer = None
        described = replace(described, recipe=recipe.to_dict(),
                            init=_init_as_data(getattr(sub.module, "INIT", None)))
    return described


def _optimizer_as_data(recipe, model: torch.nn.Module, steps: int) -> dict:
    """Call make_optimizer once, on the built model, and describe what it returned as plain data."""
    from grader.worker.optimizer_data import describe

    try:
        made = recipe.make_optimizer(model, steps, recipe.epochs)
    except Exception as exc:
        raise SubmissionError(f"make_optimizer raised {type(exc).__name__}: {exc}") from exc
    return describe(made, model).to_dict()


def _init_as_data(raw) -> object:
    """INIT as JSON data (the trainer checks what it says); anything that is not plain data is refused here."""
    if raw is None:
        return None
    try:
        text = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"INIT must be plain data, like {{'conv': 'kaiming_normal'}} ({exc})") from exc
    if len(text) > MAX_INIT_BYTES:
        raise SubmissionError(f"INIT is {len(text):,} characters of data; it names a scheme per layer kind")
    return json.loads(text)


def run(task: WorkerTask, emit: Callable[[Event], None], workdir: Path) -> None:
    """Describe the submission; the walls' state goes with it for the run record."""
    sandbox.limit_memory(sandbox.Limits(**task.limits))
    # A phase event before each call into the submission's code: the parent gives each its own time budget.
    described = _describe(task, workdir, lambda name: emit(Phase(name)))
    emit(replace(described, sandbox=dict(sandbox.APPLIED)))
