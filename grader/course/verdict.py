"""Judge a measured submission against a lesson's criteria, one criterion at a time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grader.course.lesson import Criteria
from grader.mnist import VALIDATION_SIZE

PASSED, FAILED, ERROR, SMOKE = "passed", "failed", "error", "smoke"
EXIT_CODES = {PASSED: 0, FAILED: 1, ERROR: 2, SMOKE: 0}


@dataclass
class CriterionResult:
    name: str  # the manifest's field name, so hints can answer the criterion that failed
    label: str
    measured: str
    threshold: str
    passed: bool | None  # None: not judged (e.g. accuracy on a --quick smoke run)
    weight: float = 1.0  # points on Gradescope (lesson.toml [criteria.weights]); records before weights read as 1


@dataclass
class Verdict:
    status: str  # passed | failed | error | smoke
    criteria: list[CriterionResult] = field(default_factory=list)
    epochs_to_target: int | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # what the student should fix though no criterion failed

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.criteria if c.passed is False]

    def to_dict(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code, "failed": self.failed}

    @classmethod
    def from_dict(cls, raw: dict) -> Verdict:
        """Read back what to_dict wrote (the derived exit_code and failed are recomputed, not read)."""
        criteria = [CriterionResult(**{k: c.get(k) for k in ("name", "label", "measured", "threshold", "passed")},
                                    weight=float(c.get("weight", 1.0)))
                    for c in raw.get("criteria") or []]
        return cls(raw["status"], criteria, raw.get("epochs_to_target"), raw.get("message", ""),
                   list(raw.get("warnings") or []))


def _fmt(n: int) -> str:
    return f"{n:,}"


def judge_static(criteria: Criteria, report: dict) -> list[CriterionResult]:
    """Everything that needs no training: parameters, receptive field, layers. `report` is a check report."""
    out = []
    structure = report["structure"]
    if criteria.max_params is not None:
        p = report["params"]
        out.append(CriterionResult("max_params", "Parameters", _fmt(p), f"< {_fmt(criteria.max_params)}",
                                   p < criteria.max_params))
    if criteria.min_receptive_field is not None:
        rf = report["rf"]["rf_before_global_pool"]
        out.append(
            CriterionResult(
                "min_receptive_field", f"Receptive field ({report['rf'].get('where', 'before global pooling')})",
                str(rf),
                f">= {criteria.min_receptive_field}", rf >= criteria.min_receptive_field,
            )
        )
    present = set(structure["layer_types"])
    for name in criteria.required_layers:
        out.append(CriterionResult("required_layers", f"Uses {name}", "yes" if name in present else "no",
                                   "required", name in present))
    for name in criteria.forbidden_layers:
        out.append(CriterionResult("forbidden_layers", f"No {name}", "present" if name in present else "absent",
                                   "forbidden", name not in present))
    if criteria.bn_after_every_3x3:
        flags = structure["bn_after_3x3"]
        ok = structure["bn_after_every_3x3"]
        out.append(
            CriterionResult(
                "bn_after_every_3x3", "BatchNorm after every 3x3 conv",
                f"{sum(flags)} of {len(flags)} 3x3 convs", "every 3x3 conv", ok,
            )
        )
    if criteria.max_dropout is not None:
        top = structure["max_dropout"]
        out.append(
            CriterionResult(
                "max_dropout", "Largest dropout rate", "none" if top is None else f"{top:g}",
                f"<= {criteria.max_dropout:g}", top is None or top <= criteria.max_dropout,
            )
        )
    return out


def expected_rows(criteria: Criteria) -> list[str]:
    """The criterion name of every row `judge` will produce for these criteria, in its order, before measuring."""
    names = ["max_params"] * (criteria.max_params is not None)
    names += ["min_receptive_field"] * (criteria.min_receptive_field is not None)
    names += ["required_layers"] * len(criteria.required_layers) + ["forbidden_layers"] * len(criteria.forbidden_layers)
    names += ["bn_after_every_3x3"] * criteria.bn_after_every_3x3 + ["max_dropout"] * (criteria.max_dropout is not None)
    return names + ["accuracy"] * (criteria.accuracy is not None)


def epochs_to_target(test_accs: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose test accuracy reaches the target."""
    return next((i for i, acc in enumerate(test_accs, start=1) if acc >= target), None)


def judge_accuracy(criteria: Criteria, test_accs: list[float]) -> CriterionResult:
    """Apply the `best` or `last-K` rule to the per-epoch test accuracies (percent)."""
    rule = criteria.accuracy
    if rule.last_k:
        tail = test_accs[-rule.last_k :]
        ok = len(tail) == rule.last_k and min(tail) >= rule.target
        shown = ", ".join(f"{a:.2f}" for a in tail) or "no epochs"
        return CriterionResult("accuracy", f"Test accuracy, each of the last {rule.last_k} epochs", f"{shown} %",
                               f">= {rule.target:g} %", ok)
    best = max(test_accs, default=0.0)
    return CriterionResult(
        "accuracy", f"Best test accuracy within {criteria.max_epochs} epochs", f"{best:.2f} %", f">= {rule.target:g} %",
        best >= rule.target,
    )


VALIDATION_MESSAGE = (f"validation run (--validate): measured on held-out training images (the last "
                      f"{VALIDATION_SIZE:,}), not the test set; a figure to choose a design by, never a grade")


def judge(criteria: Criteria, report: dict, test_accs: list[float] | None = None, quick: bool = False,
          validate: bool = False) -> Verdict:
    """The whole verdict: static criteria, then accuracy if the model was trained (never a pass when quick, nor
    when `validate` measured the validation split instead of the test set the rule is about)."""
    results = judge_static(criteria, report)
    to_target = None
    if criteria.accuracy is not None and test_accs is not None:
        acc = judge_accuracy(criteria, test_accs)
        if validate:
            acc.label = acc.label.replace("test accuracy", "validation accuracy").replace("Test accuracy",
                                                                                          "Validation accuracy")
        if quick or validate:
            acc.passed, acc.threshold = None, f"{acc.threshold} (not judged: {'--quick' if quick else '--validate'})"
        else:
            to_target = epochs_to_target(test_accs, criteria.accuracy.target)
        results.append(acc)
    for c in results:
        c.weight = criteria.weight(c.name)
    failed = [c for c in results if c.passed is False]
    if failed:
        status = FAILED
        message = "failed: " + "; ".join(f"{c.label} {c.measured} (needs {c.threshold})" for c in failed)
    elif validate:  # SMOKE's meaning, "trained, not graded": exit 0, never marks the lesson passed
        status, message = SMOKE, VALIDATION_MESSAGE + (" (--quick: one epoch on a subset)" if quick else "")
    elif quick:
        status, message = SMOKE, "smoke run (--quick): the model trains; grade without --quick for a verdict"
    else:
        status, message = PASSED, "passed every criterion"
    return Verdict(status, results, to_target, message)
