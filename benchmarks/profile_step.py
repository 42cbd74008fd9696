"""Where one training step of the grader's loop spends its time: a torch.profiler table, by phase and by op.

The step is the one grader.trainer.train runs (augment a resident uint8 batch, forward, loss, backward, optimizer and
scheduler step) on solutions/lesson6/model.py with its recipe. Use it to say what limits a speed target.

    python benchmarks/profile_step.py --device cpu --steps 20
    python benchmarks/profile_step.py --device cpu --steps 20 --fast-dropout --threads 1
    python benchmarks/profile_step.py --device cuda --steps 50 --compile reduce-overhead
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PHASES = ("augment", "forward", "backward", "optimizer")


def profile(device_arg: str, steps: int, warmup: int, compile: str | None, rows: int, fast_dropout: bool = False,
            threads: int | None = None, channels_last: bool = False, foreach: bool = False) -> str:
    """Profile `steps` training steps after `warmup` ones; the phase shares and the top `rows` ops, as text.

    The flags try the speed candidates: grader.trainer.speed.fast_dropout, torch.set_num_threads, channels_last memory,
    and the optimizer's foreach step.
    """
    import contextlib

    import torch
    import torch.nn.functional as F
    from bench_grade import _solution
    from torch.profiler import ProfilerActivity, record_function

    from grader.device import device_name, pick_device
    from grader.mnist import load_split, normalize, to_unit
    from grader.trainer.augment import Augmenter
    from grader.trainer.recipe import build_optimizer, resolve
    from grader.trainer.speed import fast_dropout as fast_dropout_patch
    from grader.trainer.train import steps_per_epoch

    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device_arg)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    sol = _solution()
    overrides = {k: getattr(sol, k) for k in ("BATCH_SIZE", "AUGMENT", "make_optimizer")}
    recipe = resolve({**overrides, "EPOCHS": 20}, None, max_epochs=20)
    split = load_split(train=True)
    images, labels = split.images.to(device), split.labels.to(device)
    torch.manual_seed(0)
    model = sol.Net().to(device, memory_format=memory_format).train()
    fn = torch.compile(model, mode=compile) if compile else model
    optimizer, scheduler = build_optimizer(recipe, model, steps_per_epoch(len(labels), recipe.batch_size))
    if foreach:
        for group in optimizer.param_groups:
            group["foreach"] = True
    augment = Augmenter(recipe.augment)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(0)

    def step(i: int) -> None:
        idx = torch.arange(i * recipe.batch_size, (i + 1) * recipe.batch_size, device=device) % len(labels)
        with record_function("augment"):
            x = normalize(augment(to_unit(images[idx]), generator)).contiguous(memory_format=memory_format)
        optimizer.zero_grad(set_to_none=True)
        with record_function("forward"):
            loss = F.cross_entropy(fn(x).float(), labels[idx])
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer"):
            optimizer.step()
            if scheduler is not None:
                scheduler.step()

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with fast_dropout_patch(fast_dropout) if fast_dropout else contextlib.nullcontext():
        for i in range(warmup):
            step(i)
        cpu_started = time.process_time()
        with torch.profiler.profile(activities=activities) as prof:
            for i in range(steps):
                step(warmup + i)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        cpu_seconds = time.process_time() - cpu_started
    averages = prof.key_averages()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = {e.key: e.cpu_time_total for e in averages if e.key in PHASES}
    whole = sum(total.values()) or 1.0
    flags = [f"compiled, mode {compile}" if compile else "eager"]
    flags += [name for name, on in (("fast_dropout", fast_dropout), ("channels_last", channels_last),
                                    ("foreach", foreach)) if on]
    lines = [f"{steps} training steps on {device_name(device)} ({', '.join(flags)}), "
             f"{whole / steps / 1000:.1f} ms of host time a step, {1000 * cpu_seconds / steps:.1f} ms of CPU time "
             "(all threads; steadier than host time on a shared machine, but it counts threads spinning)",
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
    parser.add_argument("--fast-dropout", action="store_true",
                        help="draw dropout masks with grader.trainer.speed.fast_dropout")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) first")
    parser.add_argument("--channels-last", action="store_true", help="model and batches in channels_last memory")
    parser.add_argument("--foreach", action="store_true", help="the optimizer steps with foreach=True")
    args = parser.parse_args(argv)
    print(profile(args.device, args.steps, args.warmup, args.compile, args.rows, args.fast_dropout, args.threads,
                  args.channels_last, args.foreach))
    return 0


if __name__ == "__main__":
    sys.exit(main())
