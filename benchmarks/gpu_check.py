"""One command that proves the GPU path and writes every GPU figure the project claims.

Run once on a machine with a GPU (offline; carry torchsummary's wheel, see benchmarks/gpu_check.sh):

    python benchmarks/gpu_check.py --out results-dir            # the real thing, on cuda
    python benchmarks/gpu_check.py --dry-run --out results-dir  # everything shrunk, on the CPU (in the tests)

Steps, each bounded by its own time budget and each writing a JSON file to --out (a step that fails or runs out
of time is recorded as such, and the next one still runs):

0. cuda_tests  the tests that need a CUDA device (host syncs per epoch, the recorded step against eager, fallbacks);
1. grade       a full sandboxed `course grade` of solutions/lesson6/model.py (worker and clean evaluator on the
               device, behind Landlock and the rlimits, with the CUDA driver);
2. fixed_cost  the fixed cost per grading (wall minus training), cold vs warm (zygote), same run;
3. throughput  `course grade-all` of K copies of the lesson-6 solution for K = 1, 4, 8, 16 on one GPU: wall time,
               gradings per GPU-hour;
4. verify      `course verify --train --seeds 3 --jobs 16`: every lesson's solution and extras, which rewrites
               solutions/RESULTS.md with this device's rows (copied to --out);
5. benchmark   benchmarks/bench_grade.py at 20 epochs: the reference DataLoader pipeline against the grader's loop
               (its recorded step on by default), a b b a on 1 seed: the reference's 20 epochs take a minute each;
6. accuracy    the grader's loop alone at 20 epochs on 5 seeds (bench_grade.py --only b): its time and mean final
               accuracy over more seeds than the paired step affords.
A summary.json gathers the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _run(name: str, argv: list[str], budget: float, out: Path, env: dict | None = None) -> dict:
    """Run one step as a subprocess within `budget` seconds; its output is kept in OUT/<name>.log.

    The step runs in a process group of its own, all of which is killed when the budget runs out: bench_grade.py's
    runs are grandchildren, and one left running slowed every later step of the first H100 session.
    """
    started = time.perf_counter()
    log = out / f"{name}.log"
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True)
    returncode = None  # None: killed at its budget
    try:
        stdout, stderr = proc.communicate(timeout=budget)
        returncode = proc.returncode
        status = "ok" if returncode in (0, 1) else f"exit code {returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        status = f"ran out of its {budget:.0f} s budget"
    log.write_text(stdout + stderr)
    return {"status": status, "seconds": round(time.perf_counter() - started, 1), "stdout": stdout,
            "returncode": returncode}


def _course(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "course.py"), *args]


def step_grade(cfg, out: Path) -> dict:
    args = ["grade", str(ROOT / "solutions" / "lesson6" / "model.py"), "--lesson", "lesson6", "--device", cfg.device,
            "--no-plot", "--json"] + (["--quick"] if cfg.dry_run else [])
    run = _run("grade", _course(*args), cfg.budget["grade"], out)
    record = _json(run.pop("stdout"))
    run.update(record={k: record.get(k) for k in ("best_acc", "last_acc", "epochs_to_target", "params", "duration",
                                                  "device_name", "versions", "evaluator", "export", "sandbox")},
               verdict=(record.get("verdict") or {}).get("status"))
    return run


def step_fixed_cost(cfg, out: Path) -> dict:
    target = out / "fixed_cost_result.json"
    run = _run("fixed_cost", [PYTHON, str(ROOT / "benchmarks" / "bench_fixed_cost.py"), "--gradings",
                              str(cfg.fixed_gradings), "--device", cfg.device, "--out", str(target)],
               cfg.budget["fixed_cost"], out)
    run.pop("stdout")
    run["result"] = _json(target.read_text()) if target.is_file() else None
    if run["result"]:
        run["result"].pop("runs", None)
    return run


def step_throughput(cfg, out: Path) -> dict:
    """grade-all of K copies of the lesson-6 solution, K at a time on one device; gradings per hour."""
    solution = (ROOT / "solutions" / "lesson6" / "model.py").read_text()
    figures = []
    for k in cfg.concurrency:
        with tempfile.TemporaryDirectory(prefix="course-throughput-") as scratch:
            folder = Path(scratch) / "subs"
            folder.mkdir()
            for i in range(k):  # distinct students, the same honest file: every grading is a full one
                (folder / f"student{i:02d}.py").write_text(solution)
            args = ["grade-all", str(folder), "--lesson", "lesson6", "--jobs", str(k), "--devices", cfg.device,
                    "--db", str(Path(scratch) / "class.sqlite"), "--json"] + (["--quick"] if cfg.dry_run else [])
            run = _run(f"throughput_k{k}", _course(*args), cfg.budget["throughput"] / len(cfg.concurrency), out)
            result = _json(run.pop("stdout"))
            counts = result.get("counts", {})
            done = sum(counts.get(s, 0) for s in ("passed", "failed", "smoke"))
            seconds = result.get("seconds") or run["seconds"]
            figures.append({**run, "k": k, "graded": done, "errors": counts.get("error"), "batch_seconds": seconds,
                            "gradings_per_hour": round(3600 * done / seconds, 1) if done and seconds else None})
    return {"status": "ok" if all(f["status"] == "ok" for f in figures) else "partial", "runs": figures}


def step_verify(cfg, out: Path) -> dict:
    args = ["verify", "--train", "--seeds", str(cfg.seeds), "--device", cfg.device, "--jobs", str(cfg.verify_jobs),
            "--json"] + (["--lesson", "lesson1", "--only", "solutions", "--quick"] if cfg.dry_run else [])
    results = ROOT / "solutions" / "RESULTS.md"
    before = results.read_text() if results.is_file() else None
    run = _run("verify", _course(*args), cfg.budget["verify"], out)
    report = _json(run.pop("stdout"))
    if results.is_file():
        shutil.copy(results, out / "RESULTS.md")
    if cfg.dry_run and before is not None:  # a dry run proves the step; it must not leave CPU smoke rows behind
        results.write_text(before)
    run["runs"] = [{k: r.get(k) for k in ("lesson", "file", "seed", "status", "best", "last", "seconds", "ok")}
                   for r in report.get("runs", [])]
    run["ok"] = report.get("ok")
    return run


def step_cuda_tests(cfg, out: Path) -> dict:
    tests = ["tests/test_graphed.py", "tests/test_train.py", "tests/test_augment.py"]
    # the dry run proves the step only: on the CPU every CUDA test skips
    run = _run("cuda_tests", [PYTHON, "-m", "pytest", "-q", "-rs", *tests, "-k",
                              "cuda" if cfg.dry_run else "cuda or replay or graph"], cfg.budget["cuda_tests"], out)
    run["summary"] = run.pop("stdout").strip().splitlines()[-3:]
    if run["returncode"] not in (0, None):  # pytest's 1 is a failed test, not a verdict
        run["status"] = "tests failed"
    return run


def _bench(cfg, *args: str) -> list[str]:
    """benchmarks/bench_grade.py at the session's epochs and device (on 1,000 images in a dry run)."""
    return [PYTHON, str(ROOT / "benchmarks" / "bench_grade.py"), "--epochs", str(cfg.bench_epochs), "--device",
            cfg.device, *args, *(["--limit", "1000"] if cfg.dry_run else [])]


def step_accuracy(cfg, out: Path) -> dict:
    run = _run("accuracy", _bench(cfg, "--seeds", str(cfg.accuracy_seeds), "--only", "b"), cfg.budget["accuracy"],
               out)
    run["summary"] = run.pop("stdout").strip().splitlines()[-8:]
    return run


def step_benchmark(cfg, out: Path) -> dict:
    runs = []
    for b in cfg.bench_sides:
        run = _run(f"benchmark_{b.replace(':', '-').replace('+', '_')}",
                   _bench(cfg, "--seeds", str(cfg.bench_seeds), "--b", b),
                   cfg.budget["benchmark"] / len(cfg.bench_sides), out)
        tail = run.pop("stdout").strip().splitlines()[-6:]
        runs.append({**run, "b": b, "summary": tail})
    results = sorted((ROOT / "benchmarks" / "results").glob(f"{'cuda' if cfg.device.startswith('cuda') else 'cpu'}*"))
    for path in results[-len(cfg.bench_sides):]:
        if not cfg.dry_run:
            shutil.copy(path, out / path.name)
    return {"status": "ok" if all(r["status"] == "ok" for r in runs) else "partial", "runs": runs}


# What one 15-minute device session runs by default: the tests, a real grading, the speed and accuracy figures.
SESSION = ("cuda_tests", "grade", "benchmark", "accuracy")
STEPS = {"cuda_tests": step_cuda_tests, "grade": step_grade, "fixed_cost": step_fixed_cost,
         "throughput": step_throughput, "verify": step_verify, "benchmark": step_benchmark, "accuracy": step_accuracy}


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return {}


def config(args) -> argparse.Namespace:
    """What each step runs: the issue's sizes for a GPU, shrunk to seconds for a --dry-run on the CPU."""
    if args.dry_run:
        # K = 2 alone: two gradings side by side prove the concurrent path; K = 1 would add a dozen seconds to CI
        return argparse.Namespace(dry_run=True, device="cpu", concurrency=[2], seeds=1, fixed_gradings=1,
                                  verify_jobs=1, bench_epochs=1, bench_sides=["grader"], bench_seeds=1,
                                  accuracy_seeds=1, budget=dict.fromkeys(STEPS, 900))
    return argparse.Namespace(
        dry_run=False, device=args.device, concurrency=[1, 4, 8, 16], seeds=3, fixed_gradings=3, verify_jobs=16,
        bench_epochs=20, bench_sides=["grader"], bench_seeds=1, accuracy_seeds=5,
        # seconds per step. A device session has 15 minutes in all, so pick steps with --steps; a step that runs
        # out of its budget is recorded as such, with what it finished.
        # Measured on an H100 with the recorded step: a sandboxed 20-epoch grading 26 s, the reference's 20 epochs
        # 91 s a run (so a b b a on one seed takes about 215 s), the grader's 20 epochs 17-21 s a run.
        budget={"cuda_tests": 35, "grade": 45, "fixed_cost": 40, "throughput": 120, "verify": 150, "benchmark": 230,
                "accuracy": 110})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures (created)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="shrink everything and run on the CPU")
    parser.add_argument("--steps", help=f"comma-separated subset of {','.join(STEPS)} (default: all for a dry run, "
                                        f"else {','.join(SESSION)}, which fit one device session)")
    args = parser.parse_args(argv)
    cfg = config(args)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"dry_run": cfg.dry_run, "device": cfg.device, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "python": sys.version.split()[0], "steps": {}}
    wanted = [s for s in (args.steps or ",".join(STEPS if cfg.dry_run else SESSION)).split(",") if s]
    unknown = set(wanted) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; known: {', '.join(STEPS)}")
    for name in wanted:
        print(f"== {name}", flush=True)
        result = STEPS[name](cfg, args.out)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        summary["steps"][name] = {"status": result.get("status"), "seconds": result.get("seconds")}
        print(f"   {result.get('status')}", flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["steps"], indent=1))
    return 0 if all(s["status"] in ("ok", "partial") for s in summary["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
