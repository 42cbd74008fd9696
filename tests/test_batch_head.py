"""grade-all: discovery, safe zips, devices, a real --quick batch, resuming, --regrade and Ctrl-C."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import course
from grader.batch import head as batch
from grader.batch.head import BatchConfig, discover
from grader.batch.local_pool import cpu_threads
from grader.course.options import GradeOptions
from grader.gradebook import store
from tests.conftest import ROOT, SUBMISSIONS

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each


def tiny_text() -> str:
    return (SUBMISSIONS / "tiny.py").read_text()


def make_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


# ------------------------------------------------------------------------------------------- discovery


def test_discovers_folders_files_and_zips(tmp_path):
    root = tmp_path / "subs"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "model.py").write_text("a")
    (root / "bob.py").write_text("b")
    make_zip(root / "carol.zip", {"carol/model.py": "c", "carol/notes.txt": "-"})
    (root / "dave").mkdir()  # no model.py
    for ignored in (".git", "__MACOSX", "_drafts"):
        (root / ignored).mkdir()
    (root / "README.txt").write_text("not a submission")
    entries = discover(root, tmp_path / "scratch")
    assert [e.student for e in entries] == ["alice", "bob", "carol", "dave"]
    alice, bob, carol, dave = entries
    assert alice.file == root / "alice" / "model.py" and bob.file == root / "bob.py"
    assert carol.source == root / "carol.zip" and carol.file.read_text() == "c"
    assert (tmp_path / "scratch") in carol.file.parents
    assert dave.file is None and "has no model.py" in dave.problem


def test_two_submissions_of_one_student_are_a_problem(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "model.py").write_text("a")
    (tmp_path / "alice.py").write_text("b")
    (entry,) = discover(tmp_path, tmp_path / "scratch")
    assert entry.file is None and "several submissions" in entry.problem


@pytest.mark.parametrize("members, problem", [
    ({"../../evil/model.py": "x"}, "unsafe member"),
    ({"/abs/model.py": "x"}, "unsafe member"),
    ({"a.py": "x", "b.py": "y"}, "no model.py inside"),
    ({"x/model.py": "1", "y/model.py": "2"}, "several model.py"),
    ({"model.py": "x" * (batch.MAX_MODEL_BYTES + 1)}, "a model.py is a few KB"),
])
def test_unsafe_or_unclear_zips_are_refused(tmp_path, members, problem):
    make_zip(tmp_path / "eve.zip", members)
    (entry,) = discover(tmp_path, tmp_path / "scratch")
    assert entry.file is None and problem in entry.problem
    assert not (tmp_path.parent / "evil").exists() and not Path("/abs").exists()


def test_only_the_model_is_extracted_to_a_path_of_our_choosing(tmp_path):
    make_zip(tmp_path / "eve.zip", {"sub/model.py": "ok", "../../outside.py": "x", "../escape.txt": "y"})
    (entry,) = discover(tmp_path, tmp_path / "scratch")
    assert entry.file.read_text() == "ok" and entry.file.parent.parent == tmp_path / "scratch"
    assert [p.name for p in (tmp_path / "scratch").rglob("*") if p.is_file()] == ["model.py"]
    assert not (tmp_path.parent / "outside.py").exists() and not (tmp_path.parent.parent / "outside.py").exists()


def test_a_symlink_in_a_zip_is_refused(tmp_path):
    info = zipfile.ZipInfo("model.py")
    info.external_attr = 0o120777 << 16  # a symlink entry whose content is its target
    with zipfile.ZipFile(tmp_path / "eve.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
    (entry,) = discover(tmp_path, tmp_path / "scratch")
    assert entry.file is None and "unsafe member" in entry.problem


def test_a_corrupt_zip_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "eve.zip").write_bytes(b"PK\x03\x04 not really")
    (entry,) = discover(tmp_path, tmp_path / "scratch")
    assert "cannot be read as a zip" in entry.problem


def test_jobs_spread_over_devices():
    assert batch.slots(["cuda:0", "cuda:1"], 5) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert batch.default_jobs(["cuda:0", "cuda:1"]) == 4
    cpus = os.cpu_count() or 1
    assert batch.default_jobs(["cpu"]) == max(min(2, cpus), cpus // 2)
    assert cpu_threads("cpu", ["cpu", "cpu"]) == max(1, cpus // 2)
    assert cpu_threads("cuda:0", ["cuda:0"]) is None


# ------------------------------------------------------------------------------------------ real batches


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One real --quick batch of four students, two jobs at a time, then the same command again."""
    tmp = tmp_path_factory.mktemp("batch")
    root = tmp / "subs"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "model.py").write_text(tiny_text())
    shutil.copy(SUBMISSIONS / "syntax_error.py", root / "bob.py")
    shutil.copy(SUBMISSIONS / "syntax_error.py", root / "bert.py")  # copied bob's file
    make_zip(root / "carol.zip", {"carol/model.py": (SUBMISSIONS / "no_net.py").read_text()})
    (root / "dave").mkdir()
    db = tmp / "class.sqlite"
    config = BatchConfig(options=GradeOptions(quick=True), jobs=2, devices=["cpu"])
    first = batch.grade_all(root, db, config)
    second = batch.grade_all(root, db, config)
    return root, db, first, second


def outcome(result, student):
    (o,) = [o for o in result.outcomes if o.student == student]
    return o


@pytest.mark.slow  # the slow tier: the whole repository, or gradings end to end
def test_one_bad_submission_never_stops_the_batch(graded):
    root, db, first, _ = graded
    assert first.counts() == {"passed": 0, "failed": 0, "smoke": 1, "error": 4, "skipped": 0, "not run": 0}
    alice = outcome(first, "alice")
    assert alice.status == "smoke" and alice.params == 3818 and alice.best_acc > 80  # tiny trains: ~90 % here
    assert "syntax error" in outcome(first, "bob").message
    assert "defines no Net" in outcome(first, "carol").message
    assert "has no model.py" in outcome(first, "dave").message
    assert first.identical == [["bert", "bob"]]
    with store.opened(db) as c:
        runs = {r["student"]: r for r in store.runs(c)}
    assert sorted(runs) == ["alice", "bert", "bob", "carol"]  # dave has no file to attach a run to
    assert runs["carol"]["source"] == str(root / "carol.zip") and runs["alice"]["quick"]
    assert runs["alice"]["id"] == alice.run_id and runs["alice"]["best_acc"] == alice.best_acc


def test_a_second_batch_skips_what_is_graded(graded):
    _, db, first, second = graded
    counts = second.counts()
    assert counts["skipped"] == 4 and counts["smoke"] == 0 and counts["error"] == 1  # dave: still no model.py
    assert second.seconds < first.seconds
    with store.opened(db) as c:
        assert len(store.runs(c)) == 4


def test_leaderboard_of_the_batch(graded):
    _, db, first, _ = graded
    out = CliRunner().invoke(course.cli, ["leaderboard", "--db", str(db), "--format", "json"])
    rows = json.loads(out.output)["rows"]
    assert [r["student"] for r in rows][0] == "alice" and len(rows) == 4
    assert rows[0]["best_acc"] == outcome(first, "alice").best_acc and rows[0]["status"] == "smoke"


def test_cli_grade_all_on_a_graded_folder(graded):
    root, db, _, _ = graded
    runner = CliRunner()
    args = ["grade-all", str(root), "--quick", "--devices", "cpu", "--jobs", "2", "--db", str(db)]
    out = runner.invoke(course.cli, args + ["--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["counts"]["skipped"] == 4 and not data["interrupted"]
    assert {o["student"] for o in data["outcomes"] if o["status"] == "skipped"} == {"alice", "bert", "bob", "carol"}
    table = runner.invoke(course.cli, args, env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "Batch summary" in table.output and "identical files: bert, bob" in table.output


def test_seeds_and_regrade(tmp_path):
    root = tmp_path / "subs"
    root.mkdir()
    shutil.copy(SUBMISSIONS / "syntax_error.py", root / "bob.py")
    db = tmp_path / "g.sqlite"
    config = BatchConfig(options=GradeOptions(quick=True), jobs=2, devices=["cpu"], seeds=2)
    assert [o.seed for o in batch.grade_all(root, db, config).outcomes] == [0, 1]
    assert batch.grade_all(root, db, config).counts()["skipped"] == 2
    config.regrade = True
    assert batch.grade_all(root, db, config).counts()["error"] == 2
    with store.opened(db) as c:
        assert sorted(r["seed"] for r in store.runs(c)) == [0, 0, 1, 1]


class RecordingPool:
    """A Pool (grader.batch.pool) that grades nothing: each job ends in a recorded error that names its options."""

    def __init__(self):
        self.specs = []

    def describe(self):
        return ["nowhere"], 3

    def run(self, specs, emit, on_result):
        for spec in specs:
            self.specs.append(spec)
            on_result(spec, {"error": {"kind": "submission", "message": f"seed {spec.seed}", "record": True},
                             "seconds": 0.0})
        return False


def test_any_pool_or_pool_factory_runs_the_jobs_with_the_batch_s_options(tmp_path):
    from grader.batch.pool import Pool

    root = tmp_path / "subs"
    root.mkdir()
    (root / "ann.py").write_text(tiny_text())
    pool, asked = RecordingPool(), []
    assert isinstance(pool, Pool)
    options = GradeOptions.of(epochs=2, channels_last=True, train_anyway=True)

    def factory(gradings):
        asked.append(gradings)
        return pool

    result = batch.grade_all(root, tmp_path / "g.sqlite", BatchConfig(options=options, seeds=2, pool=factory))
    assert asked == [2] and (result.devices, result.jobs) == (["nowhere"], 3)
    assert [s.options for s in pool.specs] == [replace(options, seed=0), replace(options, seed=1)]
    assert [o.message for o in result.outcomes] == ["seed 0", "seed 1"] and result.counts()["error"] == 2
    again = batch.grade_all(root, tmp_path / "g.sqlite", BatchConfig(options=options, seeds=2, pool=RecordingPool()))
    assert again.counts()["skipped"] == 2  # the same options, already in the gradebook


def test_usage_errors(tmp_path):
    with pytest.raises(batch.UsageError, match="not a folder"):
        batch.grade_all(tmp_path / "nope", tmp_path / "g.sqlite", BatchConfig(devices=["cpu"]))
    with pytest.raises(batch.UsageError, match="holds no submissions"):
        batch.grade_all(tmp_path, tmp_path / "g.sqlite", BatchConfig(devices=["cpu"]))
    with pytest.raises(batch.UsageError, match="lesson999"):
        batch.grade_all(tmp_path, tmp_path / "g.sqlite", BatchConfig(lesson="lesson999", devices=["cpu"]))


# Never finishes building, with nothing the import policy refuses (time.sleep would be refused).
HANGS = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        while True:
            pass
"""


def _workers_grading(source: str) -> list[int]:
    """Processes still alive that grade a copy of `source`: a worker works on model.py in its own directory (cold
    or forked by the zygote, whose command line it keeps)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            graded = ((proc / "cwd").resolve() / "model.py").read_text()
        except (OSError, ValueError):
            continue
        if graded == source:
            found.append(int(proc.name))
    return found


@pytest.mark.slow  # the slow tier (pyproject.toml): `course grade-all` in a process of its own, then signalled
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover workers through /proc")
@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_stops_cleanly_and_keeps_finished_runs(tmp_path, stop):
    root = tmp_path / "subs"
    root.mkdir()
    shutil.copy(SUBMISSIONS / "syntax_error.py", root / "bob.py")  # finishes in seconds
    (root / "zed.py").write_text(HANGS)  # never finishes
    db = tmp_path / "g.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "course", "grade-all", str(root), "--quick", "--jobs", "2", "--devices", "cpu",
         "--db", str(db)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (db.exists() and _runs(db)):
            time.sleep(0.5)
        assert _runs(db) == ["bob"], "bob's grading never landed"
        deadline = time.monotonic() + 30
        while not _workers_grading(HANGS) and time.monotonic() < deadline:
            time.sleep(0.2)  # zed's worker is up and stuck in Net()
        assert _workers_grading(HANGS)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
        else:
            proc.terminate()  # `kill PID`: SIGTERM to the batch alone
        try:
            output = proc.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:  # say where it hangs: faulthandler prints every thread's stack on SIGABRT
            proc.send_signal(signal.SIGABRT)
            stacks = proc.communicate(timeout=30)[0].decode()
            raise AssertionError(f"grade-all did not stop within 60 s:\n{stacks}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output
    assert "Interrupted" in output and "Traceback" not in output
    assert _runs(db) == ["bob"]  # the finished run is kept, the stopped one left no record
    time.sleep(0.5)
    assert _workers_grading(HANGS) == []  # and its worker did not outlive the batch


def _runs(db: Path) -> list[str]:
    if not db.exists():
        return []
    with store.opened(db) as c:
        return [r["student"] for r in store.runs(c)]
