"""The worker's walls, tested from inside: a probe (run without the static policy, as if it had slipped past)
tries each escape and reports what happened; the run record's claims must match what the probe saw."""

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.errors import SubmissionError
from grader.events import EventError, Measured, Phase, Progress
from grader.walls import sandbox
from tests.conftest import ROOT
from tests.unscreened import WorkerError, run_unscreened
from tests.unscreened import exit_reason as _exit_reason
from tests.unscreened import parse_event as _parse_event

# cold: the walls as a fresh interpreter puts them up (the warm ones: tests/test_zygote.py); slow: the slow tier
pytestmark = [pytest.mark.cold, pytest.mark.slow]
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


def read(path):
    def action():
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(16)
    return action


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
for name, path in {reads!r}.items():
    attempt(name, read(path))
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
    line = next(x for x in log.splitlines() if x.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """Run the probe once through the real worker (check mode) with small limits; its report and files."""
    tmp = tmp_path_factory.mktemp("probe")
    outside = tmp / "outside.txt"
    beside = tmp / "beside.txt"  # a file next to the submission, which is the one file of that folder it may read
    beside.write_text("not yours")
    reads = {"read_beside": str(beside), "list_home": str(Path.home()),
             "read_tests": str(ROOT / "tests" / "conftest.py"),
             "read_solutions": str(ROOT / "solutions" / "lesson1" / "model.py"),
             "read_data": str(_first_file(ROOT / "data" / "MNIST" / "raw"))}
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    os.environ["COURSE_TEST_SECRET"] = "hunter2"
    try:
        model = tmp / "model.py"
        model.write_text(PROBE.format(outside=str(outside), port=server.getsockname()[1], reads=reads) + NET)
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
    confined = r["applied"]["filesystem"].startswith("reads and writes confined")
    assert confined == (sandbox.landlock_abi() >= 1)
    if confined:
        assert r["write_outside"].startswith("PermissionError") and not probe["outside"].exists()
    else:
        assert r["write_outside"] == "done"  # the record says so: "not confined: ..."


@pytest.mark.skipif(not LINUX, reason="Landlock is Linux-only")
def test_the_worker_reads_only_what_its_record_names(probe):
    r = probe["report"]
    if sandbox.landlock_abi() < 1:
        assert r["read_beside"] == r["read_tests"] == "done"  # unconfined, and the record says so
        assert r["applied"]["filesystem"].startswith("not confined")
        return
    # The parent hands the worker its training split as files in its own directory: the MNIST folder (test set
    # included) is as far out of reach as the tests' and solutions' folders.
    for name in ("read_beside", "list_home", "read_tests", "read_solutions", "read_data"):
        assert r[name].startswith("PermissionError"), (name, r[name])


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


@pytest.mark.parametrize(("line", "why"), [
    (b"not json", "not JSON"), (b"[1, 2]", "not an event"), (b'{"no_event": 1}', "not an event"),
    (b'{"event": 3}', "not an event"), (b'{"event": "error"}', "without its 'kind'"),
    (b'{"event": "result", "record": {"verdict": "passed"}}', "without its 'seed'"),
    (b'{"event": "loaded", "seconds": "fast"}', "loaded.seconds is str"),
    (b'{"event": "verdict", "status": "passed"}', "unknown event 'verdict'"),
    (b'{"event": "measured", "epoch": true, "test_loss": 0.1, "test_acc": 99.9}', "measured.epoch is bool"),
    (b"\xff\xfe", "not JSON"), (b"[" * 100_000, "not JSON"),
])
def test_malformed_events_are_rejected_saying_why(line, why):
    with pytest.raises(EventError, match=re.escape(why)):
        _parse_event(line)


def test_wellformed_events_pass_typed():
    assert _parse_event(b'{"event": "progress", "epoch": 1, "step": 2, "steps": 4, "loss": 0.5, "acc": 90}') \
        == Progress(1, 2, 4, 0.5, 90.0)
    assert _parse_event(b'{"event": "phase", "name": "contract"}') == Phase("contract")
    diverged = _parse_event(b'{"event": "measured", "epoch": 3, "test_loss": "nan", "test_acc": 9.8}')
    assert isinstance(diverged, Measured) and math.isnan(diverged.test_loss)  # NaN travels as "nan" (json_safe)


@pytest.mark.skipif(not hasattr(signal, "SIGXCPU"), reason="POSIX signals")
def test_exit_reasons_name_the_limit():
    assert "more CPU time" in _exit_reason(-signal.SIGXCPU)
    assert "likely out of memory" in _exit_reason(-signal.SIGKILL)
    assert "exited with code 3" in _exit_reason(3)


# ------------------------------------------------------------------------ reads, tested in a walled-in child

LANDLOCK = LINUX and sandbox.landlock_abi() >= 1

WALLED = """
import json, os, sys
from pathlib import Path
from grader.walls import sandbox

sys.path += {extra_path!r}  # as site-packages: last on the path, where nothing before the walls looked yet
record = sandbox.isolate(Path.cwd(), 60, readable={readable!r})
report = {{"record": record}}


def attempt(name, action):
    try:
        report[name] = action() or "done"
    except Exception as exc:
        report[name] = type(exc).__name__


def read(path):
    def action():
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(16)
    return action


{body}
print("WALLED " + json.dumps(report))
"""


def _walled(tmp_path, body: str, readable=(), extra_path: str = "", env: dict | None = None) -> dict:
    """Run `body` in a fresh `python -c` that calls isolate() first, with the environment a worker gets."""
    workdir = tmp_path / "worker"
    workdir.mkdir()
    child_env = sandbox.worker_env(workdir)
    child_env.update(env or {})
    code = WALLED.format(readable=[str(p) for p in readable], body=textwrap.dedent(body),
                         extra_path=[extra_path] if extra_path else [])
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=child_env, capture_output=True, text=True,
                          timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WALLED ")), None)
    assert line, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(line[len("WALLED "):])


def _first_file(folder: Path) -> Path:
    return next(p for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.skipif(not LANDLOCK, reason="needs Linux with Landlock (kernel >= 5.13)")
def test_a_walled_in_process_imports_torch_and_the_worker_but_reads_nothing_else(tmp_path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "notes.txt"  # another temporary folder
    elsewhere.write_text("not yours")
    home = Path.home()
    home_files = [p for p in home.iterdir() if p.is_file()] if home.is_dir() else []
    targets = {
        "elsewhere": elsewhere, "list_home": home, "home_file": home_files[0] if home_files else home,
        "list_checkout": ROOT, "mnist": _first_file(ROOT / "data" / "MNIST" / "raw"),
        "list_mnist": ROOT / "data" / "MNIST" / "raw", "tests": ROOT / "tests" / "conftest.py",
        "solutions": _first_file(ROOT / "solutions"), "list_tmp": Path("/tmp"),
    }
    body = f"""
    import torch
    import grader.worker.session, grader.trainer.train, grader.trainer.augment, grader.worker.export
    import grader.evaluator.main, grader.interpret
    report["torch"] = float(torch.arange(4.0).sum())
    Path("mine.txt").write_text("mine")
    report["own_dir"] = Path("mine.txt").read_text() + ":" + ",".join(sorted(os.listdir(".")))
    Path("/proc/self/comm").write_text("walled")  # its own /proc entry stays writable: the CUDA driver writes there
    for name, path in {dict((k, str(v)) for k, v in targets.items())!r}.items():
        attempt(name, read(path))
    """
    r = _walled(tmp_path, body)
    assert r["record"]["filesystem"].startswith("reads and writes confined"), r["record"]
    assert r["torch"] == 6.0 and r["own_dir"] == "mine:mine.txt"
    denied = {name: r[name] for name in targets if r[name] != "PermissionError"}
    assert not denied, denied


@pytest.mark.skipif(not LANDLOCK, reason="needs Linux with Landlock (kernel >= 5.13)")
def test_a_bundled_copy_of_the_course_inside_site_packages_stays_out_of_reach(tmp_path):
    # `pip install .` puts MNIST, the tests' answers and the solutions in grader/_assets inside site-packages, a
    # folder the worker must import from: it is granted child by child, so it cannot be listed behind the walls,
    # and its modules still import because isolate() had Python list it first.
    site_dir = tmp_path / "lib" / "site-packages"
    secret = site_dir / "grader" / "_assets" / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"\x00\x00\x08\x01labels")
    (site_dir / "grader" / "__init__.py").write_text("")
    (site_dir / "fakemod.py").write_text("VALUE = 42\n")
    (site_dir / "otherpkg").mkdir()
    (site_dir / "otherpkg" / "__init__.py").write_text("from otherpkg.inner import VALUE\n")
    (site_dir / "otherpkg" / "inner.py").write_text("VALUE = 7\n")
    body = f"""
    import fakemod, otherpkg  # imported after the walls, from a folder that can no longer be listed
    report["imports"] = [fakemod.VALUE, otherpkg.VALUE]
    attempt("secret", read({str(secret)!r}))
    attempt("list_assets", read({str(secret.parents[3])!r}))
    attempt("list_site", read({str(site_dir)!r}))
    """
    r = _walled(tmp_path, body, extra_path=str(site_dir))
    assert r["imports"] == [42, 7], r
    assert r["secret"] == r["list_assets"] == r["list_site"] == "PermissionError", r


@pytest.mark.skipif(not LANDLOCK, reason="needs Linux with Landlock (kernel >= 5.13)")
def test_readable_grants_exactly_the_named_paths(tmp_path, tmp_path_factory):
    other = tmp_path_factory.mktemp("granted")
    granted, folder, refused = other / "one.txt", other / "folder", other / "two.txt"
    granted.write_text("1")
    refused.write_text("2")
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "deep.txt").write_text("3")
    body = f"""
    attempt("granted", read({str(granted)!r}))
    attempt("deep", read({str(folder / "sub" / "deep.txt")!r}))
    attempt("refused", read({str(refused)!r}))
    attempt("list_parent", read({str(other)!r}))
    """
    r = _walled(tmp_path, body, readable=[granted, folder])
    assert r["granted"] == r["deep"] == "done"
    assert r["refused"] == r["list_parent"] == "PermissionError"
    assert str(granted) in r["record"]["filesystem"] and str(folder) in r["record"]["filesystem"]


@pytest.mark.skipif(not LINUX, reason="the OS walls exist on Linux only")
def test_course_sandbox_off_leaves_reads_open_and_says_so(tmp_path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "notes.txt"
    elsewhere.write_text("readable")
    r = _walled(tmp_path, f'attempt("elsewhere", read({str(elsewhere)!r}))', env={sandbox.DISABLE_VAR: "off"})
    assert r["elsewhere"] == "done"
    assert r["record"]["filesystem"] == "not confined: disabled by COURSE_SANDBOX=off"


def test_no_rule_reaches_a_bundled_copy_or_the_checkouts_data(tmp_path, monkeypatch):
    """The rule plan itself (no kernel needed): the forbidden folders are never beneath a granted path."""
    site_dir = tmp_path / "site-packages"
    assets = site_dir / "grader" / "_assets"
    (assets / "data").mkdir(parents=True)
    (site_dir / "grader" / "__init__.py").write_text("")
    (site_dir / "torch").mkdir()
    (site_dir / "typing_extensions.py").write_text("")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site_dir)])
    workdir = tmp_path / "worker"
    workdir.mkdir()
    rules = dict(sandbox.landlock_rules(workdir))
    real = lambda p: Path(os.path.realpath(p))  # noqa: E731
    secret = [real(p) for p in (assets, ROOT / "data", ROOT / "tests", ROOT / "solutions")]
    outside = [real(p) for p in (Path.home(), tmp_path)]  # a granted folder may lie inside these, not around them
    for path in rules:
        for bad in secret + outside:
            assert path != bad and path not in bad.parents, f"{path} grants {bad}"
        for bad in secret:
            assert bad not in path.parents, f"{path} lies in {bad}"
    assert real(site_dir / "torch") in rules and real(site_dir / "typing_extensions.py") in rules
    assert real(site_dir / "grader" / "__init__.py") in rules
    assert real(site_dir) not in rules and real(site_dir / "grader") not in rules  # both hold _assets
    assert real(workdir) in rules and real(ROOT / "grader") in rules


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_isolate_degrades_without_raising_where_the_os_has_no_walls(platform, tmp_path, monkeypatch):
    """sandbox.py imported as on Windows or macOS (no `resource`, no geteuid): isolate() says what is missing."""
    import importlib.util

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` raises ImportError, as on Windows
    if platform == "win32":
        for name in ("geteuid", "getuid", "getgid", "O_PATH"):
            monkeypatch.delattr(os, name, raising=False)
    name = "grader._sandbox_on_" + platform
    spec = importlib.util.spec_from_file_location(name, sandbox.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    assert module.resource is None
    record = module.isolate(tmp_path, 10, readable=[tmp_path])
    assert record["filesystem"].startswith("not confined: Landlock is unavailable")
    assert record["network"].startswith(f"not isolated: {platform}")
    assert record["rlimits"]["all"].startswith(f"unavailable on {platform} (no resource module")
    assert record["lifetime"].startswith("ends on timeout")
    assert module.limit_memory() == "not enforced on this OS"
    assert module.landlock_abi() == 0
    env = module.worker_env(tmp_path)
    assert env["HOME"] == str(tmp_path)
