"""The typed events of the grading channel: each kind survives its channel line, and a line that is not a
well-formed event is refused with what was wrong (tests/test_sandbox.py feeds the channel's edge hostile lines)."""

import pytest

from grader.channel import json_line, parse_event
from grader.events import (
    KINDS,
    Described,
    EpochTrained,
    EvaluatorReady,
    EventError,
    Failed,
    Loaded,
    Measured,
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
