"""The headline figures of one GPU session, from the files it brought back (never typed by hand).

A device session is short (15 minutes): gpu_check.py's steps may run out of their budgets before bench_grade.py
writes its results file, so this reads what each step printed: the grading's record (grade.json), the lines
bench_grade.py prints per run ("seed 0 a1 reference ... final 99.34%"), and the RESULT documents of runs started
one at a time (`bench_grade.py --child grader --seed N`, saved as grader_seedN.result.json).

    python benchmarks/gpu_summary.py benchmarks/results/gpu-h100-2026-11-27-graphed --machine "one H100 ..."

writes FOLDER.json beside the folder; docs/performance.md shows it (benchmarks/report.py).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_grade import spread  # noqa: E402  (median, min..max: the same figures as the paired table)

RUN_LINE = re.compile(r"seed (?P<seed>\d+) (?P<side>[ab])(?P<repeat>\d) (?P<label>\S+)\s+(?P<ips>\d+) img/s\s+"
                      r"(?P<spe>[\d.]+) s/epoch\s+wall\s+(?P<wall>[\d.]+) s.*final (?P<final>[\d.]+)%")


def runs_from_log(path: Path) -> list[dict]:
    """bench_grade.py's per-run lines in a log: one dict a run."""
    runs = []
    for line in path.read_text().splitlines():
        m = RUN_LINE.search(line)
        if m:
            runs.append({"seed": int(m["seed"]), "side": m["side"], "repeat": int(m["repeat"]), "label": m["label"],
                         "seconds_per_epoch": float(m["spe"]), "wall_seconds": float(m["wall"]),
                         "final_acc": float(m["final"]), "source": path.name})
    return runs


def summarise(folder: Path, machine: str) -> dict:
    """Headline figures: the sandboxed grading, the paired runs, and the grader's loop over every seed it ran."""
    grade = json.loads((folder / "grade.json").read_text())
    paired = runs_from_log(folder / "benchmark_grader.log")
    alone = runs_from_log(folder / "accuracy.log")
    for path in sorted(folder.glob("grader_seed*.result.json")):
        data = json.loads(path.read_text())
        alone.append({"seed": data["seed"], "side": "b", "repeat": 1, "label": data["side_label"],
                      "seconds_per_epoch": data["seconds_per_epoch"], "wall_seconds": data["wall_seconds"],
                      "final_acc": data["final_acc"], "graphed": data.get("graphed"), "source": path.name})
    reference = [r for r in paired if r["side"] == "a"]
    grader_paired = [r for r in paired if r["side"] == "b"]
    by_seed = {}  # one final accuracy per seed: the run made alone, else the paired run's first
    for r in grader_paired + alone:
        by_seed[r["seed"]] = r["final_acc"]
    record = grade.get("record", {})
    out = {
        "machine": machine,
        "folder": folder.name,
        "grading": {"verdict": grade.get("verdict"), "wall_seconds": grade.get("seconds"),
                    "best_acc": record.get("best_acc"), "last_acc": record.get("last_acc"),
                    "export_seconds": (record.get("export") or {}).get("seconds"),
                    "evaluator_seconds": (record.get("evaluator") or {}).get("seconds"),
                    "versions": record.get("versions")},
        "reference": {"runs": len(reference),
                      "seconds_per_epoch": spread([r["seconds_per_epoch"] for r in reference]) if reference else None,
                      "wall_seconds": spread([r["wall_seconds"] for r in reference]) if reference else None,
                      "final_acc": [r["final_acc"] for r in reference]},
        "grader": {"seconds_per_epoch": spread([r["seconds_per_epoch"] for r in grader_paired]),
                   "wall_seconds": spread([r["wall_seconds"] for r in grader_paired]),
                   "final_acc_by_seed": {str(k): v for k, v in sorted(by_seed.items())},
                   "mean_final_acc": statistics.fmean(by_seed.values()), "seeds": len(by_seed)},
        "runs": paired + alone,
    }
    if reference:
        a, b = out["reference"], out["grader"]
        out["speedup_per_epoch"] = a["seconds_per_epoch"]["median"] / b["seconds_per_epoch"]["median"]
        out["speedup_wall"] = a["wall_seconds"]["median"] / b["wall_seconds"]["median"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--machine", required=True, help="the machine, in words")
    args = parser.parse_args(argv)
    summary = summarise(args.folder, args.machine)
    target = args.folder.with_suffix(".json")
    target.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
