"""benchmarks/gpu_check.py's --dry-run: every step of the one-command GPU proof runs, shrunk, on the CPU, and
writes its figures; a GPU session then only has to run it for real."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

# Two halves of about 40 s each, run side by side: the steps are mostly process starts, and CI has two cores.
HALVES = {"a": "benchmark,cuda_tests,grade", "b": "fixed_cost,throughput,verify,accuracy"}


def test_the_dry_run_runs_every_step_and_writes_its_figures(tmp_path):
    results = ROOT / "solutions" / "RESULTS.md"
    before = results.read_text()
    bench_results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    with ThreadPoolExecutor(len(HALVES)) as pool:
        codes = list(pool.map(lambda half: gpu_check.main(["--dry-run", "--out", str(tmp_path / half), "--steps",
                                                            HALVES[half]]), HALVES))
    assert codes == [0, 0]
    steps = {}
    for half in HALVES:
        summary = json.loads((tmp_path / half / "summary.json").read_text())
        assert summary["dry_run"]
        steps.update(summary["steps"])
    assert set(steps) == set(gpu_check.STEPS)
    assert all(s["status"] == "ok" for s in steps.values()), steps
    a, b = tmp_path / "a", tmp_path / "b"
    grade = json.loads((a / "grade.json").read_text())
    assert grade["verdict"] == "smoke" and grade["record"]["params"] == 13_960
    throughput = json.loads((b / "throughput.json").read_text())
    assert [r["k"] for r in throughput["runs"]] == [2] and all(r["graded"] == r["k"] for r in throughput["runs"])
    assert all(r["gradings_per_hour"] > 0 for r in throughput["runs"])
    fixed = json.loads((b / "fixed_cost.json").read_text())
    assert fixed["result"]["cold"]["n"] == fixed["result"]["warm"]["n"] == 1
    # its benchmark step is bench_grade.py's own dry run: a b b a on one seed, a median, and no results file
    bench = (a / "benchmark_grader.log").read_text()
    order = [line.split()[2] for line in bench.splitlines() if line.startswith("  seed 0 ") and "img/s" in line]
    assert order == ["a1", "b1", "b2", "a2"]
    # "seed(s)": the figure's basis, "median of 1 paired seed(s)" or, on a busy machine, "all 1 seeds ... disturbed"
    assert "b over a:" in bench and "images/s" in bench and "seed(s)" in bench
    assert "wrote" not in bench  # --limit writes no results file
    accuracy = (b / "accuracy.log").read_text()
    assert "side b only" in accuracy and "no seed ran both sides: no ratio" in accuracy
    verify = json.loads((b / "verify.json").read_text())
    assert verify["runs"] and all(r["lesson"] == "lesson1" for r in verify["runs"])
    assert results.read_text() == before  # a dry run leaves the real results alone
    assert sorted((ROOT / "benchmarks" / "results").glob("*.json")) == bench_results


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
