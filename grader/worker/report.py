"""What `course check` shows about a model, measured in the worker: the contract and torchsummary's table (display
only). The parameter count, receptive field and layer structure are not here: the parent reads them off the exported
program (grader.program, grader.program_analysis), since what the worker measures is the submission's claim.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from grader.mnist import Split, normalize
from grader.worker import analysis
from grader.worker.export import Exported, export_program
from grader.worker.submission import Submission, build, check_contract, materialize

CONTRACT_IMAGES = 2  # real digits for the contract check: enough to catch a NaN from log(0)
EXAMPLE_BATCH = 8  # the export's example: any size above 1 (torch.export treats 0 and 1 as special) keeps it free


def inspect_model(sub: Submission, model: torch.nn.Module, images: torch.Tensor) -> dict:
    """The check report of a built model, as JSON-friendly data; `images` are real normalised digits."""
    check_contract(model, images, sub.path)
    summary_text, summary_total = analysis.torchsummary_table(model)
    return {
        "file": sub.path.name,
        "sha256": sub.sha256,
        "torchsummary": {"text": summary_text, "total": summary_total},
        "recipe_overrides": sorted(sub.recipe_overrides()),
    }


def examine(sub: Submission, split: Split, seed: int, directory: Path, batch: int = EXAMPLE_BATCH,
            phase: Callable[[str], None] = lambda name: None) -> tuple[torch.nn.Module, dict, Exported]:
    """Build the submission's Net on the CPU, check it, and export its training program into `directory`.

    `phase(name)` is called as each call into the submission's code starts ("build", "contract", "export"), so the
    parent can say which one never returned."""
    contract = normalize(split.images[:CONTRACT_IMAGES])
    torch.manual_seed(seed)  # the same seed builds the same initial weights for check and grade
    phase("build")
    model = build(sub)
    phase("contract")
    materialize(model, contract, sub.path)
    report = inspect_model(sub, model, contract)
    example = normalize(split.images[:batch])
    if len(example) < batch:  # a small split: the program's batch size is still the evaluator's
        example = torch.cat([example, example.new_zeros((batch - len(example), *example.shape[1:]))])
    phase("export")
    return model, report, export_program(model, example, directory)
