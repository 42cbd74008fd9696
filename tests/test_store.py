"""The gradebook: schema and migrations, one transaction per run, concurrent writers, killed gradings."""

import multiprocessing
import os
import signal
import sqlite3

import pytest

from grader.gradebook import store
from tests.gradebook_records import make_record


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def conn():
    c = store.connect(":memory:")
    yield c
    c.close()


def test_a_new_gradebook_has_the_current_schema(conn):
    assert store.schema_version(conn) == store.SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"students", "submissions", "runs", "epochs", "meta"} <= tables


def test_a_file_gradebook_uses_wal(tmp_path):
    with store.opened(tmp_path / "g.sqlite") as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] == store.BUSY_TIMEOUT_S * 1000


def test_a_run_round_trips_with_its_epochs(conn):
    rec = make_record("alice-v1", params=9_000, accs=(98.0, 99.1, 99.45))
    run_id = store.record_run(conn, rec, student="alice", source="subs/alice.zip", epochs_limit=None)
    (run,) = store.runs(conn)
    assert run["id"] == run_id and run["student"] == "alice" and run["source"] == "subs/alice.zip"
    assert (run["status"], run["params"], run["rf"]) == ("passed", 9_000, 30)
    assert (run["best_acc"], run["last_acc"], run["epochs_to_target"]) == (99.45, 99.45, 3)
    assert run["sha256"] == rec["sha256"] and run["lesson"] == "lesson6" and run["seed"] == 0
    assert (run["torch_version"], run["torchvision_version"], run["grader_version"]) == ("2.14.1", "0.29.1", "0.1.0")
    assert run["device_name"] == "CPU (test, 2 threads)" and run["recipe"]["batch_size"] == 128
    assert [c["name"] for c in run["verdict"]["criteria"]] == ["max_params", "accuracy"]
    assert [e["test_acc"] for e in store.epochs(conn, run_id)] == [98.0, 99.1, 99.45]


def test_the_same_file_graded_twice_is_one_submission_with_two_runs(conn):
    rec = make_record("same")
    store.record_run(conn, rec, student="alice")
    store.record_run(conn, {**rec, "seed": 1}, student="alice")
    assert (count(conn, "students"), count(conn, "submissions"), count(conn, "runs")) == (1, 1, 2)


def test_an_error_is_a_run_with_its_message(conn, tmp_path):
    bad = tmp_path / "model.py"
    bad.write_text("class Net(:\n")
    run_id = store.record_error(conn, file=bad, lesson="lesson2", seed=0, message="syntax error", kind="submission",
                                student="bob")
    (run,) = store.runs(conn)
    assert run["id"] == run_id and run["status"] == "error" and run["error_kind"] == "submission"
    assert run["message"] == "syntax error" and run["params"] is None and store.epochs(conn, run_id) == []
    assert store.record_error(conn, file=tmp_path / "gone.py", lesson=None, seed=0, message="x") is None


def test_a_quick_run_can_never_be_stored_as_a_pass(conn):
    rec = make_record("cheat", quick=False)
    rec["quick"] = True  # a smoke run whose verdict claims a pass
    with pytest.raises(sqlite3.IntegrityError):
        store.record_run(conn, rec, student="mallory")
    assert (count(conn, "students"), count(conn, "submissions"), count(conn, "runs")) == (0, 0, 0)


def test_an_exception_between_start_and_end_leaves_no_record(conn):
    rec = make_record("broken")
    with pytest.raises(KeyError), store.transaction(conn):  # as grader.workflow records a run and its progress
        store.add_run(conn, rec, student="alice")
        assert count(conn, "runs") == 1
        raise KeyError("progress")
    counts = (count(conn, "students"), count(conn, "submissions"), count(conn, "runs"), count(conn, "epochs"))
    assert counts == (0, 0, 0, 0)


def _killed_mid_write(path: str) -> None:
    conn = store.connect(path)
    conn.execute("BEGIN IMMEDIATE")
    store._insert_run(conn, "alice", "f" * 64, "a.py", store.utc_stamp(), "lesson1",
                      {"finished_at": store.utc_stamp(), "grader_version": "0.1.0", "seed": 0, "quick": 0,
                       "status": "passed", "best_acc": 99.5}, [{"epoch": 1, "test_acc": 99.5}])
    os.kill(os.getpid(), signal.SIGKILL)  # dies holding the write lock, before COMMIT


def test_a_process_killed_mid_write_leaves_no_record(tmp_path):
    path = str(tmp_path / "g.sqlite")
    store.connect(path).close()
    proc = multiprocessing.get_context("spawn").Process(target=_killed_mid_write, args=(path,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    with store.opened(path) as c:
        assert count(c, "runs") == 0 and count(c, "students") == 0
        store.record_run(c, make_record("next"), student="bob")  # the lock died with the process
        assert count(c, "runs") == 1


def _writer(path: str, student: str, start, n: int) -> None:
    conn = store.connect(path)
    start.wait()
    for i in range(n):
        store.record_run(conn, make_record(f"{student}-{i}", seed=i), student=student)
    conn.close()


def test_two_processes_writing_at_once_both_land(tmp_path):
    path, n = str(tmp_path / "g.sqlite"), 25
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, name, start, n)) for name in ("alice", "bob")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with store.opened(path) as c:
        assert count(c, "runs") == 2 * n and count(c, "epochs") == 2 * n * 3
        assert store.students(c) == ["alice", "bob"]


# The first gradebook schema, as a v1 release wrote it: copied here on purpose, never imported from store.
V1_SCHEMA = """
CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE submissions (id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL REFERENCES students(id), lesson TEXT,
    sha256 TEXT NOT NULL, path TEXT NOT NULL, submitted_at TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL REFERENCES submissions(id),
    finished_at TEXT NOT NULL, grader_version TEXT NOT NULL, torch_version TEXT, torchvision_version TEXT,
    cuda_version TEXT, device_name TEXT, seed INTEGER NOT NULL, quick INTEGER NOT NULL, recipe TEXT,
    status TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'smoke', 'error')), verdict TEXT, params INTEGER,
    rf INTEGER, best_acc REAL, last_acc REAL, epochs_to_target INTEGER, duration REAL, message TEXT,
    CHECK (status <> 'passed' OR (quick = 0 AND best_acc IS NOT NULL)));
CREATE TABLE epochs (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL, lr REAL, seconds REAL, PRIMARY KEY (run_id, epoch));
INSERT INTO students VALUES (1, 'alice');
INSERT INTO submissions VALUES (1, 1, 'lesson6', 'abc123', 'subs/alice.py', '2024-01-01T00:00:00+00:00');
INSERT INTO runs (id, submission_id, finished_at, grader_version, seed, quick, status, params, best_acc, last_acc,
    epochs_to_target) VALUES (1, 1, '2024-01-01T00:10:00+00:00', '0.1.0', 0, 0, 'passed', 12000, 99.42, 99.40, 15);
INSERT INTO epochs VALUES (1, 1, 0.3, 95.0, 0.1, 97.0, 0.01, 30.0);
PRAGMA user_version = 1;
"""


def test_a_v1_gradebook_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.close()
    with store.opened(path) as c:
        assert store.schema_version(c) == store.SCHEMA_VERSION
        (run,) = store.runs(c)
        assert (run["student"], run["params"], run["best_acc"], run["status"]) == ("alice", 12000, 99.42, "passed")
        assert run["epochs_limit"] is None and run["error_kind"] is None  # columns v2 added
        key = store.RunKey("alice", "abc123", "lesson6", 0, quick=False, epochs_limit=None, grader_version="0.1.0")
        assert store.find_run(c, key) == 1
        store.record_run(c, make_record("new"), student="alice")
        assert len(store.runs(c, student="alice")) == 2
        assert store.salt(c)  # the meta table v2 added works
        assert store.load_progress(c, "alice") == (None, {})  # v3's progress table, empty until the student works
        with store.transaction(c):
            store.write_progress(c, "alice", "lesson6", {"lesson6": {k: None for k in store.PROGRESS_COLUMNS}
                                                         | {"hints_shown": "[2]"}})
        current, rows = store.load_progress(c, "alice")
        assert current == "lesson6" and rows["lesson6"]["hints_shown"] == "[2]"


def test_a_gradebook_locked_too_long_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "g.sqlite"
    holder = store.connect(path)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write, for longer than we wait
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)
    waiter = store.connect(path)
    with pytest.raises(store.GradebookError, match="cannot write the gradebook .*locked"):
        store.record_run(waiter, make_record("x"), student="alice")
    holder.execute("ROLLBACK")
    store.record_run(waiter, make_record("x"), student="alice")  # and nothing half-done blocks the next write
    assert count(waiter, "runs") == 1


def test_a_newer_gradebook_is_refused_not_misread(tmp_path):
    path = tmp_path / "new.sqlite"
    c = sqlite3.connect(path)
    c.execute("PRAGMA user_version = 99")
    c.close()
    with pytest.raises(store.GradebookError, match="newer than this course"):
        store.connect(path)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database, " * 100)
    with pytest.raises(store.GradebookError, match="not a gradebook"):
        store.connect(path)


def test_the_resume_key_tells_runs_apart(conn):
    rec = make_record("k", seed=1)
    store.record_run(conn, rec, student="alice", epochs_limit=None)
    key = store.RunKey("alice", rec["sha256"], "lesson6", 1, quick=False, epochs_limit=None)
    assert store.find_run(conn, key) is not None
    for other in (dict(student="bob"), dict(seed=0), dict(quick=True), dict(epochs_limit=3),
                  dict(lesson="lesson5"), dict(grader_version="9.9")):
        assert store.find_run(conn, store.RunKey(**{**key.__dict__, **other})) is None, other


# ------------------------------------------------------------------------------ runs in the caller's transaction


def test_a_run_and_an_error_join_the_callers_transaction(tmp_path):
    from grader.record import RunRecord

    rec = RunRecord.from_dict(make_record("tiny"))
    db = tmp_path / "g.sqlite"
    with store.opened(db) as c, store.transaction(c):
        run_id = store.add_run(c, rec, student="alice", source="subs/alice.py")
        error_id = store.add_error(c, file=rec.file, lesson="lesson6", seed=0, message="diverged", kind="training",
                                   student="alice", sha256=rec.sha256)
        assert c.in_transaction  # neither committed on its own
    with store.opened(db) as c:
        run, error = sorted(store.runs(c), key=lambda r: r["id"])
    assert (run["id"], error["id"]) == (run_id, error_id)
    assert run["student"] == "alice" and run["source"] == "subs/alice.py" and run["status"] == rec.status
    assert run["record"].to_dict() == rec.to_dict()  # the whole record comes back, typed
    assert error["status"] == "error" and error["error_kind"] == "training"
