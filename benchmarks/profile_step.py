"""Where one training step of the grader's loop spends its time: a torch.profiler table, by phase and by op.

The step is the one grader.worker.train runs (augment a resident uint8 batch, forward, loss, backward, optimizer and
scheduler step) on solutions/lesson6/model.py with its recipe. Use it to say what limits a speed target.

    python benchmarks/profile_step.py --device cpu --steps 20
    python benchmarks/profile_step.py --device cuda --steps 50 --compile reduce-overhead
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PHASES = ("augment", "forward", "backward", "optimizer")


def profile(device_arg: str, steps: int, warmup: int, compile: str | None, rows: int) -> str:
    """Profile `steps` training steps after `warmup` ones; the phase shares and the top `rows` ops, as text."""
    import torch
    import torch.nn.functional as F
    from bench_grade import _solution
    from torch.profiler import ProfilerActivity, record_function

    from grader.device import device_name, pick_device
    from grader.mnist import load_split, normalize, to_unit
    from grader.worker.augment import Augmenter
    from grader.worker.recipe import build_optimizer, resolve
    from grader.worker.train import steps_per_epoch

    device = pick_device(device_arg)
    sol = _solution()
    overrides = {k: getattr(sol, k) for k in ("BATCH_SIZE", "AUGMENT", "make_optimizer")}
    recipe = resolve({**overrides, "EPOCHS": 20}, None, max_epochs=20)
    split = load_split(train=True)
    images, labels = split.images.to(device), split.labels.to(device)
    torch.manual_seed(0)
    model = sol.Net().to(device).train()
    fn = torch.compile(model, mode=compile) if compile else model
    optimizer, scheduler = build_optimizer(recipe, model, steps_per_epoch(len(labels), recipe.batch_size))
    augment = Augmenter(recipe.augment)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(0)

    def step(i: int) -> None:
        idx = torch.arange(i * recipe.batch_size, (i + 1) * recipe.batch_size, device=device) % len(labels)
        with record_function("augment"):
            x = normalize(augment(to_unit(images[idx]), generator))
        optimizer.zero_grad(set_to_none=True)
        with record_function("forward"):
            loss = F.cross_entropy(fn(x).float(), labels[idx])
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer"):
            optimizer.step()
            if scheduler is not None:
                scheduler.step()

    for i in range(warmup):
        step(i)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for i in range(steps):
            step(warmup + i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    averages = prof.key_averages()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = {e.key: e.cpu_time_total for e in averages if e.key in PHASES}
    whole = sum(total.values()) or 1.0
    lines = [f"{steps} training steps on {device_name(device)} ({f'compiled, mode {compile}' if compile else 'eager'}), "
             f"{whole / steps / 1000:.1f} ms of host time a step",
             "phase shares: " + ", ".join(f"{p} {100 * total.get(p, 0) / whole:.1f} %" for p in PHASES), ""]
    lines.append(averages.table(sort_by=sort, row_limit=rows))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20, help="steps profiled")
    parser.add_argument("--warmup", type=int, default=5, help="steps run first, unprofiled (and compiling)")
    parser.add_argument("--compile", nargs="?", const="default", choices=("default", "reduce-overhead", "max-autotune"),
                        help="profile the step through torch.compile, in this mode")
    parser.add_argument("--rows", type=int, default=15, help="ops listed")
    args = parser.parse_args(argv)
    print(profile(args.device, args.steps, args.warmup, args.compile, args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
