"""Search for lesson 7's reference: train candidate files on several seeds with the grader's own loop and rules.

Each (file, seed) run does what a grading does inside its worker (grader.grading.run_grade): build and measure
the model under the seed, resolve the recipe from the submission's overrides and the lesson's recipe, load the
splits with grader.mnist.load_split, seed torch and train with grader.trainer.train.fit; then the lesson's own verdict
functions judge the static criteria and the accuracy rule (lesson 7: each of the last 3 epochs >= 99.4 %).
No sandbox and no clean evaluator: these are our own files, and the point is to compare many runs quickly.

Runs go to a pool of --jobs processes (one torch thread each on the CPU; on a GPU 8-16 processes share the
card, since a tiny net is launch-bound), seed-major (a budget cut leaves every candidate the same seeds) or, with
--order file, file-major (a cut leaves the files listed first with every seed). Each finished run is appended
as one JSON line to --out at once, and each epoch to OUT.epochs.jsonl, so a stopped search keeps what it did.
--budget-s stops launching runs that would not finish in time; --deadline-s stops the runs still going.
A summary table ends the output.

    # one H100, 16 cores: the files in order of preference, all 5 seeds of each before the next
    python benchmarks/lesson7_search.py solutions/lesson7/candidates/{dw20,dwa14,dw20_lr2,dwa24,dw16x5}.py \\
        --seeds 0-4 --device cuda --jobs 15 --order file --budget-s 170 --deadline-s 200 --out $OUT/l7.jsonl
    # CPU screening, one run at a time, printing every epoch
    OMP_NUM_THREADS=1 python benchmarks/lesson7_search.py solutions/lesson7/candidates/dw20.py --progress
    python benchmarks/lesson7_search.py --summarise l7.jsonl
    # the summary lesson 7's text quotes (its `json:` markers), from the runs of one device
    python benchmarks/lesson7_search.py --summarise benchmarks/results/lesson7-search-h100-*.jsonl \\
        --summary-json benchmarks/results/lesson7-search-summary.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAFETY = 1.15  # a run is launched only if the slowest run so far, times this, still fits in the budget


@dataclass(frozen=True)
class RunSpec:
    file: str
    seed: int
    lesson: str
    device: str
    epochs: int | None  # None: the submission's EPOCHS, capped by the lesson
    train_subset: int | None  # None: all 60,000 training images
    test_subset: int | None  # None: all 10,000 test images
    threads: int
    data_dir: str | None
    progress: bool = False  # print a line per epoch (from the worker) to watch a slow CPU run
    epochs_log: str | None = None  # JSON line per finished epoch, appended at once: what a stopped run reached


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5]; '3' -> [3]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(v) for v in part.split("-", 1))
            if hi < lo:
                raise argparse.ArgumentTypeError(f"seed range {part} runs backwards")
            seeds.extend(range(lo, hi + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


_SPLITS: dict = {}  # per worker process: the splits are read once, not once per run


def _splits(data_dir, train_subset, test_subset):
    from grader.mnist import load_split

    key = (data_dir, train_subset, test_subset)
    if key not in _SPLITS:
        train_split = load_split(train=True, data_dir=data_dir)
        test_split = load_split(train=False, data_dir=data_dir)
        if train_subset:
            train_split = train_split.subset(train_subset)
        if test_subset:
            test_split = test_split.subset(test_subset)
        _SPLITS[key] = (train_split, test_split)
    return _SPLITS[key]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_one(spec: RunSpec) -> dict:
    """One training, as a grading does it (worker and evaluator in one trusted process), judged by the lesson's
    rules; a JSON-friendly record."""
    import torch

    from grader.authoring.trusted import report_course_file
    from grader.course.lesson import get_lesson
    from grader.course.verdict import judge_accuracy, judge_static
    from grader.device import device_name, pick_device
    from grader.mnist import normalize
    from grader.trainer.recipe import resolve
    from grader.trainer.train import fit
    from grader.worker.submission import build, load, materialize

    started = time.perf_counter()
    record = {"file": spec.file, "name": Path(spec.file).stem, "seed": spec.seed}
    try:
        lesson = get_lesson(spec.lesson)
        criteria = lesson.criteria
        device = pick_device(spec.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = False  # as run_grade: same seed, same kernels
        sub = load(spec.file)
        report = report_course_file(Path(spec.file), spec.data_dir)  # parameters counted on the exported program
        train_split, test_split = _splits(spec.data_dir, spec.train_subset, spec.test_subset)
        torch.manual_seed(spec.seed)  # as a grading: the seed builds the initial weights
        model = build(sub)
        materialize(model, normalize(train_split.images[:2]))
        recipe = resolve(sub.recipe_overrides(), lesson.recipe, criteria.max_epochs, spec.epochs, lesson.fixed_recipe)
        images, labels = normalize(test_split.images).to(device), test_split.labels.to(device)
        torch.manual_seed(spec.seed)  # as a grading: dropout masks and any randomness inside the model
        accs_so_far = []

        def measure_epoch(m):  # what the clean evaluator does after every epoch
            model.eval()
            with torch.no_grad():
                correct = sum(int((model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum())
                              for i in range(0, len(labels), 1000))
            m.test_acc = 100.0 * correct / len(labels)
            accs_so_far.append(m.test_acc)
            log_epoch(m)

        def log_epoch(m):
            if spec.epochs_log:
                line = {"name": record["name"], "seed": spec.seed, "epoch": m.epoch, "test_acc": m.test_acc,
                        "train_acc": m.train_acc, "seconds": round(m.seconds, 2)}
                with open(spec.epochs_log, "a") as f:  # one short O_APPEND write: lines from workers never mix
                    f.write(json.dumps(line) + "\n")
            if spec.progress:
                print(f"  {record['name']} seed {spec.seed} epoch {m.epoch}: test {m.test_acc:.2f} %, "
                      f"train {m.train_acc:.2f} %, {m.seconds:.0f} s", flush=True)
        result = fit(model, recipe, train_split, device, spec.seed, on_epoch=measure_epoch)
        accs = list(accs_so_far)
        static = judge_static(criteria, report)
        accuracy = judge_accuracy(criteria, accs) if criteria.accuracy else None
        k = (criteria.accuracy.last_k if criteria.accuracy else None) or 1
        record.update(
            sha256=sub.sha256,
            params=report["params"],
            rf=report["rf"]["rf_before_global_pool"],
            device=device_name(device),
            epochs=len(accs),
            batch_size=recipe.batch_size,
            train_images=len(train_split),
            test_images=len(test_split),
            test_acc=accs,
            train_acc=[m.train_acc for m in result.epochs],
            train_loss=[m.train_loss for m in result.epochs],
            last_k=k,
            last_k_min=min(accs[-k:]) if accs else None,
            best=max(accs, default=None),
            static_passed=all(c.passed for c in static),
            static_failed=[c.name for c in static if c.passed is False],
            passed=bool(accuracy and accuracy.passed) and all(c.passed for c in static),
            warnings=result.warnings,
            graphed=result.graphed,
            error=None,
        )
    except Exception as exc:  # noqa: BLE001 - one broken candidate must not stop the search: record it, go on
        record.update(error=f"{type(exc).__name__}: {exc}", passed=False)
    record["seconds"] = round(time.perf_counter() - started, 2)
    return record


def plan(files: list[str], seeds: list[int], order: str = "seed", **common) -> list[RunSpec]:
    """The runs in launch order. "seed": every file gets seed s before any gets s+1, so a budget cut leaves all
    files the same seeds; "file": all seeds of the first file first, so a cut still leaves the files listed
    first with every seed (list them in order of preference)."""
    if order == "file":
        return [RunSpec(file=f, seed=s, **common) for f in files for s in seeds]
    return [RunSpec(file=f, seed=s, **common) for s in seeds for f in files]


def _screen(files: list[str], lesson_id: str) -> list[str]:
    """The static policy each file must pass before grading; refused files are named and dropped."""
    from grader.course.lesson import get_lesson
    from grader.errors import CourseError
    from grader.walls.policy import check_file

    lesson = get_lesson(lesson_id)
    kept = []
    for f in files:
        try:
            check_file(f, lesson.allowed_imports)
            kept.append(str(Path(f).resolve()))
        except CourseError as exc:
            print(f"refused by the static policy, skipped: {f}\n{exc}", file=sys.stderr)
    return kept


def search(specs: list[RunSpec], jobs: int, out: Path, budget_s: float | None, deadline_s: float | None = None,
           log=print) -> list[dict]:
    """Run the specs on `jobs` processes, appending each record to `out`.

    budget_s: launch no run that, at the pace of the slowest so far, would end after it. deadline_s: at that
    time stop the runs still going (their epochs so far are in the .epochs.jsonl file) and return.
    """
    started = time.perf_counter()
    records: list[dict] = []
    durations: list[float] = []
    pending = list(specs)
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    threads = specs[0].threads if specs else 1
    if not specs:
        return records
    # multiprocessing.Pool rather than concurrent.futures: its terminate() stops runs in flight at the deadline.
    # Its workers stay up from run to run, so each reads the splits once.
    with out.open("a") as sink, ctx.Pool(min(jobs, len(specs)), initializer=_init_worker,
                                         initargs=(threads,)) as pool:
        running: dict = {}

        def launch() -> None:
            while pending and len(running) < jobs:
                if budget_s is not None and durations:
                    left = budget_s - (time.perf_counter() - started)
                    if max(durations) * SAFETY > left:
                        log(f"budget: {left:.0f} s left, a run takes up to {max(durations):.0f} s; "
                            f"{len(pending)} run(s) not launched")
                        pending.clear()
                        return
                spec = pending.pop(0)
                running[pool.apply_async(run_one, (spec,))] = (spec, time.perf_counter())

        launch()
        while running:
            if deadline_s is not None and time.perf_counter() - started > deadline_s:
                names = ", ".join(f"{Path(s.file).stem} seed {s.seed}" for s, _ in running.values())
                log(f"deadline: {deadline_s:.0f} s reached; stopped {len(running)} run(s) in flight: {names}")
                break  # leaving the with block terminates the workers
            done = [r for r in running if r.ready()]
            if not done:
                time.sleep(0.2)
                continue
            for result in done:
                _, t0 = running.pop(result)
                durations.append(time.perf_counter() - t0)
                rec = result.get()
                records.append(rec)
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
                log(_line(rec))
            launch()
    return records


def _line(rec: dict) -> str:
    if rec.get("error"):
        return f"{rec['name']:<28} seed {rec['seed']}: ERROR {rec['error']}"
    tail = ", ".join(f"{a:.2f}" for a in rec["test_acc"][-rec["last_k"]:])
    return (f"{rec['name']:<28} seed {rec['seed']}: {rec['params']:>5} params, last {rec['last_k']}: {tail}  "
            f"{'PASS' if rec['passed'] else 'fail'}  {rec['seconds']:.0f} s")


def summarise(records: list[dict]) -> list[dict]:
    """Per candidate: passes out of runs and the mean/min of the last-k minima, best candidates first."""
    by_name: dict[str, list[dict]] = {}
    for rec in records:
        by_name.setdefault(rec["name"], []).append(rec)
    rows = []
    for name, recs in by_name.items():
        ok = [r for r in recs if not r.get("error")]
        minima = [r["last_k_min"] for r in ok]
        rows.append({
            "name": name,
            "params": ok[0]["params"] if ok else None,
            "runs": len(recs),
            "errors": len(recs) - len(ok),
            "passed": sum(bool(r["passed"]) for r in recs),
            "seeds": sorted(r["seed"] for r in recs),
            "mean_last_k_min": statistics.fmean(minima) if minima else None,
            "min_last_k_min": min(minima) if minima else None,
            "mean_final": statistics.fmean(r["test_acc"][-1] for r in ok) if ok else None,
            "mean_seconds": statistics.fmean(r["seconds"] for r in recs),
            "device": " + ".join(sorted({r.get("device") or "?" for r in recs})),  # files from several machines
        })
    rows.sort(key=lambda r: (-r["passed"] / max(r["runs"], 1), -(r["mean_last_k_min"] or 0.0), r["params"] or 0))
    return rows


def _repo_relative(file: str) -> str:
    """A run's file as the repository names it: runs made in another checkout (a worktree, a GPU box) match."""
    parts = Path(file).parts
    for anchor in ("solutions", "lessons", "tests"):
        if anchor in parts:
            return Path(*parts[parts.index(anchor):]).as_posix()
    return file


def summary_document(paths: list[Path], records: list[dict]) -> dict:
    """What lesson 7 quotes: per candidate (by name) its summary row, and the runs it rests on.

    The file's sha256 per candidate lets a test prove the figures still describe the committed file."""
    rows = summarise(records)
    sha = {rec["name"]: rec.get("sha256") for rec in records}
    files = {rec["name"]: _repo_relative(rec["file"]) for rec in records}
    batch = {rec["name"]: rec.get("batch_size") for rec in records}
    devices = sorted({rec.get("device") or "?" for rec in records})
    return {
        "written_by": "python benchmarks/lesson7_search.py --summarise " + " ".join(p.as_posix() for p in paths)
                      + " --summary-json FILE",
        "runs_files": [p.as_posix() for p in paths],
        "device": " + ".join(devices),
        "rule": "each of the last 3 of at most 15 epochs >= 99.4 % (lesson 7)",
        "candidates": {r["name"]: {**r, "file": files[r["name"]], "sha256": sha.get(r["name"]),
                                   "batch_size": batch[r["name"]]} for r in rows},
    }


def table(rows: list[dict]) -> str:
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    header = (f"{'candidate':<28} {'params':>6} {'passed':>7} {'mean last-k min':>16} {'worst':>6} "
              f"{'mean final':>10} {'s/run':>6}  seeds")
    lines = [header]
    for r in rows:
        passed = f"{r['passed']}/{r['runs']}" + (f" ({r['errors']} err)" if r["errors"] else "")
        lines.append(f"{r['name']:<28} {num(r['params'], ','):>6} {passed:>7} {num(r['mean_last_k_min'], '.3f'):>16} "
                     f"{num(r['min_last_k_min'], '.2f'):>6} {num(r['mean_final'], '.3f'):>10} "
                     f"{r['mean_seconds']:>6.0f}  {','.join(map(str, r['seeds']))}")
    return "\n".join(lines)


def epochs_log(out: Path) -> Path:
    """Where the workers log each epoch as it ends: beside the runs file."""
    return out.with_name(out.stem + ".epochs.jsonl")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="candidate submission files")
    p.add_argument("--seeds", type=parse_seeds, default=[0], help="e.g. 0-4 or 0,2 (default 0)")
    p.add_argument("--lesson", default="lesson7")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--order", choices=("seed", "file"), default="seed",
                   help="launch order: seed-major (default) or file-major (files in order of preference)")
    p.add_argument("--jobs", type=int, default=1, help="processes training at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--budget-s", type=float, default=None, help="launch no run that would end after this")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="stop the runs still going at this time (their epochs so far: OUT.epochs.jsonl)")
    p.add_argument("--out", type=Path, default=Path("lesson7_search.jsonl"), help="JSON lines, appended")
    p.add_argument("--epochs", type=int, default=None, help="cap the epochs (a smoke test)")
    p.add_argument("--train-subset", type=int, default=None, help="first N training images only")
    p.add_argument("--test-subset", type=int, default=None, help="first N test images only")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--progress", action="store_true", help="print every epoch of every run")
    p.add_argument("--summarise", type=Path, nargs="+", default=None,
                   help="print the summary of existing JSONL files (their runs together) and exit")
    p.add_argument("--summary-json", type=Path, default=None,
                   help="with --summarise: also write the summary as JSON (what lesson 7's markers read)")
    args = p.parse_args(argv)

    if args.summarise:
        records = [rec for path in args.summarise for rec in read(path)]
        print(table(summarise(records)))
        if args.summary_json:
            doc = summary_document(args.summarise, records)
            args.summary_json.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"-> {args.summary_json}")
        return 0
    if args.summary_json:
        p.error("--summary-json goes with --summarise")
    if not args.files:
        p.error("give candidate files (or --summarise FILE)")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # inherited by the spawned workers
    files = _screen(args.files, args.lesson)
    specs = plan(files, args.seeds, order=args.order, lesson=args.lesson, device=args.device, epochs=args.epochs,
                 train_subset=args.train_subset, test_subset=args.test_subset, threads=args.threads,
                 data_dir=args.data_dir, progress=args.progress,
                 epochs_log=str(epochs_log(args.out)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"{len(specs)} run(s): {len(files)} file(s) x seeds {args.seeds} on {args.device}, {args.jobs} job(s)",
          flush=True)
    records = search(specs, args.jobs, args.out, args.budget_s, args.deadline_s, log=lambda s: print(s, flush=True))
    print(f"\n{len(records)} run(s) in {time.perf_counter() - t0:.0f} s -> {args.out}")
    print(table(summarise(records)))
    return 0 if records and not any(r.get("error") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
