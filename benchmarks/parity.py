"""Accuracy parity of a speed candidate: does the grader's loop with it end where the loop without it ends?

The issue's rule for a speed change that alters float order or random draws: over the same seeds, 20 epochs of the
lesson-6 solution, the mean final test accuracy of the candidate lies within 0.05 points of the reference's. The
runs are bench_grade.py `--child` RESULT documents, one file per seed and side, named SIDE_seedN.json:

    OMP_NUM_THREADS=1 python benchmarks/bench_grade.py --child grader+channels_last:off+threads:1 \\
        --seed N --epochs 20 --device cpu           # its RESULT line's JSON -> DIR/eager_seedN.json
    python benchmarks/parity.py DIR --reference eager --candidate channels_last [--reference-dir OTHER_DIR]

Writes DIR/parity.json, or --out (what the README's and the docs' markers read), and prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 0.05  # points of mean final test accuracy (the rule for a default)


def read_side(folder: Path, side: str) -> dict[int, dict]:
    """{seed: RESULT document} for every SIDE_seedN.json in folder."""
    runs = {}
    for path in sorted(folder.glob(f"{side}_seed*.json")):
        match = re.fullmatch(rf"{re.escape(side)}_seed(\d+)\.json", path.name)
        if match:
            runs[int(match.group(1))] = json.loads(path.read_text())
    return runs


def parity(reference: dict[int, dict], candidate: dict[int, dict], tolerance: float = TOLERANCE) -> dict:
    """The two sides over the seeds both ran: per-seed finals, the means, their difference and the verdict."""
    seeds = sorted(set(reference) & set(candidate))
    if not seeds:
        raise ValueError("no seed ran on both sides")
    ref = [reference[s]["final_acc"] for s in seeds]
    cand = [candidate[s]["final_acc"] for s in seeds]
    difference = statistics.fmean(cand) - statistics.fmean(ref)
    return {
        "seeds": seeds,
        "epochs": len(reference[seeds[0]]["epochs"]),
        "reference_final": ref,
        "candidate_final": cand,
        "reference_mean_final": round(statistics.fmean(ref), 4),
        "candidate_mean_final": round(statistics.fmean(cand), 4),
        "difference": round(difference, 4),
        "abs_difference": round(abs(difference), 4),
        "tolerance": tolerance,
        "within": abs(difference) <= tolerance + 1e-9,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--reference", default="eager", help="file prefix of the reference side")
    p.add_argument("--candidate", required=True, help="file prefix of the candidate side")
    p.add_argument("--reference-dir", type=Path, default=None,
                   help="where the reference side's files are, when an earlier parity run made them (default: FOLDER)")
    p.add_argument("--out", type=Path, default=None,
                   help="where to write the comparison (default: FOLDER/parity.json); elsewhere, it names FOLDER")
    args = p.parse_args(argv)
    reference_dir = args.reference_dir or args.folder
    out = args.out or args.folder / "parity.json"
    try:
        doc = parity(read_side(reference_dir, args.reference), read_side(args.folder, args.candidate))
    except ValueError as exc:
        print(f"parity: {exc} ({args.reference}_seedN.json in {reference_dir}, {args.candidate}_seedN.json in "
              f"{args.folder})", file=sys.stderr)
        return 2
    doc = {"reference": args.reference, "candidate": args.candidate, **doc}
    # each side's folder, when it is not the one the file lies in: relative to the repository, so that the
    # committed file reads the same everywhere (and tests/test_benchmarks.py can recompute it)
    for key, folder in (("reference_dir", reference_dir), ("candidate_dir", args.folder)):
        if folder.resolve() != out.parent.resolve():
            doc[key] = os.path.relpath(folder.resolve(), ROOT)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{args.candidate} vs {args.reference} over seeds {doc['seeds']}: mean final "
          f"{doc['candidate_mean_final']:.2f} vs {doc['reference_mean_final']:.2f} %, difference "
          f"{doc['difference']:+.2f} points: {'within' if doc['within'] else 'outside'} {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
