"""grader.record: the run record is a file format (`course grade --json`, the gradebook's stored records). Its keys
are pinned here, so a change is a deliberate new SCHEMA_VERSION that still reads every older record."""

import json
import math
import sqlite3

import pytest

from grader.course.options import GradeOptions, LoopOptions
from grader.gradebook import store
from grader.record import SCHEMA_VERSION, EpochRecord, GradeRequest, RunRecord, WorkerTask
from tests.gradebook_records import make_record

# The keys of RunRecord.to_dict() at SCHEMA_VERSION 2. Changing them means a new version that from_dict reads.
SCHEMA_2_KEYS = {
    "schema", "file", "sha256", "seed", "quick", "lesson", "device", "device_name", "versions", "recipe", "loop",
    "params", "params_detail", "rf", "rf_final", "report", "baseline_test_acc", "epochs", "train_loss_steps",
    "train_images", "test_images", "target", "export", "evaluator", "warnings", "sandbox", "duration", "verdict",
    "best_acc", "last_acc", "epochs_to_target",
    "init",  # added within schema 2 (how the grader drew each initial tensor): readers of any 2 ignore what they lack
    "measured_on",  # added within schema 2: "test", or "validation" for a --validate run (older records: "test")
}
EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}


def _record(**kw) -> RunRecord:
    return RunRecord.from_dict({**make_record("pinned", accs=(98.0, 99.45, 99.41)), "schema": 2, "target": 99.4, **kw})


def test_the_schema_is_pinned():
    data = _record().to_dict()
    assert SCHEMA_VERSION == 2 and data["schema"] == 2
    assert set(data) == SCHEMA_2_KEYS
    assert all(set(e) == EPOCH_KEYS for e in data["epochs"])
    json.dumps(data)  # JSON all the way down


def test_a_record_round_trips_through_json():
    record = _record()
    again = RunRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record


def test_derived_figures_are_computed_in_one_place():
    record = _record()
    assert record.test_accs == [98.0, 99.45, 99.41]
    assert (record.best_acc, record.last_acc, record.best_epoch) == (99.45, 99.41, 2)
    assert record.epochs_to_target == 2  # the first epoch at or above the 99.4 target
    assert record.epochs_to_target == record.verdict.epochs_to_target or record.verdict.epochs_to_target is None
    # a smoke run proves nothing, and a validation run measured other images than the target is about
    assert RunRecord.from_dict({**record.to_dict(), "quick": True}).epochs_to_target is None
    assert RunRecord.from_dict({**record.to_dict(), "measured_on": "validation"}).epochs_to_target is None
    older = {k: v for k, v in record.to_dict().items() if k != "measured_on"}
    assert RunRecord.from_dict(older).measured_on == "test"  # records written before --validate existed


def test_a_schema_1_record_from_course_0_1_still_loads():
    """The untyped dict of 0.1: no schema key, the worker's figures, a verified flag for the last epoch."""
    old = {**make_record("old", accs=(97.0, 99.5)), "verified": True, "evaluator_test_acc": 99.49,
           "unverified_reason": None}
    old.pop("schema", None)
    record = RunRecord.from_dict(old)
    assert record.schema == SCHEMA_VERSION and record.best_acc == 99.5
    assert record.evaluator == {"verified_last_epoch": True, "last_epoch_acc": 99.49}
    assert record.target == 99.4  # read back from the verdict's accuracy row


def test_non_finite_figures_travel_as_strings_and_come_back_as_floats():
    record = _record()
    record.epochs[0] = EpochRecord(1, float("nan"), 10.0, float("inf"), 9.8, 0.1, 1.0)
    data = json.loads(json.dumps(record.to_dict()))
    assert data["epochs"][0]["train_loss"] == "nan"
    back = RunRecord.from_dict(data)
    assert math.isnan(back.epochs[0].train_loss) and math.isinf(back.epochs[0].test_loss)


def test_a_newer_schema_is_refused_with_advice():
    with pytest.raises(ValueError, match="upgrade course"):
        RunRecord.from_dict({**_record().to_dict(), "schema": SCHEMA_VERSION + 1})


def test_the_worker_task_round_trips_and_carries_no_test_set():
    options = GradeOptions(seed=3, timeout=60, loop=LoopOptions("default"))
    task = WorkerTask("grade", "model.py", "0" * 64, "train-images", "train-labels", options=options,
                      fixed_recipe=("AUGMENT",), limits={"memory_gib": 2})
    assert WorkerTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task
    assert not any("t10k" in str(v) or "test" in k for k, v in task.to_dict().items())


def test_a_grade_request_defaults_to_the_course_target():
    request = GradeRequest(None)
    assert request.lesson is None and request.options == GradeOptions()


def test_an_old_gradebook_without_stored_records_still_loads(tmp_path):
    """A v3 gradebook (course 0.1's last) has runs but no record column: they come back with record None."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in store.MIGRATIONS[:3]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO students (name) VALUES ('alice')")
    conn.execute("INSERT INTO submissions (student_id, lesson, sha256, path, submitted_at) "
                 "VALUES (1, 'lesson1', 'ab', 'a.py', '2026-11-20T10:00:00+00:00')")
    conn.execute("INSERT INTO runs (submission_id, finished_at, grader_version, seed, quick, status, best_acc, params) "
                 "VALUES (1, '2026-11-20T10:05:00+00:00', '0.1.0', 0, 0, 'passed', 97.9, 50890)")
    conn.close()
    with store.opened(path) as c:
        assert store.schema_version(c) == store.SCHEMA_VERSION
        (run,) = store.runs(c)
    assert run["record"] is None and run["best_acc"] == 97.9 and run["student"] == "alice"
