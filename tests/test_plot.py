"""The curves PNG: drawn from a run record with or without the per-step training loss (pixels are not compared)."""

import pytest

pytest.importorskip("matplotlib")

from grader.views.plot import _steps, save_curves  # noqa: E402


def _record(n_epochs=4, steps=None):
    record = {
        "file": "/tmp/work/lesson6/model.py", "params": 13_960, "seed": 0, "device_name": "CPU (test)",
        "epochs": [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 0.8 / e, "train_acc": 90 + e, "test_acc": 91 + e}
                   for e in range(1, n_epochs + 1)],
    }
    if steps is not None:
        record["train_loss_steps"] = steps
    return record


def _png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_a_record_without_per_step_losses_is_drawn(tmp_path):
    out = save_curves(_record(), tmp_path / "curves.png", target=99.4)
    assert out == tmp_path / "curves.png" and _png(out)


def test_a_record_with_per_step_losses_is_drawn(tmp_path):
    steps = [[i / 20, 2.3 * 0.9 ** i] for i in range(1, 81)]  # 20 points per epoch over 4 epochs
    out = save_curves(_record(steps=steps), tmp_path / "curves.png", target=99.4)
    assert out is not None and _png(out)


def test_a_single_epoch_and_no_target_are_drawn(tmp_path):
    out = save_curves(_record(n_epochs=1, steps=[[0.5, 1.2], [1.0, 0.7]]), tmp_path / "one.png")
    assert out is not None and _png(out)


def test_nothing_to_draw_and_an_unwritable_folder_give_none(tmp_path):
    assert save_curves(_record(n_epochs=0), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    assert save_curves(_record(), tmp_path / "missing-folder" / "curves.png") is None


def test_malformed_per_step_pairs_are_skipped_not_fatal(tmp_path):
    assert _steps([[0.1, 2.0], [0.2], "x", [0.3, float("nan")], [0.4, -1.0], [0.5, 1.0]]) == [(0.1, 2.0), (0.5, 1.0)]
    assert _steps(None) == [] and _steps([]) == []
    out = save_curves(_record(steps=[[0.1, "2.0"], ["bad", 1]]), tmp_path / "curves.png")
    assert out is not None and _png(out)


def test_epoch_ticks_are_whole_numbers(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    seen = []
    original = plt.Figure.savefig

    def capture(fig, *args, **kwargs):
        fig.canvas.draw()
        seen.extend([t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]] for ax in fig.axes)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", capture)
    save_curves(_record(n_epochs=3, steps=[[i / 10, 1.0] for i in range(1, 31)]), tmp_path / "c.png", target=99.4)
    assert len(seen) == 2 and all(ticks and all(float(t).is_integer() for t in ticks) for ticks in seen)


def test_nan_and_inf_figures_as_a_record_stores_them_are_drawn(tmp_path):
    """A record keeps NaN and inf as strings (JSON has neither): the plot draws them as gaps, never crashes."""
    record = _record(steps=[[i / 20, 2.3 * 0.9 ** i] for i in range(1, 81)])
    record["epochs"][1].update(test_loss="nan", train_loss="inf")
    record["epochs"][2].update(test_loss=float("nan"), test_acc=0.0)
    out = save_curves(record, tmp_path / "nan.png", target=97.0)
    assert out is not None and _png(out)
    record["epochs"] = [{**e, "test_loss": "nan", "train_loss": "nan"} for e in record["epochs"]]
    assert save_curves(record, tmp_path / "all-nan.png") is not None
