"""Benchmark: two ways to train the same model on the same device, run as interleaved pairs, compared by paired ratios.

(a) reference: torchvision datasets.MNIST with per-sample PIL transforms (RandomAffine, ColorJitter, ToTensor,
    Normalize) through a DataLoader with workers and pinned memory, and the classic train/test loop.
(b) grader: the grader's own loop (train_with_grader_loop) — data resident on the device as uint8, batched
    augmentation, metrics read once an epoch — optionally with speed flags (`--b grader+fast_dropout`).
Both train solutions/lesson6/model.py (the seed-003 architecture, 13,960 parameters) with its recipe: batch 128,
SGD momentum 0.9 with OneCycleLR max_lr 0.1, RandomAffine ±20°/0.1/0.9–1.1/shear 5, ColorJitter 0.2/0.2, and
evaluate on the full 10k test set after every epoch.

Method: for each seed the runs go a, b, b, a, each in a fresh process, so slow drift in the machine's load hits
both sides alike. A seed's ratio is b's speed over a's from that seed's four runs; the figure reported is the
median of those per-seed ratios with their spread (min..max, and the IQR from 4 seeds on), never a ratio of means.
A seed whose two runs of the same side differ by more than 20 % was disturbed by other work: it is flagged and
left out of the median (unless every seed is flagged, which the output then says).

    python benchmarks/bench_grade.py --epochs 1 --device cpu --seeds 3
    python benchmarks/bench_grade.py --epochs 20 --device cuda --seeds 5 --b grader+compile:reduce-overhead
    python benchmarks/bench_grade.py --epochs 1 --seeds 3 --limit 10000 --a grader+fast_dropout:off --b grader

Writes benchmarks/results/<device>-<date>-e<epochs>[-<b's flags>].json and regenerates docs/performance.md from
every results file.
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
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "lesson6" / "model.py"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

DISTURBED = 0.20  # a side's two runs of one seed further apart than this (slow/fast - 1): other work got in
METHOD = "paired"  # results files without it predate the paired method (means over unpaired runs)


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


@dataclass(frozen=True)
class Side:
    """One side of the comparison: a pipeline and its flags, written "grader+compile:reduce-overhead+fast_dropout"."""

    pipeline: str  # "reference" or "grader"
    compile: str | None = None  # a torch.compile mode name ("default" included); grader only
    channels_last: bool = False  # grader only
    fast_dropout: bool = False  # grader.trainer.speed.fast_dropout around the loop; grader only
    cuda_graph: bool = True  # the recorded step on a GPU (LoopOptions.cuda_graph, on by default); grader only
    threads: int | None = None  # torch.set_num_threads in the process that trains (None: torch's default)
    # Train the solution's exported program as the trainer does (grader.trainer.program_module), not its nn.Module:
    # what `course grade` runs since the submission's code runs only once; fast_dropout is then the module's own draw
    program: bool = False

    @property
    def label(self) -> str:
        flags = []
        if self.compile:
            flags.append("compile" if self.compile == "default" else f"compile:{self.compile}")
        if self.channels_last:
            flags.append("channels_last")
        if self.fast_dropout:
            flags.append("fast_dropout")
        if not self.cuda_graph and self.pipeline == "grader":
            flags.append("cuda_graph:off")
        if self.program:
            flags.append("program")
        if self.threads is not None:
            flags.append(f"threads:{self.threads}")
        return "+".join([self.pipeline, *flags])

    @property
    def flags(self) -> str:
        """The flags alone ("eager" when none), as the "grader loop" column shows them."""
        return self.label.partition("+")[2] or "eager"


_COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def parse_side(text: str) -> Side:
    """Side from "pipeline+flag+flag:value"; a flag with ":off" is off. Raises ValueError on anything unknown."""
    pipeline, *flags = text.strip().split("+")
    if pipeline not in ("reference", "grader"):
        raise ValueError(f"unknown pipeline {pipeline!r}: use reference or grader")
    values: dict = {}
    for flag in flags:
        name, _, value = flag.partition(":")
        off = value == "off"
        if name == "compile" and (off or not value or value in _COMPILE_MODES):
            values["compile"] = None if off else (value or "default")
        elif name in ("channels_last", "fast_dropout", "cuda_graph", "program") and value in ("", "off"):
            values[name] = not off
        elif name == "threads" and value.isdigit() and int(value) > 0:
            values["threads"] = int(value)
        else:
            raise ValueError(f"unknown flag {flag!r} in {text!r}: use compile[:MODE], channels_last, fast_dropout, "
                             "cuda_graph, program, threads:N (a boolean flag takes :off)")
        if pipeline == "reference" and name != "threads":
            raise ValueError(f"{flag!r} is a flag of the grader's loop; the reference takes threads:N only")
    return Side(pipeline, **values)


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
            test_ds = torch.utils.data.Subset(test_ds, range(min(limit, len(test_ds))))
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


def train_with_grader_loop(model, recipe, train_split, test_split, device, seed: int, side: Side):
    """Train `model` and evaluate the test split after every epoch with the grader's loop, as `course grade` does.

    The benchmark's one call into the grader: re-point this when the loop moves. Returns (history, warnings), where
    history holds one {"epoch", "seconds", "train_acc", "test_acc"} dict an epoch, "seconds" counting the
    epoch's evaluation too (the reference's do).
    """
    import time

    from grader.course.options import LoopOptions
    from grader.evaluator.main import evaluate as evaluator_measures
    from grader.mnist import normalize
    from grader.trainer.speed import fast_dropout
    from grader.trainer.train import fit

    images, labels = normalize(test_split.images).to(device), test_split.labels.to(device)
    history = []
    measured = _MeasuredProgram(model, device) if side.program else _AsProgram(model)

    def evaluate(stats):
        # What the clean evaluator measures after every epoch (in its own process, in a grading), with its own code
        # and batch size (cache-sized on a CPU)
        started = time.perf_counter()
        model.eval()
        acc = evaluator_measures(measured, {}, images, labels).acc
        history.append({"epoch": stats.epoch, "seconds": stats.seconds + time.perf_counter() - started,
                        "train_acc": stats.train_acc, "test_acc": acc})

    # every flag explicit: a side's label names what it ran, whatever LoopOptions' defaults are
    options = LoopOptions(compile=side.compile or False, channels_last=side.channels_last,
                          fast_dropout=side.fast_dropout, cuda_graph=side.cuda_graph)
    # A module's dropout gets the cheaper draw by patching torch around the loop, as the worker's loop did before the
    # submission's code stopped running in training; the exported program draws its own (Side.program)
    with fast_dropout(side.fast_dropout and not side.program and device.type == "cpu"):
        result = fit(model, recipe, train_split, device, seed, on_epoch=evaluate, options=options)
    return history, result


class _AsProgram:
    """A module in eval mode as the evaluator calls a program: run(state, x), the state being the module's own."""

    def __init__(self, module):
        self.module = module

    def run(self, state, x):
        return self.module(x)


class _MeasuredProgram:
    """What the evaluator runs for a trained ProgramModule: the program derived from it, on its current state."""

    def __init__(self, model, device):
        from grader import program
        from grader.interpret import Program

        self.model = model
        self.derived = Program(program.derive_eval(model.graph), {}, device, held_kinds=())

    def run(self, state, x):
        held = {spec.name: getattr(self.model, spec.name) for spec in self.model.graph.inputs if spec.kind != "input"}
        return self.derived.run(held, x)


def _program_of(net, seed: int, fast: bool, device):
    """The solution as the trainer receives it: exported once, its initial state drawn by the grader."""
    import tempfile

    import torch

    from grader import program
    from grader.interpret import tensors_from_file
    from grader.trainer import speed
    from grader.trainer.init import draw
    from grader.trainer.program_module import ProgramModule
    from grader.worker.export import export_program

    with tempfile.TemporaryDirectory() as tmp:
        export_program(net, torch.zeros(8, 1, 28, 28), Path(tmp))
        graph = program.read_graph(Path(tmp) / "graph.json")
        constants = tensors_from_file(Path(tmp) / "constants.bin", "cpu")
        submitted = tensors_from_file(Path(tmp) / "initial.bin", "cpu")
    drawn = draw(graph, submitted, seed, None)
    return ProgramModule(graph, constants, drawn.state, fast and device.type == "cpu", speed.DropoutTally())





def run_grader(device, epochs: int, seed: int, side: Side, limit: int | None = None) -> dict:
    """The lesson-6 solution through train_with_grader_loop, data loading included in the wall time."""
    import torch

    from grader.mnist import load_split
    from grader.trainer.recipe import resolve

    if side.program:
        # Libraries are imported before the clock starts, on both sides (the reference imports torchvision before
        # its clock): torch.export's machinery takes about 1.5 s to import, which a warm grading's zygote has
        # already paid (grader.zygote.server) and a cold one pays in the worker. The export itself is timed.
        import torch.export._trace  # noqa: F401

        import grader.worker.export  # noqa: F401

    sol = _solution()
    overrides = {k: getattr(sol, k) for k in ("BATCH_SIZE", "AUGMENT", "make_optimizer")}
    recipe = resolve({**overrides, "EPOCHS": epochs}, None, max_epochs=epochs)
    started = time.perf_counter()
    train_split, test_split = load_split(train=True), load_split(train=False)
    if limit:
        train_split, test_split = train_split.subset(limit), test_split.subset(limit)
    torch.manual_seed(seed)
    model = _program_of(sol.Net(), seed, side.fast_dropout, device) if side.program else sol.Net()
    history, result = train_with_grader_loop(model, recipe, train_split, test_split, device, seed, side)
    _sync(device)
    wall = time.perf_counter() - started
    out = _summary("grader", history, wall, len(train_split), device)
    out["warnings"] = result.warnings  # e.g. torch.compile fell back to eager: the figures are then eager ones
    out["graphed"] = result.graphed
    out["channels_last"] = result.channels_last  # what the loop trained in (a model may refuse it: then False)
    return out


def loop_label(compile: str | None, channels_last: bool) -> str:
    """How the grader's loop ran: "eager", or its opt-in flags joined by "+" ("compile", "compile:reduce-overhead")."""
    return Side("grader", compile=compile, channels_last=channels_last).flags


def _summary(pipeline: str, history: list[dict], wall: float, n_train: int, device) -> dict:
    train_seconds = sum(h["seconds"] for h in history)
    return {
        "pipeline": pipeline,
        "epochs": history,
        "wall_seconds": wall,
        "seconds_per_epoch": train_seconds / len(history),
        # the steady state: the first epoch also pays one-off costs (torch.compile's compiles, above all)
        "seconds_per_later_epoch": (statistics.median(h["seconds"] for h in history[1:]) if len(history) > 1
                                    else None),
        "images_per_second": n_train * len(history) / train_seconds,
        "peak_memory_mb": _peak_memory_mb(device),
        "final_acc": history[-1]["test_acc"],
        "best_acc": max(h["test_acc"] for h in history),
        "train_images": n_train,
    }


def _child(args) -> None:
    import torch

    from grader.device import pick_device

    side = parse_side(args.child)
    if side.threads is not None:
        torch.set_num_threads(side.threads)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
    if side.pipeline == "reference":
        out = run_reference(device, args.epochs, args.seed, args.workers, args.limit)
    else:
        out = run_grader(device, args.epochs, args.seed, side, args.limit)
    print("RESULT " + json.dumps({**out, "seed": args.seed, "side_label": side.label,
                                  "threads": torch.get_num_threads()}))


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
        "cpu_model": _cpu_model(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _roofline(device_arg: str) -> dict:
    """What the roofline in docs/performance.md needs: the FLOPs of one training image of the lesson-6 solution
    (forward and backward, counted by torch's FlopCounterMode) and the rate a large matrix multiply reaches on
    this device now, the ceiling a step's convolutions could approach (measured, not a datasheet peak)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from grader.device import pick_device

    device = pick_device(device_arg)
    net, batch = _solution().Net().to(device).train(), 8
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(torch.zeros(batch, 1, 28, 28, device=device)), torch.zeros(batch, dtype=torch.long,
                                                                                         device=device)).backward()
    a = torch.randn(2048, 2048, device=device)
    rates = []
    for _ in range(5):
        _sync(device)
        started = time.perf_counter()
        a @ a
        _sync(device)
        rates.append(2 * 2048**3 / (time.perf_counter() - started) / 1e9)
    return {"training_flops_per_image": counter.get_total_flops() / batch, "matmul_gflops": statistics.median(rates)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --- statistics: per-seed paired ratios, their median and spread ---

def _apart(values: list[float]) -> float:
    """How far a side's repeats are apart: slowest over fastest, minus one (0.25 = 25 %)."""
    return max(values) / min(values) - 1


def pair_of(a_runs: list[dict], b_runs: list[dict], seed: int) -> dict:
    """One seed's comparison from its a and b runs (two each, a b b a): b's speed over a's, and whether disturbed.

    Each side's repeats are summed before dividing, so drift that is linear in time cancels out of the ratio.
    """
    apart = max(_apart([r[k] for r in runs]) for runs in (a_runs, b_runs)
                for k in ("wall_seconds", "images_per_second"))
    return {
        "seed": seed,
        "speedup_wall": sum(r["wall_seconds"] for r in a_runs) / sum(r["wall_seconds"] for r in b_runs),
        "speedup_images_per_second": (sum(r["images_per_second"] for r in b_runs)
                                      / sum(r["images_per_second"] for r in a_runs)),
        "repeat_apart": apart,
        "disturbed": apart > DISTURBED,
        "final_acc_a": statistics.fmean(r["final_acc"] for r in a_runs),
        "final_acc_b": statistics.fmean(r["final_acc"] for r in b_runs),
    }


def spread(values: list[float]) -> dict:
    """Median, min, max, and the interquartile range (inclusive quartiles) when there are at least 4 values."""
    out = {"n": len(values), "median": statistics.median(values), "min": min(values), "max": max(values)}
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        out["q1"], out["q3"] = q1, q3
    return out


def _side_figures(runs: list[dict]) -> dict:
    if not runs:  # --only ran the other side
        return {}
    out = {k: statistics.median(r[k] for r in runs) for k in ("images_per_second", "seconds_per_epoch",
                                                             "wall_seconds", "peak_memory_mb")}
    out.update({k: statistics.fmean(r[k] for r in runs) for k in ("final_acc", "best_acc")})
    later = [r["seconds_per_later_epoch"] for r in runs if r.get("seconds_per_later_epoch") is not None]
    if later:
        out["seconds_per_later_epoch"] = statistics.median(later)
    out["runs"] = len(runs)
    return out


def summarise(runs: list[dict]) -> dict:
    """The paired summary of runs tagged with "side" ("a"/"b") and "seed": medians of per-seed ratios and their spread.

    The speed-ups rest on the undisturbed seeds only, or on all of them (with "all_disturbed") if none is left.
    Accuracy is compared over every seed: other work on the machine slows a run but does not change what it learns.
    """
    seeds = sorted({r["seed"] for r in runs})
    pairs = []
    for seed in seeds:
        a = [r for r in runs if r["seed"] == seed and r["side"] == "a"]
        b = [r for r in runs if r["seed"] == seed and r["side"] == "b"]
        if a and b:
            pairs.append(pair_of(a, b, seed))
    out = {"a": _side_figures([r for r in runs if r["side"] == "a"]),
           "b": _side_figures([r for r in runs if r["side"] == "b"]), "pairs": pairs}
    if not pairs:
        return out
    undisturbed = [p for p in pairs if not p["disturbed"]]
    used = undisturbed or pairs
    out.update({
        "pairs_used": len(used),
        "pairs_flagged": len(pairs) - len(undisturbed),
        "all_disturbed": not undisturbed,
        "speedup_wall": spread([p["speedup_wall"] for p in used]),
        "speedup_images_per_second": spread([p["speedup_images_per_second"] for p in used]),
        "final_acc_difference": statistics.fmean(p["final_acc_b"] - p["final_acc_a"] for p in pairs),
    })
    return out


def format_spread(s: dict) -> str:
    """"1.52x (1.40..1.61, IQR 1.45..1.58)": the median, then min..max, then the IQR where there is one."""
    text = f"{s['median']:.2f}x ({s['min']:.2f}..{s['max']:.2f}"
    return text + (f", IQR {s['q1']:.2f}..{s['q3']:.2f})" if "q1" in s else ")")


def format_summary(summary: dict) -> str:
    """The closing lines: b's speed-up over a, what it rests on, and the accuracy difference."""
    if not summary.get("pairs"):
        return "no seed ran both sides: no ratio"
    n, used, flagged = len(summary["pairs"]), summary["pairs_used"], summary["pairs_flagged"]
    rests = (f"all {n} seeds were disturbed (a repeat differs by more than {DISTURBED:.0%}): the figure rests on "
             "disturbed pairs; run again on a quieter machine" if summary["all_disturbed"] else
             f"median of {used} paired seed(s); {flagged} of {n} flagged disturbed (a repeat differs by more than "
             f"{DISTURBED:.0%}) and left out")
    return (f"b over a: {format_spread(summary['speedup_wall'])} wall time, "
            f"{format_spread(summary['speedup_images_per_second'])} images/s\n"
            f"  {rests}\n"
            f"  mean final accuracy difference b - a over {n} seed(s): {summary['final_acc_difference']:+.3f} %")


# --- the driver ---

def order(seeds: int, only: str | None = None) -> list[tuple[int, str, int]]:
    """(seed, side, repeat) in the order they run: a b b a for each seed, or one run a seed of side `only`."""
    if only:
        return [(seed, only, 1) for seed in range(seeds)]
    return [(seed, side, rep) for seed in range(seeds) for side, rep in (("a", 1), ("b", 1), ("b", 2), ("a", 2))]


def _run_child(side: Side, seed: int, args) -> dict:
    cmd = [sys.executable, __file__, "--child", side.label, "--seed", str(seed), "--epochs", str(args.epochs),
           "--device", args.device, "--workers", str(args.workers)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{side.label} (seed {seed}) failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..K-1, each run a b b a")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="DataLoader workers for the reference pipeline")
    parser.add_argument("--a", default="reference", help="side a (the baseline), e.g. reference or grader")
    parser.add_argument("--b", default="grader", help="side b, e.g. grader+fast_dropout+threads:1")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--compile", nargs="?", const="default", choices=_COMPILE_MODES,
                        help="side b through torch.compile, in this mode (course grade --compile-mode)")
    parser.add_argument("--channels-last", action="store_true",
                        help="side b in channels_last memory (course grade --channels-last)")
    parser.add_argument("--only", choices=("a", "b"),
                        help="run one side only, once a seed: its time and accuracy over more seeds, no ratio")
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    parser.add_argument("--limit", type=int,
                        help="train and test on the first N images only (short or smoke runs; implies --no-save)")
    parser.add_argument("--save", action="store_true", help="write the results file even with --limit")
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    try:
        a = parse_side(args.a)
        b = parse_side(args.b + (f"+compile:{args.compile}" if args.compile else "")
                       + ("+channels_last" if args.channels_last else ""))
    except ValueError as exc:
        parser.error(str(exc))

    env = {**_environment(args.device), **_roofline(args.device)}
    command = "python benchmarks/bench_grade.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if env["omp_num_threads"]:
        command = f"OMP_NUM_THREADS={env['omp_num_threads']} " + command
    how = f"side {args.only} only, one run a seed" if args.only else "runs a b b a per seed"
    print(f"benchmark on {env['device_name']} ({env['cpu_model']}): {args.epochs} epoch(s)"
          f"{f' on {args.limit} images' if args.limit else ''}, seeds 0..{args.seeds - 1}, {how}; "
          f"a = {a.label}, b = {b.label}; {args.workers} DataLoader workers for the reference", flush=True)
    runs = []
    for seed, which, rep in order(args.seeds, args.only):
        side = a if which == "a" else b
        try:
            run = _run_child(side, seed, args)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        run.update(side=which, repeat=rep)
        runs.append(run)
        for warning in run.get("warnings", []):
            print(f"  warning: {warning}", flush=True)
        print(f"  seed {seed} {which}{rep} {side.label:24s} {run['images_per_second']:7.0f} img/s "
              f"{run['seconds_per_epoch']:7.2f} s/epoch  wall {run['wall_seconds']:6.1f} s  "
              f"peak {run['peak_memory_mb']:5.0f} MB  final {run['final_acc']:.2f}%", flush=True)
    summary = summarise(runs)
    for p in summary["pairs"]:
        print(f"  seed {p['seed']}: b/a {p['speedup_wall']:.2f}x wall, {p['speedup_images_per_second']:.2f}x img/s; "
              f"repeats {p['repeat_apart']:.0%} apart{' - DISTURBED' if p['disturbed'] else ''}")
    print(format_summary(summary))
    if not args.no_save and (args.save or not args.limit):
        RESULTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", env["device_name"].lower()).strip("-")
        # Named by both sides when a is not the reference: a run of the old loop against the program must not
        # overwrite the program's run against the reference.
        sides = b.label if a.label == "reference" else f"{a.label}-vs-{b.label}"
        tag = "" if (a.label, b.label) == ("reference", "grader") else "-" + re.sub(r"[^a-z0-9]+", "-", sides)
        size = (f"-n{args.limit}" if args.limit else "") + (f"-only-{args.only}" if args.only else "")
        path = RESULTS / f"{slug}-{env['date'][:10]}-e{args.epochs}{size}{tag}.json"
        payload = {"environment": env, "args": {"method": METHOD, "epochs": args.epochs, "seeds": args.seeds,
                                                "only": args.only,
                                                "train_images": runs[0]["train_images"],
                                                "workers": args.workers, "a": a.label, "b": b.label,
                                                "loop": b.flags, "command": command},
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
