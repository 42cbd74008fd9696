"""The typed events of the grading channel: each kind survives its channel line, and a line that is not a
well-formed event is refused with what was wrong (tests/test_sandbox.py feeds the channel's edge hostile lines)."""

import pytest

from grader.channel import json_line, parse_event
from grader.events import (
    KINDS,
    TASK_KINDS,
    BatchDone,
    BatchStart,
    CheckReport,
    Described,
    EpochDone,
    EpochTrained,
    EvaluatorReady,
    EventError,
    Failed,
    JobRetried,
    JobShown,
    JobStarted,
    Loaded,
    Measured,
    Outcome,
    Phase,
    Progress,
    StateSaved,
    TrainResult,
    TrainStart,
    ZygoteReady,
    parse,
)

EVERY_KIND = (Failed("internal", "boom", "trace"), Phase("contract"),
              Described({"params": 1}, "graph.json", "constants.bin", "initial.bin", recipe={"epochs": 1}),
              TrainStart(2, 10, "CPU", "cpu", 640, True), StateSaved(0, "state-000.bin"),
              Progress(1, 5, 10, 2.5, 12.5), EpochTrained(1, 0.5, 90.0, 0.01, 1.5, "state-001.bin"),
              TrainResult(0, False, "cpu", "CPU (x86_64, 2 threads)", {"torch": "2.x"}, {"epochs": 1},
                          {"fast_dropout": True}, {"fc.weight": "kaiming_uniform"}, 1, 640, [], {"rlimits": {}}, 2.5),
              EvaluatorReady(100, "cpu", {"rlimits": {}}, "shuffled"), Loaded(0.5, {"bytes": 1}),
              Measured(1, 0.1, 97.5, 0, 0.2), ZygoteReady(123))


def test_every_kind_is_listed_once_under_its_wire_name():
    assert sorted(KINDS) == sorted(e.EVENT for e in EVERY_KIND)


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: e.EVENT)
def test_every_event_survives_its_channel_line(event):
    """What a child emits is what the parent reads: each kind, through json_line and back."""
    assert parse_event(json_line(event)) == event


def test_an_optional_field_may_be_left_out_and_an_extra_one_is_ignored():
    assert parse({"event": "described", "report": {}, "graph": "g", "constants": "c", "initial": "i",
                  "future_field": 1}) == Described({}, "g", "c", "i")


def test_a_number_where_a_float_belongs_is_a_float_and_none_only_where_allowed():
    assert parse({"event": "loaded", "seconds": 1}).seconds == 1.0
    assert parse({"event": "progress", "epoch": 1, "step": 1, "steps": 1, "loss": None, "acc": None}).loss is None
    with pytest.raises(EventError, match="measured.test_acc is NoneType"):
        parse({"event": "measured", "epoch": 1, "test_loss": 0.1, "test_acc": None})


# ------------------------------------------------------------------------------------------------------ a batch

TASK_EVENTS = (JobStarted("ann", 1, "node-a GPU 0", "a1b2", ["0"]),
               JobShown("ann", 1, TrainStart(2, 10, "CPU", "cpu", 640, True, 100)),
               JobShown("ann", 1, Progress(1, 5, 10, float("inf"), 12.5)),
               JobShown("ann", 1, EpochDone(1, 0.5, 90.0, 0.4, 91.0, 0.01, 1.5)))


def test_what_a_ray_task_sends_is_listed_once_under_its_wire_name():
    assert sorted(TASK_KINDS) == sorted({e.EVENT for e in TASK_EVENTS})


@pytest.mark.parametrize("event", TASK_EVENTS, ids=lambda e: f"{e.EVENT}-{type(getattr(e, 'shown', e)).__name__}")
def test_what_a_ray_task_sends_survives_as_data(event):
    """A task's event reaches the head as plain data (and a float Ray carries as it is): parsed back, it is equal."""
    assert parse(event.to_dict(), TASK_KINDS) == event


def test_a_job_shows_only_what_a_grading_shows_and_says_so_when_it_is_not():
    assert parse({"event": "job", "student": "ann", "seed": 0, "device": "cpu"}, TASK_KINDS) == \
        JobStarted("ann", 0, "cpu")  # a local pool's start names no node and no GPU
    with pytest.raises(EventError, match=r"job-shown.shown is dict, not .*TrainStart \| .*Progress \| .*EpochDone"):
        parse({"event": "job-shown", "student": "ann", "seed": 0, "shown": CheckReport({}).to_dict()}, TASK_KINDS)
    with pytest.raises(EventError, match="unknown event 'done'"):  # the head's own events never come from a task
        parse(BatchDone(Outcome("ann", 0, "ann.py", "error")).to_dict(), TASK_KINDS)
    with pytest.raises(EventError, match="unknown event 'job'"):  # nor does a task's reach a grading's channel
        parse(JobStarted("ann", 0, "cpu").to_dict())


def test_a_batchs_own_events_are_data_too():
    """The head's events (never parsed: they do not leave its process) still write as plain data, e.g. for a log."""
    outcome = Outcome("ann", 0, "ann/model.py", "passed", "cpu", 3818, 97.5, 12.0, "passed", 7)
    assert BatchDone(outcome).to_dict() == {"event": "done", "outcome": {
        "student": "ann", "seed": 0, "source": "ann/model.py", "status": "passed", "device": "cpu", "params": 3818,
        "best_acc": 97.5, "duration": 12.0, "message": "passed", "run_id": 7}}
    assert BatchStart(3, 1, 2, ["cpu"], 2).to_dict() == {"event": "batch", "total": 3, "skipped": 1, "jobs": 2,
                                                          "devices": ["cpu"], "students": 2}
    assert JobRetried("ann", 0, "cpu").EVENT == "job-retry" and not isinstance(JobRetried("ann", 0, "cpu"), JobStarted)
