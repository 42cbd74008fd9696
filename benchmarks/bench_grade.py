"""Benchmark: the grader's training loop against the pipeline people use today, same model, recipe and device.

(a) reference: torchvision datasets.MNIST with per-sample PIL transforms (RandomAffine, ColorJitter, ToTensor,
    Normalize) through a DataLoader with workers and pinned memory, and the classic train/test loop.
(b) grader: grader.worker.train.train — data resident on the device as uint8, batched augmentation, metrics read
    once an epoch.
Both train solutions/lesson6/model.py (the seed-003 architecture, 13,960 parameters) with its recipe: batch 128,
SGD momentum 0.9 with OneCycleLR max_lr 0.1, RandomAffine ±20°/0.1/0.9–1.1/shear 5, ColorJitter 0.2/0.2, and
evaluate on the full 10k test set after every epoch. Each (pipeline, seed) runs in a fresh process, interleaved,
so peak memory is per pipeline and drift in machine load hits both.

    python benchmarks/bench_grade.py --epochs 20 --device cuda --seeds 5
    python benchmarks/bench_grade.py --epochs 2 --device cpu --seeds 1

Writes benchmarks/results/<device>-<date>.json and regenerates docs/performance.md from every results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "lesson6" / "model.py"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def _solution():
    spec = importlib.util.spec_from_file_location("bench_solution", SOLUTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_reference(device, epochs: int, seed: int, workers: int, limit: int | None = None) -> dict:
    """The pipeline as course notebooks write it: PIL transforms per sample, DataLoader, .item() every step."""
    import torch
    import torch.nn.functional as F
    from torchvision import datasets, transforms

    from grader.paths import bundled_data_dir

    sol = _solution()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for gz in bundled_data_dir().glob("*.gz"):  # torchvision reads the uncompressed IDX files
            (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
        a = sol.AUGMENT
        train_tf = transforms.Compose([
            transforms.RandomAffine(degrees=a["degrees"], translate=a["translate"], scale=a["scale"], shear=a["shear"]),
            transforms.ColorJitter(brightness=a["brightness"], contrast=a["contrast"]),
            transforms.ToTensor(),
            transforms.Normalize((0.1307,), (0.3081,)),
        ])
        test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train_ds = datasets.MNIST(root, train=True, download=False, transform=train_tf)
        test_ds = datasets.MNIST(root, train=False, download=False, transform=test_tf)
        if limit:
            train_ds = torch.utils.data.Subset(train_ds, range(limit))
        torch.manual_seed(seed)
        pin = device.type == "cuda"
        kwargs = {"num_workers": workers, "pin_memory": pin, "persistent_workers": workers > 0}
        train_loader = torch.utils.data.DataLoader(train_ds, batch_size=sol.BATCH_SIZE, shuffle=True, **kwargs)
        test_loader = torch.utils.data.DataLoader(test_ds, batch_size=1000, shuffle=False, **kwargs)
        model = sol.Net().to(device)
        optimizer, scheduler = sol.make_optimizer(model, len(train_loader), epochs)
        history = []
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            train_loss, correct, seen = 0.0, 0, 0
            for data, target in train_loader:
                data, target = data.to(device, non_blocking=pin), target.to(device, non_blocking=pin)
                optimizer.zero_grad()
                output = model(data)
                loss = F.nll_loss(output, target)
                loss.backward()
                optimizer.step()
                scheduler.step()
                train_loss += loss.item() * len(target)
                correct += output.argmax(dim=1).eq(target).sum().item()
                seen += len(target)
            model.eval()
            test_loss, test_correct = 0.0, 0
            with torch.no_grad():
                for data, target in test_loader:
                    data, target = data.to(device), target.to(device)
                    output = model(data)
                    test_loss += F.nll_loss(output, target, reduction="sum").item()
                    test_correct += output.argmax(dim=1).eq(target).sum().item()
            history.append({"epoch": epoch, "seconds": time.perf_counter() - t0,
                            "train_acc": 100 * correct / seen, "test_acc": 100 * test_correct / len(test_ds)})
    wall = time.perf_counter() - started
    return _summary("reference", history, wall, len(train_ds), device)


def run_grader(device, epochs: int, seed: int, limit: int | None = None, compile: str | None = None,
               channels_last: bool = False) -> dict:
    """The grader's own loop, exactly as `course grade` runs it inside the worker (with its opt-in loop flags)."""
    import torch

    from grader.mnist import load_split
    from grader.worker.recipe import resolve
    from grader.worker.train import LoopOptions, train

    sol = _solution()
    overrides = {k: getattr(sol, k) for k in ("BATCH_SIZE", "AUGMENT", "make_optimizer")}
    recipe = resolve({**overrides, "EPOCHS": epochs}, None, max_epochs=epochs)
    started = time.perf_counter()
    train_split, test_split = load_split(train=True), load_split(train=False)
    if limit:
        train_split = train_split.subset(limit)
    torch.manual_seed(seed)
    model = sol.Net()
    options = LoopOptions(compile=compile or False, channels_last=channels_last)  # a mode name, "default" included
    result = train(model, recipe, train_split, test_split, device, seed, options=options)
    _sync(device)
    wall = time.perf_counter() - started
    history = [{"epoch": e.epoch, "seconds": e.seconds, "train_acc": e.train_acc, "test_acc": e.test_acc}
               for e in result.epochs]
    out = _summary("grader", history, wall, len(train_split), device)
    out["warnings"] = result.warnings  # e.g. torch.compile fell back to eager: the figures are then eager ones
    return out


def loop_label(compile: str | None, channels_last: bool) -> str:
    """How the grader's loop ran: "eager", or its opt-in flags joined by "+" ("compile", "compile:reduce-overhead")."""
    flags = []
    if compile:
        flags.append("compile" if compile == "default" else f"compile:{compile}")
    if channels_last:
        flags.append("channels_last")
    return "+".join(flags) or "eager"


def _summary(pipeline: str, history: list[dict], wall: float, n_train: int, device) -> dict:
    train_seconds = sum(h["seconds"] for h in history)
    return {
        "pipeline": pipeline,
        "epochs": history,
        "wall_seconds": wall,
        "seconds_per_epoch": train_seconds / len(history),
        "images_per_second": n_train * len(history) / train_seconds,
        "peak_memory_mb": _peak_memory_mb(device),
        "final_acc": history[-1]["test_acc"],
        "best_acc": max(h["test_acc"] for h in history),
    }


def _child(args) -> None:
    import torch

    from grader.device import pick_device

    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
    if args.child == "reference":
        out = run_reference(device, args.epochs, args.seed, args.workers, args.limit)
    else:
        out = run_grader(device, args.epochs, args.seed, args.limit, args.compile, args.channels_last)
    print("RESULT " + json.dumps({**out, "seed": args.seed}))


def _environment(device_arg: str) -> dict:
    import torch

    from grader.device import device_name, pick_device

    device = pick_device(device_arg)
    return {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _mean(runs: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in runs)


def summarise(runs: list[dict]) -> dict:
    """Per-pipeline means and the grader/reference ratios."""
    by = {p: [r for r in runs if r["pipeline"] == p] for p in ("reference", "grader")}
    out = {}
    for p, rs in by.items():
        if rs:
            out[p] = {k: _mean(rs, k) for k in ("images_per_second", "seconds_per_epoch", "wall_seconds",
                                                 "peak_memory_mb", "final_acc", "best_acc")}
            out[p]["runs"] = len(rs)
    if by["reference"] and by["grader"]:
        out["ratio_wall"] = out["reference"]["wall_seconds"] / out["grader"]["wall_seconds"]
        out["ratio_images_per_second"] = out["grader"]["images_per_second"] / out["reference"]["images_per_second"]
        out["final_acc_difference"] = out["grader"]["final_acc"] - out["reference"]["final_acc"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..K-1, each pipeline once per seed")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="DataLoader workers for the reference pipeline")
    parser.add_argument("--pipelines", default="reference,grader")
    parser.add_argument("--child", choices=["reference", "grader"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--compile", nargs="?", const="default", choices=("default", "reduce-overhead", "max-autotune"),
                        help="grader loop through torch.compile, in this mode (course grade --compile-mode)")
    parser.add_argument("--channels-last", action="store_true",
                        help="grader loop in channels_last memory (course grade --channels-last)")
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    parser.add_argument("--limit", type=int, help="train on the first N images only (smoke runs; implies --no-save)")
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    env = _environment(args.device)
    loop = loop_label(args.compile, args.channels_last)
    print(f"benchmark on {env['device_name']}: {args.epochs} epoch(s), seeds 0..{args.seeds - 1}, "
          f"{args.workers} DataLoader workers for the reference, grader loop {loop}", flush=True)
    runs = []
    for seed in range(args.seeds):
        for pipeline in args.pipelines.split(","):
            cmd = [sys.executable, __file__, "--child", pipeline, "--seed", str(seed), "--epochs", str(args.epochs),
                   "--device", args.device, "--workers", str(args.workers)]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            cmd += (["--compile", args.compile] if args.compile else []) + ["--channels-last"] * args.channels_last
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(proc.stdout + proc.stderr, file=sys.stderr)
                return 1
            run = json.loads(line[len("RESULT "):])
            runs.append(run)
            for warning in run.get("warnings", []):
                print(f"  warning: {warning}", flush=True)
            print(f"  seed {seed} {pipeline:9s} {run['images_per_second']:9.0f} img/s  "
                  f"{run['seconds_per_epoch']:7.2f} s/epoch  wall {run['wall_seconds']:7.1f} s  "
                  f"peak {run['peak_memory_mb']:7.0f} MB  final {run['final_acc']:.2f}%  best {run['best_acc']:.2f}%",
                  flush=True)
    summary = summarise(runs)
    if "ratio_wall" in summary:
        print(f"grader / reference: {summary['ratio_wall']:.2f}x wall time, "
              f"{summary['ratio_images_per_second']:.2f}x images/s; "
              f"mean final accuracy difference {summary['final_acc_difference']:+.3f} %")
    if not (args.no_save or args.limit):
        RESULTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", env["device_name"].lower()).strip("-")
        suffix = "" if loop == "eager" else "-" + re.sub(r"[^a-z0-9]+", "-", loop)
        path = RESULTS / f"{slug}-{env['date'][:10]}-e{args.epochs}{suffix}.json"
        payload = {"environment": env, "args": {"epochs": args.epochs, "seeds": args.seeds, "workers": args.workers,
                                                "loop": loop},
                   "runs": runs, "summary": summary}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(path)
        print(f"wrote {path.relative_to(ROOT)}")
        from report import write_performance_md

        print(f"wrote {write_performance_md().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
