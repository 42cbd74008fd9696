"""The student's progress: kept in the workspace gradebook, saved in one transaction, migrated from state.json."""

import json
import sqlite3

import pytest

from grader.gradebook import store
from grader.gradebook.progress import LEGACY_FILE, State, StateError, VerdictRecord
from tests.gradebook_records import make_record


def test_a_new_workspace_has_empty_state_and_only_saving_creates_the_gradebook(tmp_path):
    state = State.load(tmp_path)
    assert state.current is None and state.lessons == {}
    assert not state.passed("lesson1") and state.lesson("lesson1").started is None
    assert not (tmp_path / ".course").exists()  # reading (course list, show, progress) writes nothing
    state.record_start("lesson1")
    state.save()
    assert (tmp_path / store.GRADEBOOK).is_file() and not (tmp_path / LEGACY_FILE).exists()
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
    assert entry.last.sha256 == "ab" and entry.passed is None


def test_the_progress_sits_in_the_gradebook_tables_beside_the_runs(tmp_path):
    with store.opened(tmp_path / store.GRADEBOOK) as conn:
        store.record_run(conn, make_record("a"), student="ada")
    state = State.load(tmp_path, student="ada")
    state.record_start("lesson6")
    state.record_verdict("lesson6", VerdictRecord("grade", "passed", best_acc=99.45, params=13_960))
    state.save()
    with store.opened(tmp_path / store.GRADEBOOK) as conn:
        (row,) = conn.execute("SELECT students.name, students.current_lesson, progress.lesson, progress.best_acc "
                              "FROM progress JOIN students ON students.id = progress.student_id").fetchall()
        assert tuple(row) == ("ada", "lesson6", "lesson6", 99.45)
        assert len(store.runs(conn, student="ada")) == 1  # the run recorded before is untouched


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
    state.save()
    state = State.load(tmp_path)
    state.forget_last("lesson3")
    state.record_solution_seen("lesson3")
    state.save()
    entry = State.load(tmp_path).lesson("lesson3")
    assert entry.last is None and entry.solution_seen


def test_two_commands_saving_different_lessons_both_land(tmp_path):
    """A long `course grade` loads, trains, saves; a `course hint` meanwhile must not be overwritten."""
    State.load(tmp_path).save()
    grading, hinting = State.load(tmp_path), State.load(tmp_path)
    hinting.record_hint("lesson1", 0)
    hinting.save()
    grading.record_verdict("lesson2", VerdictRecord("grade", "failed", ["accuracy"], best_acc=97.0))
    grading.save()
    both = State.load(tmp_path)
    assert both.lesson("lesson1").hints_shown == [0] and both.lesson("lesson2").best_acc == 97.0


def test_students_sharing_a_gradebook_keep_their_own_progress(tmp_path):
    for who, lesson in (("ada", "lesson1"), ("bo", "lesson4")):
        state = State.load(tmp_path, student=who)
        state.record_start(lesson)
        state.save()
    assert State.load(tmp_path, student="ada").current == "lesson1"
    assert set(State.load(tmp_path, student="bo").lessons) == {"lesson4"}


def test_a_save_that_fails_halfway_leaves_the_previous_progress_whole(tmp_path):
    state = State.load(tmp_path)
    state.record_start("lesson1")
    state.save()
    with sqlite3.connect(tmp_path / store.GRADEBOOK) as raw:  # the second row's insert will fail mid-transaction
        raw.execute("CREATE TRIGGER no_lesson2 BEFORE INSERT ON progress WHEN NEW.lesson = 'lesson2' "
                    "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    state.record_hint("lesson1", 3)
    state.record_start("lesson2")
    with pytest.raises(sqlite3.IntegrityError, match="disk trouble"):
        state.save()
    kept = State.load(tmp_path)
    assert kept.current == "lesson1" and kept.lesson("lesson1").hints_shown == [] and "lesson2" not in kept.lessons


def test_a_corrupt_gradebook_is_an_error_that_says_what_to_do(tmp_path):
    path = tmp_path / store.GRADEBOOK
    path.parent.mkdir()
    path.write_text("not a database " * 100)
    with pytest.raises(StateError) as err:
        State.load(tmp_path)
    assert str(path) in str(err.value) and "move it aside" in str(err.value)
    assert err.value.exit_code == 2


def _write_legacy(root, payload) -> None:
    path = root / LEGACY_FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))


LEGACY = {"version": 1, "current": "lesson2", "lessons": {
    "lesson1": {"started": "2026-01-01T10:00:00+01:00", "passed": "2026-01-01T11:00:00+01:00", "hints_shown": [0],
                "best_acc": 97.8, "solution_seen": None,
                "last": {"mode": "grade", "status": "passed", "failed": [], "best_acc": 97.8, "params": 8000,
                         "message": "", "quick": False, "sha256": "cd", "when": "2026-01-01T11:00:00+01:00"}},
    "lesson2": {"started": "2026-01-02T09:00:00+01:00", "hints_shown": [1, 0]},
}}


def test_a_state_json_from_an_earlier_version_is_read_then_moved_into_the_gradebook(tmp_path):
    _write_legacy(tmp_path, LEGACY)
    state = State.load(tmp_path)
    assert not (tmp_path / store.GRADEBOOK).exists()  # reading it changes nothing
    assert state.current == "lesson2" and state.passed("lesson1") and state.lesson("lesson2").hints_shown == [1, 0]
    state.record_hint("lesson2", 2)
    state.save()
    assert not (tmp_path / LEGACY_FILE).exists()
    assert json.loads((tmp_path / ".course" / "state.json.migrated").read_text()) == LEGACY  # kept, not lost
    moved = State.load(tmp_path)
    assert moved.current == "lesson2" and moved.lesson("lesson2").hints_shown == [1, 0, 2]
    assert moved.lesson("lesson1") == State.load(tmp_path).lesson("lesson1")
    assert moved.lesson("lesson1").last.params == 8000 and moved.lesson("lesson1").best_acc == 97.8


def test_a_gradebook_without_progress_still_reads_the_old_state_json(tmp_path):
    """A student who graded (runs in the gradebook) before upgrading keeps the progress of state.json."""
    with store.opened(tmp_path / store.GRADEBOOK) as conn:
        store.record_run(conn, make_record("a"))
    _write_legacy(tmp_path, LEGACY)
    assert State.load(tmp_path).passed("lesson1")


def test_a_corrupt_or_newer_state_json_is_refused_and_unknown_fields_are_dropped(tmp_path):
    _write_legacy(tmp_path, "{not json")
    with pytest.raises(StateError) as err:
        State.load(tmp_path)
    assert str(tmp_path / LEGACY_FILE) in str(err.value) and "delete it" in str(err.value)
    _write_legacy(tmp_path, {"version": 99, "lessons": {}})
    with pytest.raises(StateError, match="newer course"):
        State.load(tmp_path)
    _write_legacy(tmp_path, {"version": 1, "current": "lesson1",
                             "lessons": {"lesson1": {"started": "t", "future_field": 1,
                                                     "last": {"mode": "check", "status": "passed", "later": 2}}}})
    assert State.load(tmp_path).lesson("lesson1").last.status == "passed"
