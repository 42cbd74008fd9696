"""benchmarks/gpu_check.py's --dry-run: every step of the one-command GPU proof runs, shrunk, on the CPU, and
writes its figures; a GPU session then only has to run it for real."""

import json
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each

# Run for real in the dry run: the steps of a device session, and fixed_cost (bench_fixed_cost.py has no other test).
# throughput and verify only wrap `course grade-all` and `course verify --train`, whose real runs and --json output
# tests/test_batch_head.py and tests/test_verify.py cover: here their command lines are parsed by the CLI itself and
# what they print is read back, which saves CI about 25 s of gradings done elsewhere.
REAL = [*gpu_check.SESSION, "fixed_cost"]
WRAPPERS = [s for s in gpu_check.STEPS if s not in REAL]


@pytest.mark.slow  # the slow tier (pyproject.toml): the GPU script's whole dry run, gradings and benchmarks
def test_the_dry_run_runs_the_session_steps_and_writes_their_figures(tmp_path):
    results = ROOT / "solutions" / "RESULTS.md"
    before = results.read_text()
    bench_results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path), "--steps", ",".join(REAL)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dry_run"] and list(summary["steps"]) == REAL
    assert all(s["status"] == "ok" for s in summary["steps"].values()), summary
    grade = json.loads((tmp_path / "grade.json").read_text())
    assert grade["verdict"] == "smoke" and grade["record"]["params"] == 13_960
    fixed = json.loads((tmp_path / "fixed_cost.json").read_text())
    assert fixed["result"]["cold"]["n"] == fixed["result"]["warm"]["n"] == 1
    # its benchmark step is bench_grade.py's own dry run: a b b a on one seed, a median, and no results file
    bench = (tmp_path / "benchmark_grader.log").read_text()
    order = [line.split()[2] for line in bench.splitlines() if line.startswith("  seed 0 ") and "img/s" in line]
    assert order == ["a1", "b1", "b2", "a2"]
    # "seed(s)": the figure's basis, "median of 1 paired seed(s)" or, on a busy machine, "all 1 seeds ... disturbed"
    assert "b over a:" in bench and "images/s" in bench and "seed(s)" in bench
    assert "wrote" not in bench  # --limit writes no results file
    accuracy = (tmp_path / "accuracy.log").read_text()
    assert "side b only" in accuracy and "no seed ran both sides: no ratio" in accuracy
    assert results.read_text() == before  # a dry run leaves the real results alone
    assert sorted((ROOT / "benchmarks" / "results").glob("*.json")) == bench_results


def _parsed_by_the_cli(argv: list[str]) -> str:
    """The course subcommand argv runs, after click has parsed its options and arguments as `course` would."""
    from course import cli

    assert argv[:2] == [gpu_check.PYTHON, str(ROOT / "course.py")]
    name, *rest = argv[2:]
    cli.commands[name].make_context(name, list(rest))  # raises click's UsageError on anything it would refuse
    return name


def test_the_wrapper_steps_run_commands_the_cli_accepts_and_read_what_they_print(tmp_path, monkeypatch):
    printed = {"grade-all": {"counts": {"passed": 1, "smoke": 1, "error": 0}, "seconds": 12.0},
               "verify": {"ok": True, "runs": [{"lesson": "lesson1", "file": "solutions/lesson1/model.py", "seed": 0,
                                                "status": "smoke", "best": 90.1, "last": 90.1, "seconds": 3.0,
                                                "ok": True}]}}
    ran = []

    def run(name, argv, budget, out, env=None):
        command = _parsed_by_the_cli(argv)
        ran.append((name, command, argv))
        return {"status": "ok", "seconds": 1.5, "stdout": json.dumps(printed[command]), "returncode": 0}

    monkeypatch.setattr(gpu_check, "_run", run)
    results = ROOT / "solutions" / "RESULTS.md"
    before = results.read_text()
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path), "--steps", ",".join(WRAPPERS)]) == 0
    assert sorted(command for _, command, _ in ran) == ["grade-all", "verify"]
    throughput = json.loads((tmp_path / "throughput.json").read_text())
    figures = [(r["k"], r["graded"], r["errors"], r["gradings_per_hour"]) for r in throughput["runs"]]
    assert figures == [(2, 2, 0, 600.0)]  # two gradings in 12 s
    verify = json.loads((tmp_path / "verify.json").read_text())
    assert verify["ok"] and verify["runs"] == printed["verify"]["runs"]
    assert results.read_text() == before
    # a real GPU session's command lines parse too
    cfg = gpu_check.config(type("Args", (), {"dry_run": False, "device": "cuda"})())
    ran.clear()
    gpu_check.step_throughput(cfg, tmp_path)
    gpu_check.step_verify(cfg, tmp_path)
    assert [name for name, _, _ in ran] == ["throughput_k1", "throughput_k4", "throughput_k8", "throughput_k16",
                                            "verify"]
    assert results.read_text() == before  # a real session's verify step only copies RESULTS.md out


def test_the_real_run_fits_its_budget_and_asks_for_what_the_issue_lists():
    cfg = gpu_check.config(type("Args", (), {"dry_run": False, "device": "cuda"})())
    # a device session has 15 minutes, a machine's start included: the default steps must end well inside
    assert sum(cfg.budget[s] for s in gpu_check.SESSION) <= 7 * 60
    assert set(gpu_check.SESSION) <= set(gpu_check.STEPS)
    assert cfg.concurrency == [1, 4, 8, 16] and cfg.seeds == 3 and cfg.bench_epochs == 20
    assert cfg.accuracy_seeds == 5 and cfg.bench_sides == ["grader"]


def test_a_step_out_of_budget_takes_its_grandchildren_with_it(tmp_path):
    """bench_grade.py trains in a grandchild: one left running after its step's budget slowed every later step."""
    import os
    import time

    pid_file = tmp_path / "grandchild.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    run = gpu_check._run("slow", [sys.executable, "-c", script], budget=3, out=tmp_path)
    assert run["status"] == "ran out of its 3 s budget"
    grandchild = int(pid_file.read_text())
    for _ in range(50):  # reaped by init a moment after the kill
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the grandchild {grandchild} outlived its step")
