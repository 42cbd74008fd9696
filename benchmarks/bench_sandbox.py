"""Benchmark: what the worker's OS walls (grader.walls.sandbox.isolate) cost at start-up, Landlock read rules included.

Each run is a fresh `python -c` with the environment a worker gets, timing one isolate() call (and, inside it,
the rule plan alone). Scenarios:
- off: COURSE_SANDBOX=off (environment, rlimits, lifetime; no Landlock, no network namespace);
- walls: this installation as it is (for a checkout or an editable install, few rules);
- bundled: as if a copy installed with `pip install .` sat in this Python's site-packages (grader/_assets there):
  site-packages, and the folders holding it, are granted child by child. Simulated by hiding one real folder in
  site-packages (torch's .dist-info) the way grader/_assets is hidden.

    python benchmarks/bench_sandbox.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
from pathlib import Path
from grader.walls import sandbox
if {bundled!r}:
    import importlib.util
    torch_dir = Path(importlib.util.find_spec("torch").origin).parent
    hidden = next(torch_dir.parent.glob("torch-*.dist-info"))
    real = sandbox.hidden_paths
    sandbox.hidden_paths = lambda workdir: (real(workdir)[0] + [hidden.resolve()], real(workdir)[1])
started = time.perf_counter()
rules = sandbox.landlock_rules(Path.cwd(), [])
planned = time.perf_counter()
record = sandbox.isolate(Path.cwd(), 60)
done = time.perf_counter()
print(json.dumps({{"plan_ms": 1000 * (planned - started), "isolate_ms": 1000 * (done - planned),
                  "rules": len(rules), "filesystem": record["filesystem"]}}))
"""


def run(scenario: str) -> dict:
    from grader.walls.sandbox import DISABLE_VAR, worker_env

    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as workdir:
        env = worker_env(Path(workdir))
        if scenario == "off":
            env[DISABLE_VAR] = "off"
        code = CHILD.format(bundled=scenario == "bundled")
        out = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per scenario (interleaved)")
    args = parser.parse_args(argv)
    scenarios = ("off", "walls", "bundled")
    results = {s: [] for s in scenarios}
    for _ in range(args.runs):
        for s in scenarios:  # interleaved, so drift in machine load hits every scenario alike
            results[s].append(run(s))
    print(f"{'scenario':<9} {'rules':>6} {'plan ms':>8} {'isolate ms':>11}  (medians of {args.runs} fresh processes)")
    for s in scenarios:
        rows = results[s]
        rules = rows[0]["rules"] if not rows[0]["filesystem"].startswith("not confined") else 0
        print(f"{s:<9} {rules:>6} {statistics.median(r['plan_ms'] for r in rows):>8.1f} "
              f"{statistics.median(r['isolate_ms'] for r in rows):>11.1f}")
    print("record (walls):", results["walls"][0]["filesystem"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
