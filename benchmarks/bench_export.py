"""The cost of exporting a submission: the program the worker exports now (training mode, a free batch size, lowered
to core ATen) against the eval-mode, fixed-batch export it made before the submission's code ran only once.

Each side runs in a fresh process per repeat (a grading's worker exports once, cold), interleaved a b b a, and the
medians are reported with their spread. `python benchmarks/bench_export.py [--file F] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import importlib.util, json, sys, tempfile, time, warnings
from pathlib import Path
import torch
side, file = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("bench_export_model", file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
torch.manual_seed(0)
net = module.Net()
started = time.perf_counter()
if side == "train":
    from grader.worker.export import export_program
    with tempfile.TemporaryDirectory() as tmp:
        export_program(net, torch.zeros(8, 1, 28, 28), Path(tmp))
else:  # what the worker did before: eval mode, the evaluator's fixed batch of 250 on a CPU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.export(net.eval(), (torch.zeros(250, 1, 28, 28),), strict=False).run_decompositions()
print(json.dumps({"side": side, "seconds": time.perf_counter() - started}))
"""


def _run(side: str, file: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, side, file], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(ROOT / "solutions" / "lesson6" / "model.py"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"eval": [], "train": []}
    for _ in range(args.repeats):
        for side in ("eval", "train", "train", "eval"):
            times[side].append(_run(side, args.file))
    summary = {side: {"median_s": round(statistics.median(t), 3), "min_s": round(min(t), 3),
                      "max_s": round(max(t), 3), "runs": len(t)} for side, t in times.items()}
    summary["train_over_eval"] = round(summary["train"]["median_s"] / summary["eval"]["median_s"], 3)
    summary["file"] = str(Path(args.file).relative_to(ROOT)) if Path(args.file).is_relative_to(ROOT) else args.file
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
