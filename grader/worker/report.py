"""`course check`: build the model, hold it to the contract and measure it, in seconds and without training."""

from __future__ import annotations

from dataclasses import asdict

import torch

from grader.worker import analysis
from grader.mnist import load_split, normalize
from grader.worker.submission import Submission, build, check_contract


def contract_images(data_dir=None, n: int = 2) -> torch.Tensor:
    """The first n test images, normalised: real digits, so a NaN from e.g. log(0) shows up."""
    return normalize(load_split(train=False, data_dir=data_dir).images[:n])


def measure(sub: Submission, data_dir=None, seed: int = 0) -> tuple[torch.nn.Module, dict]:
    """(model, report): the built model and everything `course check` shows, as JSON-friendly data."""
    torch.manual_seed(seed)  # the same seed builds the same initial weights for check and grade
    model = build(sub)
    check_contract(model, contract_images(data_dir), sub.path)
    params = analysis.count_parameters(model)
    summary_text, summary_total = analysis.torchsummary_table(model)
    rf = analysis.receptive_field(model)
    report = {
        "file": str(sub.path),
        "sha256": sub.sha256,
        "params": params,
        "torchsummary": {
            "text": summary_text,
            "total": summary_total,
            "agrees": summary_total == params,
        },
        "rf": asdict(rf),
        "structure": asdict(analysis.structure(model)),
        "recipe_overrides": sorted(sub.recipe_overrides()),
    }
    return model, report
