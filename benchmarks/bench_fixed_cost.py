"""The fixed cost of one grading (wall time minus training time), cold and warm, measured in the same run.

Cold: grader.host.grading starts a fresh interpreter for the worker and for the evaluator (what `course grade`
does). Warm: both are forked by one zygote (grader.host.zygote) that imported torch and the engine once (what
`course grade-all` does). N `--quick` gradings of the same submission go through each path, interleaved
(c, w, w, c ...), and the figure is the median fixed cost per path with its spread; the zygote's own start-up is
reported apart (it is paid once per batch).

    python benchmarks/bench_fixed_cost.py --gradings 6 --device cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course.options import GradeOptions  # noqa: E402
from grader.host import grading  # noqa: E402
from grader.host.zygote import Zygote  # noqa: E402
from grader.record import GradeRequest  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def one(request: GradeRequest, launch) -> dict:
    """(wall, training, fixed) seconds of one grading."""
    started = time.perf_counter()
    record = grading.grade(request, None, **({"launch": launch} if launch else {})).record
    wall = time.perf_counter() - started
    training = sum(e.seconds or 0.0 for e in record.epochs)
    return {"wall": wall, "training": training, "fixed": wall - training, "acc": record.best_acc}


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradings", type=int, default=6, help="gradings per path (default 6)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--file", default=str(ROOT / "tests" / "submissions" / "tiny.py"))
    parser.add_argument("--out", type=Path, default=None, help="results file (default: benchmarks/results/...)")
    args = parser.parse_args(argv)
    request = GradeRequest(Path(args.file), options=GradeOptions(device=args.device, quick=True))
    runs = {"cold": [], "warm": []}
    with Zygote() as zygote:
        order = ["cold", "warm", "warm", "cold"] * ((args.gradings + 1) // 2)
        for path in order[: 2 * args.gradings]:
            run = one(request, zygote.launch if path == "warm" else None)
            runs[path].append(run)
            print(f"{path:4}  wall {run['wall']:6.2f} s  training {run['training']:6.2f} s  "
                  f"fixed {run['fixed']:6.2f} s", flush=True)
        startup = zygote.startup_seconds
    cold, warm = (summary([r["fixed"] for r in runs[p]]) for p in ("cold", "warm"))
    result = {
        "what": "fixed cost per --quick grading (wall minus training), cold vs warm (zygote)",
        "command": "python benchmarks/bench_fixed_cost.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "device": args.device,
        "date": date.today().isoformat(), "zygote_startup_s": startup,
        "cold": cold, "warm": warm, "ratio_median": cold["median"] / warm["median"], "runs": runs,
    }
    print(f"fixed cost per grading: cold {cold['median']:.2f} s ({cold['min']:.2f}..{cold['max']:.2f}), "
          f"warm {warm['median']:.2f} s ({warm['min']:.2f}..{warm['max']:.2f}), "
          f"{result['ratio_median']:.1f}x less; zygote start-up {startup:.1f} s once per batch "
          f"({cold['n']} + {warm['n']} gradings)")
    out = args.out or RESULTS / f"fixed-cost-{args.device}-{result['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
