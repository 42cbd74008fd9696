"""Run records shaped like api.grade's (grading.run_grade + the verdict), for gradebook tests that need no training."""

from __future__ import annotations

import hashlib

from grader.course.lesson import AccuracyRule, Criteria
from grader.course.verdict import judge

CRITERIA = Criteria(max_params=20_000, accuracy=AccuracyRule(99.4, "best"), max_epochs=20)


def report(params: int, rf: int = 30) -> dict:
    """The part of a check report that judge_static reads."""
    return {"params": params, "rf": {"rf_before_global_pool": rf, "rf_final": rf + 8},
            "structure": {"layer_types": ["Conv2d", "BatchNorm2d"], "batchnorm_after_conv": [True],
                          "bn_after_3x3": [True], "bn_after_every_3x3": True, "max_dropout": None}}


def make_record(name: str = "model", params: int = 9_000, accs=(98.0, 99.1, 99.45), lesson: str | None = "lesson6",
                seed: int = 0, quick: bool = False, file: str = "/subs/model.py", duration: float = 12.5) -> dict:
    """A finished grading of a file whose content (and so sha256) is determined by `name`."""
    accs = list(accs)
    verdict = judge(CRITERIA, report(params), accs, quick=quick)
    return {
        "file": file,
        "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "seed": seed,
        "quick": quick,
        "device": "cpu",
        "device_name": "CPU (test, 2 threads)",
        "versions": {"grader": "0.1.0", "python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1",
                     "cuda": None, "cudnn": None},
        "recipe": {"epochs": len(accs), "batch_size": 128, "optimizer": {"name": "SGD", "lr": 0.01},
                   "scheduler": None, "augment": {}, "make_optimizer": None, "sources": {}},
        "params": params,
        "rf": 30,
        "rf_final": 38,
        "report": report(params),
        "baseline_test_acc": 10.1,
        "epochs": [{"epoch": i, "train_loss": 0.1, "train_acc": a - 0.5, "test_loss": 0.05, "test_acc": a,
                    "lr": 0.01, "seconds": 1.0} for i, a in enumerate(accs, start=1)],
        "train_images": 60_000,
        "test_images": 10_000,
        "duration": duration,
        "lesson": lesson,
        "verdict": verdict.to_dict(),
    }
