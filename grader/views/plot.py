"""Loss and accuracy curves of one grading, saved as a PNG next to the submission."""

from __future__ import annotations

import math
from pathlib import Path


def save_curves(record, path: Path, target: float | None = None) -> Path | None:
    """Two panels (loss, accuracy) over epochs; returns the path, or None if there is nothing to draw.

    Epochs are whole numbers on the x axis; the target is a dashed line on the accuracy panel; a record with
    `train_loss_steps` ([epoch_fraction, loss] pairs, 1.0 = the end of epoch 1: the epoch's running mean as
    the progress reported it, about 20 points an epoch) also gets the training loss as it went, thin, under the
    per-epoch points.
    """
    if not isinstance(record, dict):  # a grader.record.RunRecord
        record = record.to_dict()
    epochs = record["epochs"]
    if not epochs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display needed: graders run on headless machines
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    xs = [e["epoch"] for e in epochs]
    series = {key: [_float(e.get(key)) for e in epochs] for key in ("train_loss", "test_loss", "train_acc", "test_acc")}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    steps = _steps(record.get("train_loss_steps"))
    if steps:
        ax_loss.plot([s[0] for s in steps], [s[1] for s in steps], color="tab:blue", linewidth=0.6, alpha=0.35,
                     label="train, running mean in the epoch")
    ax_loss.plot(xs, series["train_loss"], marker="o", color="tab:blue",
                 label="train, epoch mean" if steps else "train")
    ax_loss.plot(xs, series["test_loss"], marker="o", color="tab:orange", label="test")  # NaN: a gap in the line
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    losses = [v for v in series["train_loss"] + series["test_loss"] if math.isfinite(v)]
    if (steps and losses and min(s[1] for s in steps) > 0
            and max(s[1] for s in steps) > 4 * max(losses)):
        ax_loss.set_yscale("log")  # the first steps' loss (about 2.3) would flatten every later point
    ax_loss.legend()
    augment = (record.get("recipe") or {}).get("augment") or {}
    augmented = any(augment.get(k) is not None and augment.get(k) != [0.0, 0.0]
                    for k in ("degrees", "translate", "scale", "shear", "brightness", "contrast"))
    ax_acc.plot(xs, series["train_acc"], marker="o", color="tab:blue",
                label="train (train mode, augmented)" if augmented else "train (train mode)")
    ax_acc.plot(xs, series["test_acc"], marker="o", color="tab:orange", label="test")
    if target is not None:
        ax_acc.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g} %")
    ax_acc.set(title="Accuracy (%)", xlabel="epoch", ylabel="percent")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        # epochs are whole: a tick at each (at most about ten), never 2.5
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xticks([x for x in range(0 if steps and ax is ax_loss else min(xs), max(xs) + 1)
                       if x % max(1, len(xs) // 10) == 0])
        ax.set_xlim(left=0 if steps and ax is ax_loss else min(xs) - 0.5, right=max(xs) + 0.5)
        ax.grid(alpha=0.3)
    name = Path(record["file"]).name
    fig.suptitle(f"{name} - {record['params']:,} params, seed {record['seed']}, {record['device_name']}")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError:
        return None  # a read-only folder must not fail the grading; the CLI says no plot was written
    finally:
        plt.close(fig)
    return path


def _float(value) -> float:
    """A figure as a float: the strings a record keeps for NaN and inf ("nan", "inf") and a missing one become NaN
    (matplotlib leaves a gap), so a diverged or non-finite run still draws."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _steps(raw) -> list[tuple[float, float]]:
    """The finite (epoch_fraction, loss) pairs of a record's per-step training loss; [] when it has none."""
    pairs = []
    for item in raw or []:
        try:
            x, y = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(x) and math.isfinite(y) and y >= 0:
            pairs.append((x, y))
    return pairs
