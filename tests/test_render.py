"""The live grading view must survive a whole multi-epoch run of events (it is what every student watches)."""

import io
import re

from rich.console import Console

from grader.render import GradeProgress, VerifyProgress


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
    for epoch in (1, 2, 3):
        assert f"epoch  {epoch}  train loss" in text
    assert "epoch 3/3" in text


def test_verify_progress_renders_every_epoch():
    out = Console(file=io.StringIO(), force_terminal=True, width=100)
    with VerifyProgress(out) as view:
        for event in _events(3):
            view(event)
            view.progress.refresh()


def test_lesson_text_keeps_marker_values_when_rendered():
    from grader.render import markdown

    out = Console(file=io.StringIO(), width=200)
    out.print(markdown("At least <!-- value: criterion:accuracy.target lessons/lesson6 -->99.4<!-- /value --> % "
                       "with fewer than <!-- value: criterion:max_params lessons/lesson6 -->20,000<!-- /value --> "
                       "parameters."))
    assert "At least 99.4 % with fewer than 20,000 parameters." in out.file.getvalue()
