"""The clean evaluator process: holds the test set, runs the exported program with each state it is handed.

Started by grader.host.grading as `python -m grader.evaluator` (channel: grader.channel). It never imports the
submission: it reads the graph and the states the parent copied out of the worker's directory, runs them with
grader.interpret and answers with the test loss and accuracy of each. Requests, one per line:

    {"op": "setup", "test_images": PATH, "test_labels": PATH, "device": "cuda:0", "workdir": PATH, "timeout": S,
     "limits": {...}, "order_seed": N}                              -> grader.events.EvaluatorReady
    {"op": "load", "graph": PATH, "constants": PATH}                -> grader.events.Loaded
    {"op": "measure", "epoch": N, "state": PATH}                    -> grader.events.Measured
and grader.events.Failed for a request it could not answer.

The test split is put in an order drawn from `order_seed` (the parent's secret, never the worker's) before anything
is measured, so no model can know which image comes where or which images share a batch.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

EVAL_BATCH = 1000  # on an accelerator: large enough to keep it busy
# On a CPU 1000-image batches spill out of cache (10k images of the lesson-6 solution: 4.4 -> 2.2 CPU s at ~256).
CPU_EVAL_BATCH = 250


def eval_batch_size(device) -> int:
    """Images per evaluation batch on `device` (a torch.device): cache-sized on a CPU, large on an accelerator."""
    return CPU_EVAL_BATCH if device.type == "cpu" else EVAL_BATCH


@dataclass(frozen=True)
class Measured:
    """One state's figures on the test split."""

    loss: float  # mean cross-entropy; NaN when some output was not finite (the loss is undefined there)
    acc: float  # percent; a row with NaN or inf in it is a wrong answer
    nonfinite: int = 0  # rows with NaN or inf


def evaluate(prog, state: dict, images, labels) -> Measured:
    """Mean cross-entropy and accuracy (percent) of the program on normalised images, in batches it was built for."""
    import torch
    import torch.nn.functional as F

    loss_sum = torch.zeros((), dtype=torch.float64, device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    nonfinite = torch.zeros((), dtype=torch.long, device=images.device)
    batch = eval_batch_size(images.device)  # the program takes any batch size
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x, y = images[start : start + batch], labels[start : start + batch]
            n = len(y)
            out = prog.run(state, x)
            if type(out) is not torch.Tensor or tuple(out.shape) != (n, 10) or not out.is_floating_point():
                raise _error("submission", "forward() must return a plain float tensor of shape (N, 10); "
                             f"the exported program returned {type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
            out = out.float()
            finite = torch.isfinite(out).all(dim=1)  # argmax over NaN picks an arbitrary class: never a right answer
            loss_sum += F.cross_entropy(out, y, reduction="sum").double()
            correct += ((out.argmax(dim=1) == y) & finite).sum()
            nonfinite += (~finite).sum()
    n = len(labels)
    bad = int(nonfinite.item())
    return Measured(float("nan") if bad else loss_sum.item() / n, 100.0 * correct.item() / n, bad)


def secret_order(images, labels, seed: int | None):
    """The test split in the order the parent's secret seed draws (file order without one: tests only)."""
    import torch

    if seed is None:
        return images, labels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(int(seed))).to(labels.device)
    return images[order], labels[order]


class _Failure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _error(kind: str, message: str) -> _Failure:
    return _Failure(kind, message)


def serve(link) -> int:
    """Answer the parent's requests until it closes the channel."""
    setup = link.receive()
    if not setup or setup.get("op") != "setup":
        return 2
    from grader.events import EvaluatorReady, Failed, Loaded, Measured
    from grader.walls.sandbox import Limits, isolate

    workdir = Path(setup["workdir"])
    limits = Limits(**setup.get("limits", {}))
    # It reads its own directory (the test split) and the parent's copies of the program and states, nothing else.
    isolate(workdir, float(setup["timeout"]), limits,
            readable=[Path(p) for p in setup.get("readable", [])])
    try:
        import torch

        from grader.device import pick_device
        from grader.errors import CourseError
        from grader.interpret import Program, check_tensors, tensors_from_file
        from grader.mnist import normalize, split_from_files
        from grader.program import read_graph

        device = pick_device(setup.get("device") or "auto")  # resolved as the worker resolves it: the same device
        if device.type == "cpu":
            torch.set_num_threads(1)  # the worker trains beside it: take one core, not all of them
            if hasattr(os, "nice"):
                os.nice(5)
        split = split_from_files(Path(setup["test_images"]), Path(setup["test_labels"]))
        images, labels = secret_order(normalize(split.images), split.labels, setup.get("order_seed"))
        images, labels = images.to(device), labels.to(device)
        # Walled like the worker: an address-space cap over what torch and the test split already map (not on
        # CUDA, whose driver reserves far more address space than it uses).
        walls = _wall_memory(limits, device)
        link.emit(EvaluatorReady(len(labels), str(device), walls,
                                 "shuffled" if setup.get("order_seed") is not None else "file order"))
    except Exception as exc:  # noqa: BLE001 - whatever stops the set-up is reported, not raised
        link.emit(Failed("internal", f"the evaluator could not start: {exc}", traceback.format_exc()))
        return 0
    prog = None
    while (request := link.receive()) is not None:
        started = time.perf_counter()
        try:
            if request.get("op") == "load":
                constants = tensors_from_file(Path(request["constants"]), device)
                graph = read_graph(Path(request["graph"]))
                if graph.mode != "eval":
                    raise _error("internal", "the evaluator measures only the program derived for evaluation")
                prog = Program(graph, constants, device)
                assert prog.footprint is not None  # a Program sizes itself unless told not to
                link.emit(Loaded(time.perf_counter() - started, prog.footprint.to_dict(prog.graph.batch or 1)))
            elif request.get("op") == "measure":
                if prog is None:
                    raise _error("internal", "measure before load")
                state = tensors_from_file(Path(request["state"]), device)
                check_tensors(prog.graph, state)
                measured = evaluate(prog, state, images, labels)
                link.emit(Measured(int(request["epoch"]), measured.loss, measured.acc, measured.nonfinite,
                                   time.perf_counter() - started))
        except (_Failure, CourseError) as exc:
            link.emit(Failed(exc.kind, str(exc)))
        except Exception as exc:  # noqa: BLE001 - an operation failing on the program is the program's problem
            link.emit(Failed("integrity", "the clean evaluator could not run the exported program: "
                                          f"{type(exc).__name__}: "
                                          f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"))
    return 0


def _wall_memory(limits, device) -> dict:
    """Cap memory where the device allows it; what this process's walls are, for the run record."""
    from grader.walls.sandbox import APPLIED, limit_memory

    if device.type != "cuda":
        limit_memory(limits)
    else:
        APPLIED.setdefault("rlimits", {})["address_space"] = "not set on CUDA (its driver reserves more than it uses)"
    return {**APPLIED, "limits": limits.to_dict()}


def main() -> int:
    from grader.channel import ParentLink

    link = ParentLink.open()
    try:
        return serve(link)
    finally:
        link.close()


if __name__ == "__main__":
    sys.exit(main())
