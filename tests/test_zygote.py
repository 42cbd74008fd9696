"""Warm workers: the zygote forks each worker and evaluator from one process that imported torch once. A warm
grading must be the cold one (same figures, same walls), and two warm gradings must not see each other."""

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from grader.host.zygote import Zygote
from grader.walls import sandbox
from tests.conftest import SUBMISSIONS
from tests.unscreened import WorkerError, run_unscreened

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="the zygote forks (POSIX only)"),
              pytest.mark.slow]  # the full tier: each test starts zygotes and children of its own
LANDLOCK = sys.platform == "linux" and sandbox.landlock_abi() >= 1


@pytest.fixture(scope="module")
def zygote():
    with Zygote() as z:
        yield z


@pytest.mark.slow  # the slow tier (pyproject.toml): a cold grading, the reference the warm ones are held to
@pytest.mark.cold
def test_a_warm_grading_is_the_cold_one(zygote):
    cold = run_unscreened(SUBMISSIONS / "tiny.py", mode="grade", device="cpu", quick=True).result["record"]
    warm = run_unscreened(SUBMISSIONS / "tiny.py", mode="grade", device="cpu", quick=True,
                          launch=zygote.launch).result["record"]
    assert warm.params == cold.params == 3818
    assert [(e.train_loss, e.test_acc) for e in warm.epochs] == [(e.train_loss, e.test_acc) for e in cold.epochs]
    assert warm.baseline_test_acc == cold.baseline_test_acc
    assert warm.sandbox["filesystem"] == cold.sandbox["filesystem"]  # the same walls, put up by the child itself
    assert warm.sandbox["network"] == cold.sandbox["network"]


def test_warm_children_die_the_cold_way(zygote, tmp_path):
    model = tmp_path / "model.py"
    model.write_text("import os\nos._exit(3)\n")
    with pytest.raises(WorkerError, match="exited with code 3 before reporting a result"):
        run_unscreened(model, launch=zygote.launch)
    model.write_text("while True:\n    pass\n")
    with pytest.raises(WorkerError, match="timed out after 4 s"):
        run_unscreened(model, timeout=4, launch=zygote.launch)


SPY = """
import json, os, time
from pathlib import Path

import torch.nn as nn

me, seen = os.getpid(), {{}}
deadline = time.time() + 30
while time.time() < deadline and not seen:  # wait for the other grading's worker to be up
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            if (proc / "cwd" / "model.py").read_text().startswith("# victim"):
                seen[proc.name] = "found by reading its directory"
        except OSError:
            pass
        try:
            if b"grader.zygote" in (proc / "cmdline").read_bytes() and int(proc.name) != os.getppid():
                seen.setdefault(proc.name, "a sibling")
        except OSError:
            pass
    time.sleep(0.2)
report = {{"seen": seen}}
for pid in seen:
    for name, action in {{
        "signal": lambda: os.kill(int(pid), 0),
        "read_files": lambda: (Path("/proc") / pid / "cwd" / "model.py").read_text(),
        "memory": lambda: open(f"/proc/{{pid}}/mem", "rb").close(),
    }}.items():
        try:
            action()
            report[name + "_" + pid] = "done"
        except OSError as exc:
            report[name + "_" + pid] = type(exc).__name__
print("SPY " + json.dumps(report), flush=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
"""

VICTIM = """# victim
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        while True:  # stays up while the spy looks for it
            pass
"""


@pytest.mark.skipif(not LANDLOCK, reason="the walls between siblings are Landlock's (Linux >= 5.13)")
def test_one_warm_grading_cannot_reach_another(zygote, tmp_path):
    victim, spy = tmp_path / "victim.py", tmp_path / "spy.py"
    victim.write_text(VICTIM)
    spy.write_text(SPY.format())
    victims = []

    def launch_victim(*args, **kwargs):
        child = zygote.launch(*args, **kwargs)
        victims.append(child)
        return child

    stuck = threading.Thread(target=lambda: pytest.raises(WorkerError, run_unscreened, victim, timeout=25,
                                                           launch=launch_victim), daemon=True)
    stuck.start()
    out = run_unscreened(spy, timeout=120, launch=zygote.launch)
    for child in victims:  # the spy is done: end the victim now rather than at its timeout
        child.kill()
    stuck.join(60)
    report = json.loads(next(x for x in out.log.splitlines() if x.startswith("SPY "))[4:])
    assert report["seen"], "the spy found no other grading to try (the victim never started?)"
    tried = {k: v for k, v in report.items() if k != "seen"}
    assert tried and all(v != "done" for v in tried.values()), tried
    assert not any(v == "found by reading its directory" for v in report["seen"].values())


def test_the_zygote_refuses_anything_but_the_grader_s_programs(zygote, tmp_path):
    import queue

    from grader.host.zygote import ZygoteError

    with pytest.raises(ZygoteError, match="refused to start"):
        zygote.launch("os", name="x", cwd=tmp_path, env={}, events=queue.Queue())


@pytest.mark.slow  # the slow tier (pyproject.toml): a zygote started cold in a process of its own
def test_a_started_zygote_dies_with_its_parent(tmp_path):
    """No zygote (nor its children) outlives the grader process that started it."""
    import subprocess
    import time

    code = ("import os, sys, time; from grader.host.zygote import Zygote; z = Zygote(); "
            "print(z._process.proc.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.mark.slow  # the slow tier (pyproject.toml): the warm-up in a fresh interpreter
def test_the_zygote_warms_up_without_touching_cuda():
    """torch.export asks CUDA whether it exists, which poisons every later fork for CUDA; the zygote only imports,
    and its own check catches anything that would poison it (run in a fresh process, not in pytest's)."""
    import subprocess

    code = ("import torch; from grader.zygote import server; server._warm_up(); a = server._fork_is_clean(); "
            "torch.cuda.is_available(); b = server._fork_is_clean(); print(a, b)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["True", "False"], out.stderr[-2000:]
