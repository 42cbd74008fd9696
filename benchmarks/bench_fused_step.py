"""One training step of the lesson-6 program, eager against `--compile` (grader.trainer.fused), interleaved.

The trainer's ProgramModule runs the exported program op by op (the default); with `course grade --compile` it runs
the fx graph the grader writes from the same program through torch.compile, each dropout a multiplication by a mask
drawn outside. Both train the same module from the same state on the same batch of 128 images; the rounds go
eager, compiled, compiled, eager, and the figure is the median of the per-round ratios with their spread. Compile
times are reported apart, cold (inductor's cache in a fresh folder): the first step (the full batch), and the first
step of an epoch's smaller last batch, which runs eagerly since only the first batch shape is compiled.

    python benchmarks/bench_fused_step.py --rounds 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = ROOT / "benchmarks" / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds of eager, compiled, compiled, eager")
    parser.add_argument("--steps", type=int, default=15, help="steps a timed run")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    import os
    import tempfile

    # a cold compile, as a first grading pays it: inductor's on-disk cache in a fresh folder (set before torch loads)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-fused-inductor-")
    import torch
    import torch.nn.functional as F
    from bench_grade import _cpu_model, _program_of, _solution

    from grader.mnist import load_split, normalize, to_unit
    from grader.trainer.fused import FusedForward

    cpu = torch.device("cpu")
    split = load_split(train=True)
    torch.manual_seed(0)
    model = _program_of(_solution().Net(), 0, True, cpu).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fused = FusedForward(model, None, cpu)

    def runner(forward, batch: int = 128):
        x, y = normalize(to_unit(split.images[:batch])).contiguous(), split.labels[:batch]

        def run(steps: int) -> float:
            started = time.perf_counter()
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(forward(x), y).backward()
                optimizer.step()
            return (time.perf_counter() - started) / steps * 1000

        return run

    first = runner(fused)(1) / 1000
    last_batch = runner(fused, 60_000 % 128)(1) / 1000
    eager, compiled = runner(model), runner(fused)
    eager(2)
    a, b = [], []
    for _ in range(args.rounds):
        a.append(eager(args.steps))
        b.append(compiled(args.steps))
        b.append(compiled(args.steps))
        a.append(eager(args.steps))
    ratios = sorted(q / p for p, q in zip(a, b))
    out = {
        "what": "one lesson-6 training step (batch 128), eager program vs --compile (grader.trainer.fused)",
        "command": "python benchmarks/bench_fused_step.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": date.today().isoformat(), "cpu_model": _cpu_model(), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        # since 2026-12-07 an epoch's last, smaller batch runs eagerly (FusedForward compiles one shape): its first
        # step is no longer a compile
        "compile_seconds": {"first_batch": first},
        "last_smaller_batch_first_step_seconds": last_batch,
        "ms_per_step": {"eager": statistics.median(a), "compiled": statistics.median(b)},
        "compiled_over_eager": {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1],
                                "n": len(ratios)},
        "runs_ms": {"eager": a, "compiled": b},
    }
    print(f"compile: {first:.1f} s (first batch); an epoch's last, smaller batch: {last_batch:.2f} s (eager)")
    print(f"eager {out['ms_per_step']['eager']:.1f} ms a step, compiled {out['ms_per_step']['compiled']:.1f} ms: "
          f"compiled/eager {statistics.median(ratios):.3f} (median of {len(ratios)}; {ratios[0]:.3f}-{ratios[-1]:.3f})")
    if not args.no_save:
        path = RESULTS / f"fused-step-cpu-{out['date']}.json"
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
