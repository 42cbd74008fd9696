"""The student's state: round trip, what counts as passed, hints, and recovery from a bad file."""

import json

import pytest

from grader.state import STATE_FILE, State, StateError, VerdictRecord


def test_a_new_workspace_has_empty_state_and_saving_creates_the_file(tmp_path):
    state = State.load(tmp_path)
    assert state.current is None and state.lessons == {}
    assert not state.passed("lesson1") and state.lesson("lesson1").started is None
    state.record_start("lesson1")
    state.save()
    assert (tmp_path / STATE_FILE).is_file()
    again = State.load(tmp_path)
    assert again.current == "lesson1" and again.lesson("lesson1").started


def test_round_trip_keeps_verdicts_hints_and_passes(tmp_path):
    state = State.load(tmp_path)
    state.record_start("lesson2")
    state.record_hint("lesson2", 1)
    state.record_hint("lesson2", 1)  # shown twice, counted once
    state.record_hint("lesson2", 0)
    state.record_verdict("lesson2", VerdictRecord("check", "failed", ["max_params"], params=25_000, sha256="ab"))
    state.save()
    entry = State.load(tmp_path).lesson("lesson2")
    assert entry.hints_shown == [1, 0]
    assert entry.last.mode == "check" and entry.last.failed == ["max_params"] and entry.last.params == 25_000
    assert entry.passed is None


def test_only_a_full_passing_grade_passes_a_lesson(tmp_path):
    state = State.load(tmp_path)
    state.record_verdict("lesson1", VerdictRecord("check", "passed", params=900))
    assert not state.passed("lesson1")
    state.record_verdict("lesson1", VerdictRecord("grade", "smoke", best_acc=99.9, quick=True))
    assert not state.passed("lesson1") and state.lesson("lesson1").best_acc is None  # a subset says nothing
    state.record_verdict("lesson1", VerdictRecord("grade", "failed", ["accuracy"], best_acc=97.5))
    assert not state.passed("lesson1") and state.lesson("lesson1").best_acc == 97.5
    state.record_verdict("lesson1", VerdictRecord("grade", "passed", best_acc=98.7, when="2026-01-02T03:04:05+00:00"))
    assert state.lesson("lesson1").passed == "2026-01-02T03:04:05+00:00"
    state.record_verdict("lesson1", VerdictRecord("grade", "failed", ["accuracy"], best_acc=96.0))
    entry = state.lesson("lesson1")
    assert entry.passed and entry.best_acc == 98.7  # a later worse run neither un-passes nor lowers the best
    assert entry.last.status == "failed"


def test_forget_last_and_solution_seen(tmp_path):
    state = State.load(tmp_path)
    state.record_verdict("lesson3", VerdictRecord("check", "failed", ["bn_after_every_3x3"]))
    state.forget_last("lesson3")
    state.record_solution_seen("lesson3")
    state.save()
    entry = State.load(tmp_path).lesson("lesson3")
    assert entry.last is None and entry.solution_seen


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    state = State.load(tmp_path)
    state.record_start("lesson1")
    state.save()
    state.save()
    assert sorted(p.name for p in (tmp_path / ".course").iterdir()) == ["state.json"]
    json.loads((tmp_path / STATE_FILE).read_text())  # whole, valid JSON


def test_a_corrupt_state_file_is_an_error_that_says_what_to_do(tmp_path):
    path = tmp_path / STATE_FILE
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(StateError) as err:
        State.load(tmp_path)
    assert str(path) in str(err.value) and "delete it" in str(err.value)
    assert err.value.exit_code == 2


def test_a_newer_state_version_is_refused_and_unknown_fields_are_dropped(tmp_path):
    path = tmp_path / STATE_FILE
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 99, "lessons": {}}))
    with pytest.raises(StateError, match="newer course"):
        State.load(tmp_path)
    path.write_text(json.dumps({"version": 1, "current": "lesson1",
                                "lessons": {"lesson1": {"started": "t", "future_field": 1,
                                                        "last": {"mode": "check", "status": "passed", "later": 2}}}}))
    state = State.load(tmp_path)
    assert state.lesson("lesson1").last.status == "passed"
