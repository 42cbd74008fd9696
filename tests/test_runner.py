"""The worker process: events on their own channel, capped output, every way of dying is an error."""

import queue
import re
import time

import pytest

from grader.channel import LOG_LIMIT
from grader.course.options import GradeOptions
from grader.errors import IntegrityError, SubmissionError, TrainingError
from grader.events import Described, Phase
from grader.host import grading, phases
from grader.record import GradeRequest
from tests.unscreened import WorkerError, run_unscreened

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each


def _check(path, **kw):
    return run_unscreened(path, **kw)


def test_check_through_the_worker(submission):
    out = _check(submission("tiny"))
    assert out.result["report"]["params"] == 3818


def test_printed_fake_event_lands_in_the_log(submission):
    out = _check(submission("prints_fake_result"))
    assert '"event": "result"' in out.log  # the print went to the log ...
    assert "report" in out.result  # ... and the real result came on the channel


def test_exit_at_import_is_an_error_not_a_pass(submission):
    with pytest.raises(WorkerError, match="exited with code 0 before reporting a result"):
        _check(submission("exits"))


def test_timeout_kills_the_worker(submission):
    with pytest.raises(WorkerError, match="timed out after 3 s"):
        _check(submission("sleeps"), timeout=3)


def test_submission_errors_keep_their_kind(submission):
    with pytest.raises(SubmissionError, match="defines no Net"):
        _check(submission("no_net"))


def test_grade_errors_keep_their_kind(submission):
    with pytest.raises(TrainingError, match="diverged at epoch 1"):
        run_unscreened(submission("diverges"), mode="grade", device="cpu", quick=True)


def test_output_is_capped(tmp_path):
    noisy = tmp_path / "model.py"
    noisy.write_text("print('x' * 3_000_000)\nimport torch.nn as nn\nclass Net(nn.Module):\n    pass\n")
    with pytest.raises(SubmissionError):  # Net has no parameters
        _check(noisy)
    out = None
    noisy.write_text(
        "print('x' * 3_000_000)\nimport torch.nn as nn\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n"
        "    def forward(self, x):\n        return self.fc(x.view(x.size(0), -1))\n"
    )
    out = _check(noisy)
    assert len(out.log) == LOG_LIMIT and out.log_truncated > 2_000_000


def test_a_model_that_fails_a_static_criterion_is_not_trained(submission):
    """tiny has 3,818 parameters; a limit of 1,000 fails it before any epoch: the verdict is failed, untrained."""
    from dataclasses import replace

    from grader.course.lesson import get_lesson
    from grader.host import grading
    from grader.record import GradeRequest

    lesson1 = get_lesson("lesson1")
    small = replace(lesson1, criteria=replace(lesson1.criteria, max_params=1_000))
    quick = GradeOptions(quick=True, device="cpu")
    record = grading.grade(GradeRequest(submission("tiny"), options=quick), small).record
    assert not record.trained and record.epochs == [] and record.params == 3818
    assert record.status == "failed" and record.verdict.exit_code == 1 and "max_params" in record.verdict.failed
    assert any("--train-anyway" in w for w in record.warnings)
    asked = GradeRequest(submission("tiny"), options=replace(quick, train_anyway=True))
    trained = grading.grade(asked, small).record
    assert trained.trained and len(trained.epochs) == 1
    assert trained.status == "failed"  # training cannot lift a static failure


@pytest.mark.parametrize("name, fragment", [
    ("hangs_in_forward", "forward() did not return within 3 s on 2 images"),
    ("hangs_in_init", "Net() did not return within 3 s"),
])
def test_a_call_that_never_returns_is_named_within_seconds(submission, name, fragment, monkeypatch):
    # 3 s instead of the 10 s a check gives each call: the same path, named the same way, 14 s less of the suite
    monkeypatch.setitem(phases.BUDGETS_S, "build", 3.0)
    monkeypatch.setitem(phases.BUDGETS_S, "contract", 3.0)
    """`course check` gives each call into the submission's code its own budget (grader.host.phases), instead of
    waiting out the check's two minutes: the policy passes these files, the worker names the call that hung."""
    started = time.monotonic()
    with pytest.raises(SubmissionError, match=re.escape(fragment)):
        grading.check(GradeRequest(submission(name)), None)
    assert time.monotonic() - started < 20


def test_phase_budgets_end_with_the_worker_s_description(monkeypatch):
    """A phase runs out only before the worker has described the model; the grading's scale widens each budget."""
    monkeypatch.setitem(phases.BUDGETS_S, "contract", 0.05)
    worker, events = type("Worker", (), {"tail": lambda self: ""})(), queue.Queue()
    events.put((worker, Phase("contract")))
    with pytest.raises(SubmissionError, match=r"forward\(\) did not return within 0.1 s"):
        list(phases.Phases(time.monotonic() + 5, scale=2).watch(events, worker))
    described = Described({}, "graph.json", "constants.bin", "initial.bin")
    events.put((worker, Phase("contract")))
    events.put((worker, described))
    seen = list(phases.Phases(time.monotonic() + 0.3).watch(events, worker))
    assert seen == [(worker, described)]  # then the overall deadline, which the caller words
    events.put((worker, Phase("exfiltrate")))
    with pytest.raises(IntegrityError, match="unknown phase"):
        list(phases.Phases(time.monotonic() + 5).watch(events, worker))


def test_validate_measures_the_held_out_training_images_and_never_trains_on_them(submission, train_split):
    """--validate: the evaluator's room holds the last 5,000 training images (its first 2,000 on --quick), the
    trainer's only images before them; the record and the verdict say what was measured, and it is no pass."""
    import torch

    from grader.channel import cold_start
    from grader.mnist import VALIDATION_SIZE, split_from_files

    rooms = {}

    def launch(module, **kw):  # the data is written before any child starts: read what each room was handed
        files = sorted(kw["cwd"].glob("*-images-idx3-ubyte"))
        rooms[kw["name"]] = split_from_files(files[0], files[0].with_name(files[0].name.replace("images-idx3",
                                                                                                "labels-idx1")))
        return cold_start(module, **kw)

    request = GradeRequest(submission("tiny"), options=GradeOptions.of(quick=True, device="cpu", validate=True))
    record = grading.grade(request, None, launch=launch).record
    start = len(train_split) - VALIDATION_SIZE
    seen, trained = rooms["evaluator"], rooms["trainer"]
    assert torch.equal(seen.images, train_split.images[start : start + len(seen)])
    assert torch.equal(seen.labels, train_split.labels[start : start + len(seen)])
    assert len(trained) == record.train_images and len(trained) <= start
    assert torch.equal(trained.images, train_split.images[: len(trained)])  # all of it before the held-out part
    assert record.measured_on == "validation" and record.test_images == len(seen)
    assert record.status == "smoke" and record.verdict.criteria[-1].passed is None
    assert "validation" in record.verdict.message and record.epochs_to_target is None
