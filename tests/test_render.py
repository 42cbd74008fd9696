"""The live grading view must survive a whole multi-epoch run of events (it is what every student watches)."""

import io
import re

from rich.console import Console

from grader.authoring.verify import SeedRun
from grader.views.author import VerifyProgress
from grader.views.student import EPOCH_HEAD, GradeProgress


def _events(epochs: int):
    yield {"event": "check", "report": {"params": 1234, "rf": {"rf_before_global_pool": 22}}}
    yield {"event": "start", "epochs": epochs, "steps_per_epoch": 4, "device": "CPU", "train_images": 512,
           "test_images": 100, "quick": False}
    for epoch in range(1, epochs + 1):
        for step in range(1, 5):
            yield {"event": "progress", "step": step, "steps": 4, "loss": 0.5, "acc": 90.0}
        yield {"event": "epoch", "epoch": epoch, "train_loss": 0.5, "train_acc": 90.0, "test_loss": 0.4,
               "test_acc": 91.0 + epoch, "lr": 0.01, "seconds": 1.0}


def test_grade_progress_renders_every_epoch():
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=True, width=100)
    with GradeProgress(out) as view:
        for event in _events(3):
            view(event)
            view.progress.refresh()  # render the bar after every event, as the live display would
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())  # drop the terminal's colour codes
    assert EPOCH_HEAD in text  # the header once, then a line per epoch under it
    for epoch in (1, 2, 3):
        assert re.search(rf"(?:^|\r) +{epoch}\s+0\.5000\s+90\.00%\s+0\.4000\s+{91 + epoch}\.00%", text, re.M)
    assert "epoch 3/3" in text


def test_verify_progress_renders_every_epoch():
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=True, width=100)
    with VerifyProgress(out) as view:
        view({"event": "verify-run", "lesson": "lesson6", "seed": 0, "index": 1, "total": 1})
        for event in _events(3):
            view(event)
            view.progress.refresh()
        view({"event": "verify-done", "run": SeedRun("lesson6", 0, "passed", "passed every criterion", 13960, 22,
                                                     99.51, 99.42, 15, 3, "CPU", 93.0, True)})
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert "[1/1] lesson6 seed 0" in text
    assert "epoch 3/3" in text and "4/4" in text  # the bar followed the run to its last epoch ...
    assert "train loss" not in text  # ... without a line per epoch, which would bury the per-run lines
    assert "lesson6 seed 0: passed  best 99.51 %  last 99.42 %  epochs to target 15  93s" in text


def test_lesson_text_keeps_marker_values_when_rendered():
    from grader.views.console import markdown

    out = Console(file=io.StringIO(), width=200)
    out.print(markdown("At least <!-- value: criterion:accuracy.target lessons/lesson6 -->99.4<!-- /value --> % "
                       "with fewer than <!-- value: criterion:max_params lessons/lesson6 -->20,000<!-- /value --> "
                       "parameters."))
    assert "At least 99.4 % with fewer than 20,000 parameters." in out.file.getvalue()


def test_progress_table_reads_whole_in_80_columns(tmp_path):
    from grader.gradebook.progress import VerdictRecord
    from grader.views.student import show_progress
    from grader.workflow import LessonRow, Progress

    def row(i, **kw):
        base = dict(id=f"lesson{i}", title="t", status="not started", current=False, file=tmp_path / "m.py",
                    best_acc=None, target_acc=99.4, max_params=20_000, last=None, hints_shown=0, hints_total=8,
                    started=None, passed_at=None, solution_seen=None)
        return LessonRow(**{**base, **kw})

    last = VerdictRecord("grade", "failed", ["accuracy"], best_acc=99.31, params=13_960, quick=False)
    rows = [row(1, status="passed", best_acc=99.47, passed_at="2026-11-23T10:00:00+00:00", hints_shown=2,
                started="2026-11-23T09:00:00+00:00"),
            row(2, status="in progress", current=True, last=last, best_acc=99.31, started="2026-11-23T11:00:00+00:00",
                solution_seen="2026-11-23T12:00:00+00:00")]
    buffer = io.StringIO()
    show_progress(Progress(rows, "lesson2", tmp_path), Console(file=buffer, width=80))
    text = buffer.getvalue()
    assert "…" not in text  # nothing cut off: every cell wraps or fits
    assert "→ lesson2" in text and "solution" in text and "since" in text and "13,960" in text
    assert max(len(line) for line in text.splitlines()) <= 80
