"""The integrity rules the parent applies to what its children report, each raising a clear error.

They read only trusted figures: the parameter count of the exported program (grader.program), the evaluator's
accuracies, and the run's own shape (how many epochs were trained and measured).
"""

from __future__ import annotations

from grader.errors import IntegrityError, SubmissionError

MAX_BASELINE_ACC = 30.0  # percent: an untrained 10-class model scores about 10 %; far above means built-in weights
OVERSIZE_FACTOR = 10  # a model this many times over the lesson's parameter limit is refused before training


def refuse_oversized(params: int, max_params: int | None) -> None:
    """Refuse, before any training, a model far over the lesson's parameter limit."""
    if max_params is not None and params > OVERSIZE_FACTOR * max_params:
        raise SubmissionError(
            f"Net has {params:,} parameters, more than {OVERSIZE_FACTOR}x the limit of {max_params:,}; the grader "
            "will not train it. Shrink the model (`course check` shows where the parameters are)"
        )


def check_baseline(test_acc: float) -> None:
    """An untrained model scores about chance; far above it means the weights were not learned here."""
    if test_acc > MAX_BASELINE_ACC:
        raise IntegrityError(
            f"not trained from scratch: the untrained model already scores {test_acc:.1f}% on the test set "
            f"(chance is about 10%, the limit {MAX_BASELINE_ACC:g}%); weights must be learned by the grader's training"
        )


def check_epochs(trained: int, recipe_epochs: int, measured: set[int], max_epochs: int, quick: bool) -> None:
    """The run is the recipe's: as many epochs as it says (at most the lesson's), each measured exactly once."""
    if quick and recipe_epochs != 1:
        raise IntegrityError(f"a --quick run trains one epoch, but this one reported {recipe_epochs}")
    if recipe_epochs > max_epochs:
        raise IntegrityError(f"the run reported {recipe_epochs} epochs; the lesson allows at most {max_epochs}")
    if trained != recipe_epochs or measured != set(range(recipe_epochs + 1)):
        raise IntegrityError(
            f"the run does not match its recipe: {recipe_epochs} epochs planned, {trained} trained, "
            f"{len(measured - {0})} measured by the evaluator; this run cannot be graded")
