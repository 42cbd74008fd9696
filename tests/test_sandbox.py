"""The worker's walls, tested from inside: a probe (run without the static policy, as if it had slipped past)
tries each escape and reports what happened; the run record's claims must match what the probe saw."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.walls import sandbox
from grader.errors import SubmissionError
from tests.unscreened import WorkerError, exit_reason as _exit_reason, parse_event as _parse_event, run_unscreened
from tests.conftest import ROOT

LINUX = sys.platform == "linux"

NET = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
"""

PROBE = """
import json, os, socket, sys
from grader.walls import sandbox

report = {{"applied": sandbox.APPLIED, "cwd": os.getcwd(), "home": os.environ.get("HOME"),
          "secret": os.environ.get("COURSE_TEST_SECRET"), "stdin": sys.stdin.read()}}


def attempt(name, action):
    try:
        report[name] = action() or "done"
    except (OSError, MemoryError) as exc:
        report[name] = type(exc).__name__ + (":" + str(exc.errno) if getattr(exc, "errno", None) else "")


def write_outside():
    with open({outside!r}, "w") as fh:
        fh.write("escaped")


def write_inside():
    with open("inside.txt", "w") as fh:
        fh.write("fine")


def connect():
    s = socket.socket()
    s.settimeout(3)
    s.connect(("127.0.0.1", {port}))
    return "connected"


def big_file():
    with open("big.bin", "wb") as fh:
        fh.write(b"0" * (3 * 2**20))


def memory():
    ballast = bytearray(3 * 2**30)
    return "allocated"


attempt("write_outside", write_outside)
attempt("write_inside", write_inside)
attempt("connect", connect)
attempt("big_file", big_file)
attempt("memory", memory)
attempt("signal_parent", lambda: os.kill(os.getppid(), 0))
try:
    import resource
    report["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)
    report["core"] = resource.getrlimit(resource.RLIMIT_CORE)
except ImportError:
    pass
print("PROBE " + json.dumps(report))
"""


def _probe_report(log: str) -> dict:
    line = next(l for l in log.splitlines() if l.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """Run the probe once through the real worker (check mode) with small limits; its report and files."""
    tmp = tmp_path_factory.mktemp("probe")
    outside = tmp / "outside.txt"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    os.environ["COURSE_TEST_SECRET"] = "hunter2"
    try:
        model = tmp / "model.py"
        model.write_text(PROBE.format(outside=str(outside), port=server.getsockname()[1]) + NET)
        limits = sandbox.Limits(memory_gib=1, file_size_mib=1)
        out = run_unscreened(model, timeout=120, limits=limits)
    finally:
        del os.environ["COURSE_TEST_SECRET"]
        server.close()
    return {"report": _probe_report(out.log), "outside": outside, "result": out.result}


def test_the_probe_ran_and_the_check_still_completed(probe):
    assert probe["result"]["report"]["params"] == 7850


def test_environment_is_scrubbed_and_home_is_the_worker_directory(probe):
    r = probe["report"]
    assert r["secret"] is None
    assert r["home"] == r["cwd"] and "course-grading-" in r["cwd"] and r["cwd"].endswith("worker")
    assert r["stdin"] == ""
    assert r["write_inside"] == "done"


@pytest.mark.skipif(not LINUX, reason="Landlock is Linux-only")
def test_writes_outside_the_worker_directory_are_blocked_where_landlock_exists(probe):
    r = probe["report"]
    confined = r["applied"]["filesystem"].startswith("writes confined")
    assert confined == (sandbox.landlock_abi() >= 1)
    if confined:
        assert r["write_outside"].startswith("PermissionError") and not probe["outside"].exists()
    else:
        assert r["write_outside"] == "done"  # the record says so: "not confined: ..."


@pytest.mark.skipif(not LINUX, reason="no unprivileged network drop on this OS")
def test_network_is_cut_when_the_record_says_so(probe):
    r = probe["report"]
    cut = r["applied"]["network"].startswith(("isolated", "TCP blocked"))
    assert (r["connect"] != "connected") == cut, r


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS and RLIMIT_FSIZE are enforced on Linux")
def test_resource_limits_hold(probe):
    r = probe["report"]
    assert r["memory"] == "MemoryError", r["applied"]["rlimits"]
    assert r["big_file"] == "OSError:27"  # EFBIG: Python ignores SIGXFSZ, so the write fails instead
    assert r["nofile"] == [1024, 1024] and r["core"] == [0, 0]
    assert "GiB" in r["applied"]["rlimits"]["address_space"]


@pytest.mark.skipif(not LINUX or sandbox.landlock_abi() < 6, reason="Landlock signal scoping needs ABI 6")
def test_the_worker_cannot_signal_the_grader(probe):
    assert probe["report"]["signal_parent"].startswith("PermissionError")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_worker_dies_with_its_grader(tmp_path):
    model = tmp_path / "model.py"
    model.write_text("while True:\n    pass\n")
    code = f"from tests.unscreened import run_unscreened; run_unscreened({str(model)!r}, timeout=600)"
    # The killed grader cannot remove its worker's directory: keep it among this test's files.
    grader = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        while not (workers := _children(grader.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers, "the worker never started"
        time.sleep(1)  # let it wall itself in
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(w) for w in workers), "a worker outlived its grader"


def test_worker_env_keeps_only_what_torch_needs(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    env = sandbox.worker_env(tmp_path)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "SSH_AUTH_SOCK" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path) and env["PYTHONDONTWRITEBYTECODE"] == "1"


# ------------------------------------------------------------------------ ways of dying, through the worker


def _check(tmp_path, source: str, **kw):
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent(source) + NET)
    return run_unscreened(model, timeout=120, **kw)


def test_os_exit_at_import_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(WorkerError, match="exited with code 0 before reporting a result"):
        _check(tmp_path, "import os\nos._exit(0)\n")


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGSEGV on Windows")
def test_a_segfault_is_named(tmp_path):
    with pytest.raises(WorkerError, match=r"killed by SIGSEGV \(a crash in native code\)"):
        _check(tmp_path, "import ctypes\nctypes.string_at(0)\n")


def test_garbage_on_the_event_channel_is_a_clear_error(tmp_path):
    source = """
    import os
    for fd in range(3, 64):  # the channel is one of the process's pipes: a submission can find it by trying
        try:
            os.write(fd, b"not json at all\\n")
        except OSError:
            pass
    """
    with pytest.raises(WorkerError, match="event channel carried something that is not a grader event") as info:
        _check(tmp_path, source)
    assert "Traceback" not in str(info.value)


def test_a_file_changed_after_the_policy_read_it_is_not_graded(tmp_path):
    from grader.worker.session import load_checked

    model = tmp_path / "model.py"
    model.write_text(NET)
    with pytest.raises(SubmissionError, match="changed after it was checked"):
        load_checked(str(model), "0" * 64)


@pytest.mark.parametrize("line", [
    b"not json", b"[1, 2]", b'{"no_event": 1}', b'{"event": 3}', b'{"event": "error"}',
    b'{"event": "result"}', b'{"event": "result", "record": 1}', b"\xff\xfe", b"[" * 100_000,
])
def test_malformed_events_are_rejected(line):
    assert _parse_event(line) is None


def test_wellformed_events_pass():
    assert _parse_event(b'{"event": "progress", "step": 1}') == {"event": "progress", "step": 1}
    assert _parse_event(b'{"event": "result", "report": {}}')["event"] == "result"


@pytest.mark.skipif(not hasattr(signal, "SIGXCPU"), reason="POSIX signals")
def test_exit_reasons_name_the_limit():
    assert "more CPU time" in _exit_reason(-signal.SIGXCPU)
    assert "likely out of memory" in _exit_reason(-signal.SIGKILL)
    assert "exited with code 3" in _exit_reason(3)
