"""What a comparison's per-seed figures allow a sentence to say: mean ± spread, and "within noise" or "ahead by N
standard errors", worded from the numbers so that a re-run cannot leave a claim they no longer support.

The noise of one model's mean accuracy has two parts: seed to seed (the sample standard deviation of its runs)
and the test set's own sampling (the binomial standard deviation of an accuracy measured on N images). With two
or three seeds the sample deviation can come out far below what the test set alone imposes, so each model's
variance is the larger of the two, divided by its number of seeds; the difference's standard error adds the two
models' variances. A difference under WITHIN standard errors is within noise.

Used by `course docs`' `noise:FIELD:FILE` marker (SOURCE a lesson folder: the lesson's solution against FILE,
one of its `[verify]` extras, on the seeds and device they share).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WITHIN = 2.0  # standard errors: below it a gap is what chance alone gives about one time in twenty
# A run that ends at or below this (percent) never learned: chance on ten classes is 10 %, and one digit for every
# image scores at most 11.35 % of MNIST's test set. Its figure is another kind of outcome, not a wide spread around
# the others: it is counted apart and left out of the means, which a sentence then says.
NEVER_LEARNED = 20.0
FIELDS = ("best", "last")  # which per-seed figure a comparison reads: the best epoch's, or the last epoch's


@dataclass(frozen=True)
class Spread:
    """One model's per-seed accuracies (percent) on a test set of `images` images."""

    values: tuple[float, ...]
    images: int

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def sd(self) -> float | None:
        """Sample standard deviation between seeds (None with one seed: unknown)."""
        if self.n < 2:
            return None
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def binomial_sd(self) -> float:
        """Points of spread the test set's sampling alone gives one run at this accuracy."""
        p = min(max(self.mean / 100, 0.0), 1.0)
        return 100 * math.sqrt(p * (1 - p) / self.images)

    @property
    def se(self) -> float:
        """Standard error of the mean: the larger of the seed and the test-set variance, over the seeds."""
        return math.sqrt(max(self.sd or 0.0, self.binomial_sd) ** 2 / self.n)

    def text(self) -> str:
        """'99.41 ± 0.05' (mean ± sample sd between seeds), or the bare mean of one seed."""
        return f"{self.mean:.2f}" if self.sd is None else f"{self.mean:.2f} ± {self.sd:.2f}"


def standard_errors(a: Spread, b: Spread) -> float:
    """a's lead over b in standard errors of the difference (negative when b leads)."""
    return (a.mean - b.mean) / math.sqrt(a.se ** 2 + b.se ** 2)


def conclusion(a_name: str, a: Spread, b_name: str, b: Spread) -> str:
    """'within noise (0.04 points, 0.7 standard errors)' or '<leader> ahead by 2.6 standard errors (0.12 points)'."""
    z = standard_errors(a, b)
    gap = abs(round(a.mean, 2) - round(b.mean, 2))  # the rounded means the sentence shows, subtracted
    if abs(z) < WITHIN:
        return f"within noise ({gap:.2f} points, {abs(z):.1f} standard errors)"
    leader = a_name if z > 0 else b_name
    return f"{leader} ahead by {abs(z):.1f} standard errors ({gap:.2f} points)"


def learned(values) -> list[int]:
    """Indices of the runs that learned (above NEVER_LEARNED)."""
    return [i for i, v in enumerate(values) if v > NEVER_LEARNED]


def _failures(name: str, spread: Spread) -> str:
    failed = [v for v in spread.values if v <= NEVER_LEARNED]
    worst = ", ".join(f"{v:.2f}" for v in failed)
    return f"{name} never learned on {len(failed)} of {spread.n} seeds ({worst} %, chance level)"


def sentence(a_name: str, a: Spread, b_name: str, b: Spread) -> str:
    """The whole comparison: both means with their spread and seeds, then the conclusion they allow. Runs that never
    learned are named first and left out of the means."""
    a_ok, b_ok = (Spread(tuple(s.values[i] for i in learned(s.values)), s.images) for s in (a, b))
    notes = [_failures(name, s) for name, s, ok in ((a_name, a, a_ok), (b_name, b, b_ok)) if ok.n < s.n]
    if not a_ok.n or not b_ok.n:
        return "; ".join(notes) + ": nothing left to compare"
    seeds = f"{a_ok.n} seeds each" if a_ok.n == b_ok.n else f"{a_ok.n} and {b_ok.n} seeds"
    if a_ok.n == 1 and b_ok.n == 1:
        seeds = (f"1 seed{' each' if not notes else ''}: the spread between seeds is unknown, only the test set's "
                 "sampling is counted")
    lead = "; ".join(notes) + "; on the others, " if notes else ""
    return (f"{lead}{a_name} {a_ok.text()} % against {b_name} {b_ok.text()} % ({seeds}): "
            f"{conclusion(a_name, a_ok, b_name, b_ok)}")


def cell(values) -> str:
    """A table cell: '99.41 ± 0.05' over several seeds, the bare mean over one (runs that learned only; '-' if none
    did)."""
    kept = tuple(values[i] for i in learned(values))
    return Spread(kept, 1).text() if kept else "-"


def marker(compared, spec: str, images: int) -> str:
    """`noise:FIELD:FILE`: the lesson's solution (compared[0]) against FILE, one of its comparison's files.

    `compared` is docs.Values.comparison's list (same seeds, same device). Raises ValueError naming what is wrong.
    """
    field, _, file = spec.partition(":")
    if field not in FIELDS or not file:
        raise ValueError(f"noise:{spec} must be noise:FIELD:FILE with FIELD one of {', '.join(FIELDS)} and FILE "
                         "one of the lesson's [verify] extras (noise:last:solutions/lesson6/compare_constant_lr.py)")
    other = next((c for c in compared[1:] if c.file == file), None)
    if other is None:
        raise ValueError(f"{file} is not in the lesson's comparison ([verify] extras: "
                         f"{', '.join(c.file for c in compared[1:])})")
    solution = compared[0]
    name = f"`{file.rsplit('/', 1)[-1]}`"
    return sentence("the solution", Spread(tuple(getattr(solution, field)), images),
                    name, Spread(tuple(getattr(other, field)), images))
