"""How fast `course watch` answers a save: "checking", the policy's findings, and the full (warm) check.

The real watch (grader.watch.watch: watchfiles' events, the loop, the warm zygote, the real workflow on a
temporary workspace) draws on the real screen (WatchScreen, into an 80-column terminal console held in memory).
Each save rewrites the lesson's work file; the clock starts just before the write and stops when each step has
been drawn. Saves alternate between a file the policy refuses (`import os`: its findings are the answer) and one
it lets through (the full check runs in a worker forked from the zygote); the figure per step is the median over
`--saves` of each kind. The first check (which waits for the zygote to import torch) is reported apart.

    python benchmarks/bench_watch.py --saves 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from grader.views.watch import WatchScreen  # noqa: E402
from grader.watch import watch  # noqa: E402
from grader.workflow import Workflow  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LESSON = "lesson1"
PASSING = (ROOT / "tests" / "submissions" / "tiny.py").read_text()
REFUSED = PASSING.replace("import torch", "import os\nimport torch", 1)
TARGETS = {"screened": 0.5, "checked": 3.0}  # issue 29: policy findings < 0.5 s, a warm full check < 3 s


class TimedScreen(WatchScreen):
    """The real screen, noting when each step of each check has been drawn."""

    def __init__(self):
        super().__init__(Console(file=io.StringIO(), width=80, force_terminal=True))
        self.drawn: dict[tuple[int, str], float] = {}
        self.seen: dict[int, str] = {}  # check -> what it found: "refused", "passed", or the error
        self.changed = threading.Condition()

    def _note(self, state, step: str) -> None:
        with self.changed:
            self.drawn[(state.checks, step)] = time.perf_counter()
            if step == "checked":
                self.seen[state.checks] = ("refused" if state.refused else state.error[:80] if state.error else
                                           state.judged.result.verdict.status)
            self.changed.notify_all()

    def checking(self, state) -> None:
        super().checking(state)
        self._note(state, "checking")

    def screened(self, state) -> None:
        super().screened(state)
        self._note(state, "screened")

    def checked(self, state) -> None:
        super().checked(state)
        self._note(state, "checked")

    def wait(self, check: int, step: str, timeout: float = 300.0) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: (check, step) in self.drawn, timeout):
                raise TimeoutError(f"check {check} never reached {step!r} within {timeout:g} s")
            return self.drawn[(check, step)]


def save(file: Path, text: str) -> float:
    """Write `text` as an editor would (truncate and write); the time just before."""
    started = time.perf_counter()
    file.write_text(text)
    return started


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3), "min": round(ordered[0], 3),
            "max": round(ordered[-1], 3), "n": len(ordered)}


def measure(saves: int, settle: float) -> dict:
    """Run the watch on a temporary workspace and time `saves` saves of each kind."""
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        flow = Workflow(Path(tmp) / "work")
        flow.start(LESSON)
        file = flow.work_file(LESSON)
        file.write_text(PASSING)
        screen = TimedScreen()
        read_end, write_end = os.pipe()
        keys = os.fdopen(read_end, "r")
        started = time.perf_counter()
        runner = threading.Thread(target=watch, args=(flow, LESSON, screen), daemon=True,
                                  kwargs={"file": file, "stream": keys})
        runner.start()
        try:
            first = screen.wait(1, "checked") - started
            time.sleep(settle)  # the watcher is up before the first save
            times: dict[str, dict[str, list[float]]] = {kind: {"checking": [], "screened": [], "checked": []}
                                                        for kind in ("refused", "passing")}
            check = 1
            for _ in range(saves):
                for kind, text in (("refused", REFUSED), ("passing", PASSING)):
                    check += 1
                    t0 = save(file, text)
                    for step in ("checking", "screened", "checked"):
                        times[kind][step].append(screen.wait(check, step) - t0)
                    expected = "refused" if kind == "refused" else "passed"
                    if screen.seen[check] != expected:  # e.g. a save seen half-written: a figure for another file
                        raise RuntimeError(f"check {check} found {screen.seen[check]!r}, not {expected!r}")
                    time.sleep(settle)  # one save at a time: no burst coalesced into one check
        finally:
            os.write(write_end, b"q\n")
            os.close(write_end)
            runner.join(timeout=60)
    return {"first_check_s": round(first, 3),
            **{kind: {step: summary(values) for step, values in steps.items()} for kind, steps in times.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=5, help="saves of each kind (default 5)")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds between saves (default 0.5)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "load_before": [round(x, 2) for x in os.getloadavg()], "saves": args.saves, "lesson": LESSON,
              **measure(args.saves, args.settle), "load_after": [round(x, 2) for x in os.getloadavg()],
              "targets_s": TARGETS}
    print(f"first check (zygote starting): {result['first_check_s']:.2f} s")
    for kind in ("refused", "passing"):
        steps = result[kind]
        print(f"{kind:8} save -> " + ", ".join(f"{step} {s['median']:.3f} s ({s['min']:.3f}-{s['max']:.3f})"
                                                for step, s in steps.items()) + f"  [median of {args.saves}]")
    print(f"targets: policy findings on screen < {TARGETS['screened']} s "
          f"(refused: {result['refused']['screened']['median']:.3f} s), warm full check < {TARGETS['checked']} s "
          f"(passing: {result['passing']['checked']['median']:.3f} s); load {result['load_before']} -> "
          f"{result['load_after']}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
