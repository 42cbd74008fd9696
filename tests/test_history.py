"""A student's attempts, newest first, with what changed since the previous attempt at the same lesson."""

import json

import pytest
from click.testing import CliRunner

import course
from grader.errors import UsageError
from grader.gradebook import history, store
from tests.gradebook_records import make_record


def add(conn, student="alice", name="v1", **kw):
    rec = make_record(name, **kw)
    store.record_run(conn, rec, student=student)
    return rec


def test_attempts_are_newest_first_with_changes():
    conn = store.connect(":memory:")
    add(conn, name="v1", params=15_000, accs=(98.9, 99.2))
    add(conn, name="v1", lesson="lesson5")  # another lesson: not compared with lesson6's attempts
    rec = add(conn, name="v2", params=12_000, accs=(99.1, 99.45))
    rec["recipe"]["batch_size"] = 64
    store.record_run(conn, {**rec, "seed": 1}, student="alice")  # same file, new seed and batch size

    newest, second, other, first = history.attempts(conn)
    assert (first.first, first.changes) == (True, [])
    assert other.lesson == "lesson5" and other.first
    changed = {c.what: (c.before, c.after) for c in second.changes}
    assert changed["params"] == (15_000, 12_000) and changed["best accuracy"] == (99.2, 99.45)
    assert changed["status"] == ("failed", "passed") and "file" in changed
    changed = {c.what: (c.before, c.after) for c in newest.changes}
    assert changed == {"recipe batch_size": (128, 64)}  # same file, same numbers: only the recipe moved
    assert [a.lesson for a in history.attempts(conn, lesson="lesson5")] == ["lesson5"]


def test_which_student():
    conn = store.connect(":memory:")
    assert history.attempts(conn) == []
    add(conn, student="alice")
    assert history.pick_student(conn, None) == "alice"  # the only one
    add(conn, student="bob")
    with pytest.raises(UsageError, match="--student"):
        history.pick_student(conn, None)
    with pytest.raises(UsageError, match="no attempts by 'carol'"):
        history.pick_student(conn, "carol")


def test_course_history_reads_the_workspace_gradebook(tmp_path):
    with store.opened(store.workspace_gradebook(tmp_path)) as conn:
        add(conn, student=store.default_student(), name="v1", params=15_000)
        add(conn, student=store.default_student(), name="v2", params=9_000)
    runner = CliRunner()
    out = runner.invoke(course.cli, ["history", "lesson6", "--json", "--workspace", str(tmp_path)])
    assert out.exit_code == 0, out.output
    attempts = json.loads(out.output)
    assert [a["params"] for a in attempts] == [9_000, 15_000]
    assert {"what": "params", "before": 15_000, "after": 9_000} in attempts[0]["changes"]
    table = runner.invoke(course.cli, ["history", "--workspace", str(tmp_path)], env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "params 15,000 → 9,000 (-6,000)" in table.output
