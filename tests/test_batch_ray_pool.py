"""grade-all on Ray: a cluster grading --quick submissions into the gradebook, K gradings sharing one (declared)
GPU, a node lost mid-batch, Ctrl-C on a cluster the command started itself, and the hint when Ray is missing.

One cluster (ray.cluster_utils.Cluster) serves the module: a head with two CPUs and no GPU, to which the tests add
worker nodes that declare a GPU this machine does not have (their gradings fall back to the CPU, which is enough
to see what Ray assigned). The Ctrl-C test runs `course grade-all --backend ray` in a process of its own, which
starts and stops its own local cluster.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import course
from grader import api
from grader.batch import head as batch
from grader.batch import ray_pool
from grader.batch.head import BatchConfig
from grader.batch.job import JobSpec
from grader.course.options import GradeOptions
from grader.errors import UsageError
from grader.events import BatchEvent, EpochDone, JobRetried, JobShown, JobStarted
from grader.gradebook import store
from tests.conftest import ROOT, SUBMISSIONS

pytestmark = pytest.mark.slow  # the slow tier (pyproject.toml): an end-to-end run of another tool

RAY_ENV = {
    # every node of the test cluster binds 127.0.0.1; Ray reads this when it is imported, so it is set first
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",  # offline
}
for _key, _value in RAY_ENV.items():
    os.environ.setdefault(_key, _value)

try:
    import ray
    from ray.cluster_utils import Cluster

    from grader.batch.ray_pool import RayPool
except ImportError:  # the ray extra is not installed: only the install hint is tested
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason='Ray is not installed (pip install -e ".[ray]")')
NODE = {"node_ip_address": "127.0.0.1"}  # the test cluster's nodes and its driver stay on this machine
# A lost node is noticed in about 2 s instead of Ray's default 15 s or more
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as env:
        # PYTHONPATH: the cluster's workers import this checkout's grader, as the test process does
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        started = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 2, "num_gpus": 0,
                                                                 "_system_config": FAST_HEALTH_CHECKS})
        ray.init(address=started.address, _node_ip_address=NODE["node_ip_address"], log_to_driver=False)
        try:
            yield started
        finally:
            ray.shutdown()
            started.shutdown()


def _students(root: Path, **files: str) -> Path:
    root.mkdir(parents=True)
    for student, name in files.items():
        shutil.copy(SUBMISSIONS / f"{name}.py", root / f"{student}.py")
    return root


def _runs(db: Path) -> list[dict]:
    if not db.exists():
        return []
    with store.opened(db) as conn:
        return store.runs(conn)


# ----------------------------------------------------------------------------------------- no Ray installed


def test_backend_ray_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    _students(tmp_path / "subs", bob="syntax_error")
    with pytest.raises(UsageError, match=r'pip install -e "\.\[ray\]"'):
        api.grade_all(tmp_path / "subs", db=tmp_path / "g.sqlite", backend="ray")
    out = CliRunner().invoke(course.cli, ["grade-all", str(tmp_path / "subs"), "--backend", "ray",
                                          "--db", str(tmp_path / "g.sqlite")])
    assert out.exit_code == 2 and 'pip install -e ".[ray]"' in out.output, out.output
    assert not (tmp_path / "g.sqlite").exists()  # refused before anything ran


class _Mailbox:
    """A stand-in for the head's _Events actor and for the `ray` module the relay calls: what tasks put, as data."""

    def __init__(self, *taken: list):
        self.batches = list(taken)
        self.take = self  # the relay calls events.take.remote(), then ray.get(...)

    def remote(self):
        return self.batches.pop(0) if self.batches else []

    def get(self, taken, timeout=None):
        return taken


def test_the_relay_types_what_tasks_send_and_names_a_second_start_a_retry():
    """A task's events arrive as plain data: the head parses them, drops a malformed one and a finished grading's."""
    started = JobStarted("ann", 0, "node-a CPU", "a")
    epoch = JobShown("ann", 0, EpochDone(1, 0.5, 90.0, 0.4, 91.0, 0.01, 2.0))
    again = JobStarted("ann", 0, "node-b CPU", "b")
    mailbox = _Mailbox([started.to_dict(), {"event": "job", "student": "ann"}, epoch.to_dict()],
                       [again.to_dict(), {"event": "job-shown", "student": "ann", "seed": 0, "shown": {}}],
                       [epoch.to_dict()], [epoch.to_dict()])
    shown: list[BatchEvent] = []
    relay = ray_pool._Relay(mailbox, mailbox, shown.append)
    relay.pump()
    relay.pump()
    relay.finish(JobSpec("ann", "model.py", "ann.py"))  # its last events land first, then none after
    relay.pump()
    assert shown == [started, epoch, JobRetried("ann", 0, "node-b CPU", "b"), epoch]


def test_ray_options_need_the_ray_backend(tmp_path):
    _students(tmp_path / "subs", bob="syntax_error")
    with pytest.raises(UsageError, match="--address and --per-gpu are for --backend ray"):
        api.grade_all(tmp_path / "subs", db=tmp_path / "g.sqlite", address="auto")


@needs_ray
@pytest.mark.parametrize("devices, address, problem", [
    (["cuda:0"], "auto", "--devices picks GPUs of this machine"),
    (["mps"], None, "use --backend local for mps"),
])
def test_devices_that_ray_cannot_honour_are_refused(tmp_path, devices, address, problem):
    _students(tmp_path / "subs", bob="syntax_error")
    with pytest.raises(UsageError, match=problem):
        api.grade_all(tmp_path / "subs", db=tmp_path / "g.sqlite", backend="ray", devices=devices, address=address)


@needs_ray
def test_devices_choose_the_gpus_of_a_cluster_started_here():
    from grader.batch.ray_pool import ray_devices

    # CUDA_VISIBLE_DEVICES for the cluster's one node, and its GPU count (Ray then assigns ids "1" and "3")
    assert ray_devices(["cuda:1", "cuda:3"], None) == ("1,3", 2)
    assert ray_devices(["cpu"], None) == ("", 0)  # no GPU: every grading asks for a CPU
    assert ray_devices(None, None) == (None, None)  # Ray finds the machine's GPUs itself


@needs_ray
def test_an_address_where_no_cluster_runs_is_refused_at_once(tmp_path):
    import socket

    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    _students(tmp_path / "subs", bob="syntax_error")
    started = time.monotonic()
    with pytest.raises(UsageError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        api.grade_all(tmp_path / "subs", db=tmp_path / "g.sqlite", backend="ray", address=f"127.0.0.1:{port}")
    assert time.monotonic() - started < 30  # Ray on its own retries such an address for minutes


# ------------------------------------------------------------------- Ctrl-C on a cluster the command started

# Never finishes building, with nothing the import policy refuses (time.sleep would be refused).
HANGS = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        while True:
            pass
"""


def _workers_grading(source: str) -> list[int]:
    """Worker processes still alive that grade a copy of `source` (each works on model.py in its own directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"grader.worker" not in argv:
                continue
            graded = ((proc / "cwd").resolve() / "model.py").read_text()
        except (OSError, ValueError):
            continue
        if graded == source:
            found.append(int(proc.name))
    return found


@needs_ray
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover workers through /proc")
def test_ctrl_c_on_a_local_cluster_keeps_what_finished(tmp_path):
    """No --address: the command starts a cluster here; Ctrl-C kills the running task and its sandboxed worker."""
    root = _students(tmp_path / "subs", bob="syntax_error")  # finishes in a second
    (root / "zed.py").write_text(HANGS)  # never finishes
    db = tmp_path / "g.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "course", "grade-all", str(root), "--quick", "--backend", "ray", "--db", str(db)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **RAY_ENV, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 150  # a cluster starts in 10-20 s here, more on a loaded machine
        while time.monotonic() < deadline and not (_runs(db) and _workers_grading(HANGS)):
            time.sleep(0.5)
        assert [r["student"] for r in _runs(db)] == ["bob"], "bob's grading never landed"
        assert _workers_grading(HANGS), "zed's worker never started"
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
        output = proc.communicate(timeout=90)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output
    assert "Interrupted" in output and "Traceback" not in output, output
    assert [r["student"] for r in _runs(db)] == ["bob"]  # the finished run is kept, the killed one left no record
    deadline = time.monotonic() + 10
    while _workers_grading(HANGS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_grading(HANGS) == []  # its worker died with the task (PR_SET_PDEATHSIG)


# ------------------------------------------------------------------------------------------ one cluster


@needs_ray
def test_a_cpu_cluster_grades_into_the_gradebook_and_resumes(cluster, tmp_path):
    root = _students(tmp_path / "subs", alice="tiny", bob="syntax_error", carol="no_net", dora="forward_raises")
    db = tmp_path / "class.sqlite"
    events: list[BatchEvent] = []
    pool = RayPool(cluster.address)
    assert pool.describe() == (["Ray, 1 node: 2 CPU(s)"], 2)
    first = batch.grade_all(root, db, BatchConfig(options=GradeOptions(quick=True), pool=pool), events.append)
    assert first.counts() == {"passed": 0, "failed": 0, "smoke": 1, "error": 3, "skipped": 0, "not run": 0}
    by_student = {o.student: o for o in first.outcomes}
    alice = by_student["alice"]
    assert alice.status == "smoke" and alice.params == 3818 and alice.best_acc > 80 and alice.device == "cpu"
    assert "syntax error" in by_student["bob"].message and "defines no Net" in by_student["carol"].message
    assert by_student["dora"].status == "error" and "not recorded" not in by_student["dora"].message
    # every grading ran as a task on the CPU (no GPU in the cluster) and told the head where it started
    started = {e.student: e for e in events if isinstance(e, JobStarted)}
    assert sorted(started) == ["alice", "bob", "carol", "dora"] and all("CPU" in e.device for e in started.values())
    assert any(isinstance(e, JobShown) and isinstance(e.shown, EpochDone) and e.student == "alice" for e in events)

    runs = {r["student"]: r for r in _runs(db)}
    assert sorted(runs) == ["alice", "bob", "carol", "dora"]
    assert runs["alice"]["record"].file == str(root / "alice.py")  # the head's path, not the node's temporary copy
    assert runs["alice"]["id"] == alice.run_id and runs["alice"]["quick"] and runs["alice"]["status"] == "smoke"
    assert str(root / "bob.py") in runs["bob"]["message"]

    second = batch.grade_all(root, db, BatchConfig(options=GradeOptions(quick=True), pool=api_pool(cluster.address)))
    assert second.counts()["skipped"] == 4 and second.devices == ["Ray (not started: nothing to grade)"]
    assert len(_runs(db)) == 4
    assert ray.is_initialized()  # a pool that joined a cluster its caller connected to leaves it connected


def api_pool(address):
    from grader.batch.ray_pool import pool_factory

    return pool_factory(address)


@needs_ray
def test_k_gradings_share_one_gpu(cluster):
    """A node declaring one GPU runs two gradings at once with --per-gpu 2, both on GPU 0, which reaches the worker."""
    gpu_node = cluster.add_node(**NODE, num_cpus=2, num_gpus=1)
    cluster.wait_for_nodes()
    assert RayPool(cluster.address, per_gpu=2).capacity().jobs == 2  # 1 GPU x 2; the head has no GPU
    assert RayPool(cluster.address, per_gpu=1).capacity().jobs == 1
    tiny = str(SUBMISSIONS / "tiny.py")
    specs = [JobSpec(f"s{i}", tiny, tiny, options=GradeOptions(quick=True)) for i in range(2)]
    results = {}
    interrupted = RayPool(cluster.address, per_gpu=2).run(
        specs, lambda event: None, lambda spec, result: results.__setitem__(spec.student, (spec, result)))
    assert not interrupted and sorted(results) == ["s0", "s1"]
    wheres = [result["where"] for _, result in results.values()]
    for spec, result in results.values():
        assert "record" in result, result["error"]["message"]
        assert result["record"]["verdict"]["status"] == "smoke"
        assert result["record"]["device"] == "cpu"  # torch sees no CUDA here: the grading fell back to the CPU
        assert spec.device == "cpu"  # the device it ran on, which an error row would record
    for where in wheres:
        assert where["node"] == gpu_node.node_id and where["gpu_ids"] == ["0"]
        assert where["cuda_visible_devices"] == "0" and where["worker_cuda_visible_devices"] == "0"
    first, second = sorted(wheres, key=lambda w: w["started"])
    assert second["started"] < first["ended"], "the two gradings did not run at the same time on the one GPU"


@needs_ray
def test_a_node_lost_mid_batch_is_graded_once_elsewhere(cluster, tmp_path):
    """Two GPU nodes, one grading each; the node of one is removed: Ray runs that grading again on the other."""
    survivor = next(iter(cluster.worker_nodes), None) or cluster.add_node(**NODE, num_cpus=2, num_gpus=1)
    doomed = cluster.add_node(**NODE, num_cpus=2, num_gpus=1)
    cluster.wait_for_nodes()
    root = _students(tmp_path / "subs", ann="tiny", ben="tiny", cat="syntax_error")
    db = tmp_path / "class.sqlite"
    events: list[BatchEvent] = []
    removed = threading.Event()

    def on_event(event: BatchEvent) -> None:
        events.append(event)
        if (isinstance(event, JobStarted) and event.node == doomed.node_id and event.student in ("ann", "ben")
                and not removed.is_set()):
            removed.set()  # a grading has started on the doomed node: take the node away while it trains
            threading.Thread(target=cluster.remove_node, args=(doomed, False), daemon=True).start()

    config = BatchConfig(options=GradeOptions(quick=True), pool=RayPool(cluster.address, per_gpu=1))
    result = batch.grade_all(root, db, config, on_event)
    assert removed.is_set(), "no grading ever started on the node to remove"
    assert not result.interrupted
    assert {o.student: o.status for o in result.outcomes} == {"ann": "smoke", "ben": "smoke", "cat": "error"}
    runs = _runs(db)
    assert sorted(r["student"] for r in runs) == ["ann", "ben", "cat"]  # each exactly once
    retried = [e for e in events if isinstance(e, JobRetried)]
    assert retried and retried[0].node == survivor.node_id, events
