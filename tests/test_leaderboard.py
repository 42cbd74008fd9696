"""Ranking: one row per student per lesson, best passing run else best run, the documented order."""

import pytest

from grader.gradebook import leaderboard, store
from tests.gradebook_records import make_record


@pytest.fixture
def conn():
    c = store.connect(":memory:")
    yield c
    c.close()


def add(conn, student, name, submitted="2024-01-01T00:00:00+00:00", **kw) -> int:
    return store.record_run(conn, make_record(name, **kw), student=student, submitted_at=submitted)


def order(rows) -> list[str]:
    return [r.student for r in rows]


def test_the_ranking_order(conn):
    add(conn, "passes_late", "a", params=15_000, accs=(99.0, 99.0, 99.5))
    add(conn, "passes_small", "b", params=8_000, accs=(99.41,))
    add(conn, "fails_tiny", "c", params=2_000, accs=(98.0,))  # fewest params, but failed: after every pass
    add(conn, "same_params_more_acc", "d", params=15_000, accs=(99.6,))
    add(conn, "same_acc_faster", "e", params=15_000, accs=(99.4, 99.5))  # reaches the target in epoch 1
    add(conn, "same_acc_slower", "f", params=15_000, accs=(99.0, 99.5))
    add(conn, "earlier", "g", "2023-12-31T00:00:00+00:00", params=15_000, accs=(99.0, 99.5))
    rows = leaderboard.build(conn)
    assert order(rows) == ["passes_small", "same_params_more_acc", "same_acc_faster", "earlier", "same_acc_slower",
                           "passes_late", "fails_tiny"]
    assert [r.rank for r in rows] == list(range(1, 8))


def test_a_student_stands_on_their_best_passing_run(conn):
    add(conn, "alice", "v1", params=5_000, accs=(99.0,))  # fewer params but failed
    passing = add(conn, "alice", "v2", params=12_000, accs=(99.3, 99.45))
    add(conn, "alice", "v3", params=12_000, accs=(99.41,), seed=1)  # passes too, lower accuracy
    (row,) = leaderboard.build(conn)
    assert (row.run_id, row.status, row.attempts, row.curve) == (passing, "passed", 3, [99.3, 99.45])


def test_without_a_pass_the_best_run_stands(conn):
    add(conn, "bob", "v1", params=30_000, accs=(99.5,))  # too many params
    better = add(conn, "bob", "v2", params=25_000, accs=(99.0,))
    (row,) = leaderboard.build(conn)
    assert row.run_id == better and row.status == "failed" and row.failed == ["max_params", "accuracy"]


def test_an_error_ranks_last(conn, tmp_path):
    add(conn, "alice", "a", accs=(97.0,))
    f = tmp_path / "model.py"
    f.write_text("x")
    store.record_error(conn, file=f, lesson="lesson6", seed=0, message="no Net", student="carl")
    assert order(leaderboard.build(conn)) == ["alice", "carl"]


def test_each_lesson_is_ranked_on_its_own_in_lesson_order(conn):
    add(conn, "alice", "a10", lesson="lesson10")
    add(conn, "alice", "a2", lesson="lesson2")
    add(conn, "bob", "b2", lesson="lesson2", params=100)
    rows = leaderboard.build(conn)
    assert [(r.lesson, r.rank, r.student) for r in rows] == [("lesson2", 1, "bob"), ("lesson2", 2, "alice"),
                                                            ("lesson10", 1, "alice")]
    assert order(leaderboard.build(conn, lesson="lesson10")) == ["alice"]


def test_pseudonyms_are_stable_distinct_and_hide_paths(tmp_path):
    path = tmp_path / "g.sqlite"
    with store.opened(path) as c:
        add(c, "alice", "a")
        add(c, "bob", "b")
        first = leaderboard.anonymize(leaderboard.build(c), store.salt(c))
    with store.opened(path) as c:  # a later export of the same gradebook
        again = leaderboard.anonymize(leaderboard.build(c), store.salt(c))
    assert order(first) == order(again)
    assert len(set(order(first))) == 2 and not {"alice", "bob"} & set(order(first))
    assert all(r.source is None for r in first)
    other = leaderboard.pseudonym("alice", "another gradebook's salt")
    assert other not in order(first)


def test_the_reason_says_why_a_run_did_not_pass():
    from grader.gradebook.leaderboard import reason

    accuracy = {"name": "accuracy", "label": "Best test accuracy", "measured": "99.10 %", "threshold": ">= 99.4 %",
                "passed": False}
    assert reason("passed", None, "passed every criterion", [], False) == ""
    assert reason("failed", None, "m", [accuracy], False) == "failed: Best test accuracy 99.10 % (needs >= 99.4 %)"
    assert reason("failed", None, "m", [accuracy], True).startswith("smoke run (--quick), failed: ")
    assert reason("smoke", None, "m", [], True) == "smoke run (--quick): accuracy not judged"
    # a student-named file may hold a colon: the line is still found
    syntax = 'subs/=HYPERLINK("http:evil")+cmd.py:4:21: syntax error: expected \':\''
    assert reason("error", "policy", syntax, [], False) == "syntax error at line 4: expected ':'"
    assert reason("error", "policy", "m.py:3:1: importing os is not allowed\nm.py:9:1: x", [], False) == (
        "refused (line 3): importing os is not allowed")
    assert reason("error", "worker", "timed out after 120 s; the check was stopped\nlog tail", [], False) == (
        "timed out after 120 s; the check was stopped")
    assert reason("error", "training", "loss is nan at epoch 2", [], False) == "training failed: loss is nan at epoch 2"
    assert len(reason("error", "worker", "x" * 500, [], False)) == 160
