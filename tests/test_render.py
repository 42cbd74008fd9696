"""The live grading view must survive a whole multi-epoch run of events (it is what every student watches)."""

import io
import re
from dataclasses import replace

import pytest
from rich.console import Console

from grader.authoring.verify import SeedRun
from grader.events import CheckReport, EpochDone, Progress, TrainStart, VerifyDone, VerifyRun
from grader.views.author import VerifyProgress
from grader.views.student import EPOCH_HEAD, GradeProgress


def _events(epochs: int):
    yield CheckReport({"params": 1234, "rf": {"rf_before_global_pool": 22}})
    yield TrainStart(epochs, 4, "CPU", "cpu", 512, False, test_images=100)
    for epoch in range(1, epochs + 1):
        for step in range(1, 5):
            yield Progress(epoch, step, 4, 0.5, 90.0)
        yield EpochDone(epoch, 0.5, 90.0, 0.4, 91.0 + epoch, 0.01, 1.0)


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


def _verify_view(terminal: bool) -> str:
    """What VerifyProgress shows of one 3-epoch run: on a terminal (the bar redrawn after every event) or in a log."""
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=terminal, width=100)
    with VerifyProgress(out) as view:
        view(VerifyRun("lesson6", "", 0, 1, 1))
        for event in _events(3):
            view(event)
            if terminal:
                view.progress.refresh()
        view(VerifyDone(SeedRun("lesson6", 0, "passed", "passed every criterion", 13960, 22, 99.51, 99.42, 15, 3,
                                "CPU", 93.0, True)))
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())


def test_verify_progress_renders_every_epoch():
    text = _verify_view(terminal=True)
    assert "[1/1] lesson6 seed 0" in text
    assert "epoch 3/3" in text and "4/4" in text  # the bar followed the run to its last epoch ...
    assert "train loss" not in text  # ... without a line per epoch, which would bury the per-run lines
    assert "lesson6 seed 0: passed  best 99.51 %  last 99.42 %  epochs to target 15  93s" in text


def test_verify_progress_in_a_log_follows_every_epoch():
    """Piped to a file, a long training must still show where it is: each epoch's step lines, not only the first's."""
    text = _verify_view(terminal=False)
    for epoch in (1, 2, 3):
        assert f"epoch {epoch}/3: step" in text
    assert "train loss" not in text


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


# ------------------------------------------------------------------------------ whole screens at 80 and 100 columns

WIDTHS = (80, 100)


def _plain(width: int, **kw) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None, **kw)


def _words_whole(text: str, shown: str) -> None:
    """Every word of `text` is on some line of `shown` in one piece: nothing was cut mid-word."""
    lines = shown.splitlines()
    for word in text.split():
        assert any(word in line for line in lines), f"{word!r} was cut:\n{shown}"


@pytest.mark.parametrize("width", WIDTHS)
def test_error_lines_wrap_between_words_under_their_label(width):
    from grader.views.console import show_error

    message = ("/home/student/course/work/lesson1/model.py:33:5: syntax error: unexpected indent (the line before "
               "ends a block; indent this line as its neighbours are)\n"
               "/home/student/course/work/lesson1/model.py:40:1: import of os: the grader lets a model import torch "
               "and math only [use torch.nn layers]")
    out = _plain(width)
    show_error(message, out)
    shown = out.file.getvalue()
    assert max(len(line) for line in shown.splitlines()) <= width
    _words_whole(message, shown)
    assert shown.startswith("error: ") and all(line.startswith(" " * 7) for line in shown.splitlines()[1:])


def test_a_pipe_gets_each_message_on_one_line(monkeypatch):
    """No terminal and no $COLUMNS: a CI log or grep sees the message whole, however long."""
    from grader.views import console as views

    monkeypatch.delenv("COLUMNS", raising=False)
    out = views.console()
    out.file = io.StringIO()
    views.say(out, "word " * 40)
    assert len(out.file.getvalue().splitlines()) == 1


def test_next_command_is_never_broken():
    from grader.views.console import next_command

    out = _plain(40)
    next_command(out, "course grade /home/student/course/work/lesson1/model.py")
    assert out.file.getvalue().splitlines() == ["Next:", "  course grade /home/student/course/work/lesson1/model.py"]


def test_the_epoch_line_fits_80_columns():
    from grader.views.student import epoch_line

    worst = EpochDone(20, train_loss=12.3456, train_acc=100.0, test_loss=10.0001, test_acc=100.0, lr=0.000123456,
                      seconds=1234.5)
    line = epoch_line(worst).plain
    assert len(EPOCH_HEAD) <= 80 and len(line) <= 80, line
    assert line.split() == ["20", "12.3456", "100.00%", "10.0001", "100.00%", "0.00012", "1234.5s"]


@pytest.mark.parametrize("width", WIDTHS)
def test_grading_lines_fit(width):
    out = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    with GradeProgress(out) as view:
        for event in _events(2):
            view(replace(event, epochs=20) if isinstance(event, TrainStart) else event)
            view.progress.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.file.getvalue())
    assert max(len(line) for line in re.split(r"[\r\n]", text)) <= width


def test_a_note_says_when_epochs_asks_for_more_than_the_lesson_trains():
    out = _plain(80)
    with GradeProgress(out, asked_epochs=5) as view:
        view(TrainStart(2, 4, "CPU (x86_64, 1 threads)", "cpu", 512, False, test_images=100))
    shown = out.file.getvalue()
    assert "note: --epochs 5 is more than this grading trains: 2 epochs" in " ".join(shown.split())
    assert "CPU (x86_64, 1 thread)" in shown


def test_the_grade_panel_says_a_file_s_epochs_were_capped():
    from grader.views.student import epoch_notes

    notes = epoch_notes({"sources": {"epochs": "submission (capped at max_epochs 20)"}}, 20, None, False)
    assert notes == ["EPOCHS in your file is above the lesson's maximum: trained 20 epochs (submission (capped at "
                     "max_epochs 20))."]
    assert epoch_notes({"sources": {"epochs": "--epochs"}}, 3, 3, False) == []
    assert epoch_notes({}, 1, 5, True) == []  # a smoke run trains one epoch whatever was asked


def _lesson_rows(tmp_path):
    from grader.course.lesson import get_lesson, lesson_ids
    from grader.gradebook.progress import VerdictRecord
    from grader.workflow import LessonRow

    rows = []
    for i, lesson in enumerate(lesson_ids()):
        on = i == 1  # the student is on the second lesson, whose last run was a failed smoke run
        last = VerdictRecord("grade", "failed", ["accuracy", "max_params"], best_acc=98.2, quick=True) if on else None
        rows.append(LessonRow(id=lesson, title=get_lesson(lesson).title, status="in progress" if on else "not started",
                              current=on, file=tmp_path / "m.py", best_acc=98.2 if on else None, target_acc=99.4,
                              max_params=20_000, last=last, hints_shown=0, hints_total=3, started=None,
                              passed_at=None, solution_seen=None))
    return rows


@pytest.mark.parametrize("width", WIDTHS)
def test_course_list_keeps_titles_to_two_lines(tmp_path, width):
    from grader.views.student import show_list
    from grader.workflow import Progress

    rows = _lesson_rows(tmp_path)
    out = _plain(width)
    show_list(Progress(rows, rows[1].id, tmp_path), out)
    lines = out.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width and "…" not in out.file.getvalue()
    head = next(line for line in lines if "title" in line and "status" in line)
    first, last = head.index("title"), head.index("status")  # the title cell's columns
    starts = [i for i, line in enumerate(lines) if re.search(r"lesson\d", line[:first])] + [len(lines) - 2]
    assert len(starts) == len(rows) + 1 and "best / goal" in head and "last run" in head
    for row, begin, end in zip(rows, starts, starts[1:]):
        cell = [line[first:last].strip() for line in lines[begin:end] if line[first:last].strip()]
        assert " ".join(cell) == row.title and len(cell) <= 2, (row.title, cell)
