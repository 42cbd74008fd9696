"""The clean evaluator: the accuracy that decides a grade, measured by a process that never imports the submission.

Three steps, three processes:
- the worker exports the trained model in eval mode (`export_model`: torch.export, else TorchScript tracing)
  into its own directory;
- a fresh `python -m grader.evaluate` (started during training on a GPU, so its imports overlap it) loads
  that program and measures it on the test set (`measure`);
- the parent compares that figure with the worker's own for the last epoch (`Evaluator.verify`): more than
  TOLERANCE apart is an "evaluation mismatch", because then the worker's numbers were not the model's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from grader.errors import IntegrityError

TOLERANCE = 0.05  # percentage points: 5 images in 10,000; kernels may differ by a rounding, never by more
EXPORT_BATCH = 1000  # the exported program's fixed batch size: the grader's evaluation batch
PROGRAM = {"export": "model.pt2", "trace": "model.ts"}  # file names in the worker's directory
EVALUATOR_TIMEOUT = 600  # seconds: one pass over 10k images takes seconds even on a slow CPU


# ------------------------------------------------------------------------------------ worker side


def export_model(model, example, directory: Path) -> dict:
    """Export `model` in eval mode for the clean evaluator; {"format", "file", "error", "seconds"}.

    A model neither exporter can handle is still graded, but the record marks it unverified.
    """
    started = time.perf_counter()
    model.eval()
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)  # a failed export logs whole graphs; its one-line reason is kept instead
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation chatter from tracing is not the student's business
            fmt, errors = _export(model, example, directory)
    finally:
        torch_log.setLevel(level)
    return {"format": fmt, "file": PROGRAM[fmt] if fmt else None, "error": "; ".join(errors) or None,
            "seconds": time.perf_counter() - started}


def _export(model, example, directory: Path) -> tuple[str | None, list[str]]:
    import torch

    errors = []
    try:
        try:
            program = torch.export.export(model, (example,), strict=False)
        except TypeError:  # torch releases before `strict` was a keyword
            program = torch.export.export(model, (example,))
        torch.export.save(program, directory / PROGRAM["export"])
        return "export", errors
    except Exception as exc:  # any failure of the exporter means: try the other one
        errors.append(f"torch.export: {type(exc).__name__}: {_first_line(exc)}")
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(directory / PROGRAM["trace"]))
        return "trace", errors
    except Exception as exc:
        errors.append(f"torch.jit.trace: {type(exc).__name__}: {_first_line(exc)}")
    return None, errors


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


# ------------------------------------------------------------------------------------ evaluator side


def measure(program: Path, fmt: str, device: str, test_images: int, data_dir=None, test_split=None) -> dict:
    """Accuracy (percent) of an exported program on the first `test_images` test images, in eval mode."""
    import torch

    from grader.data import load_split, normalize

    dev = torch.device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        if fmt == "export":
            module = torch.export.load(str(program)).module()
        else:
            module = torch.jit.load(str(program), map_location=dev).eval()
    split = (test_split or load_split(train=False, data_dir=data_dir)).subset(test_images)
    images, labels = normalize(split.images).to(dev), split.labels.to(dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)
    with torch.no_grad():
        for start in range(0, len(labels), EXPORT_BATCH):
            x = images[start : start + EXPORT_BATCH]
            n = len(x)
            if n < EXPORT_BATCH:  # the program's batch size is fixed: pad, then drop the padding's outputs
                x = torch.cat([x, x.new_zeros((EXPORT_BATCH - n, *x.shape[1:]))])
            out = module(x)[:n]
            correct += (out.argmax(dim=1) == labels[start : start + n]).sum()
    return {"test_acc": 100.0 * correct.item() / len(labels), "test_images": len(labels)}


def _warm_up(data_dir=None):
    """Import what loading an exported program needs and read the test set, while the worker trains."""
    import torch.export  # noqa: F401

    from grader.data import load_split

    try:  # the deserializer is the slow part of torch.export.load; its module moved between releases
        import torch._export.serde.serialize  # noqa: F401
    except ImportError:
        pass
    return load_split(train=False, data_dir=data_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("program", type=Path, nargs="?", help="an exported model (omit with --serve)")
    parser.add_argument("--serve", action="store_true",
                        help="warm up, then read one JSON request {program, format, device, test_images} on stdin")
    parser.add_argument("--format", choices=sorted(PROGRAM))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--data-dir")
    parser.add_argument("--timeout", type=float, default=EVALUATOR_TIMEOUT)
    parser.add_argument("--nice", action="store_true", help="warm up on idle CPU only (the worker still trains)")
    parser.add_argument("--readable", action="append", default=[], help="a file or folder it may read (repeatable)")
    args = parser.parse_args(argv)
    # The program was written by a process that ran untrusted code: load it behind the same walls.
    from grader.sandbox import isolate, limit_memory

    isolate(Path.cwd(), args.timeout, readable=args.readable)
    test_split = None
    if args.serve:
        if args.nice and hasattr(os, "nice"):
            os.nice(10)  # the worker's training (and its timings) come first
        test_split = _warm_up(args.data_dir)
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the grading ended without a model to evaluate
        request = json.loads(line)
        program, fmt, device, n = Path(request["program"]), request["format"], request["device"], request["test_images"]
    else:
        if args.program is None or args.format is None:
            parser.error("give PROGRAM and --format, or --serve")
        program, fmt, device, n = args.program, args.format, args.device, args.test_images
    if not device.startswith("cuda"):
        limit_memory()
    print(json.dumps(measure(program, fmt, device, n, args.data_dir, test_split)), flush=True)
    return 0


# ------------------------------------------------------------------------------------ parent side


class Evaluator:
    """A clean evaluator process, started early where its imports can overlap the training (GPU runs).

    Use as a context manager; call `start()` when the worker starts training on an accelerator (a submission
    refused before that costs nothing), and `verify(workdir, record)` once the worker is done (it starts the
    process itself when nobody did).
    """

    def __init__(self, data_dir=None, timeout: float = EVALUATOR_TIMEOUT):
        self.data_dir, self.timeout = data_dir, timeout
        self.proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> "Evaluator":
        return self

    def start(self, beside_training: bool = False) -> None:
        """Launch the evaluator process (once); it warms up, then waits for the program on its stdin."""
        if self.proc is not None:
            return
        from grader.sandbox import mnist_reads, worker_env

        self._dir = tempfile.TemporaryDirectory(prefix="course-eval-")
        workdir = Path(self._dir.name)
        command = [sys.executable, "-m", "grader.evaluate", "--serve", "--timeout", str(self.timeout)]
        command += ["--nice"] if beside_training else []
        if self.data_dir:
            command += ["--data-dir", str(self.data_dir)]
        for path in mnist_reads(self.data_dir):  # its reads are walled in too: the test set is all it needs
            command += ["--readable", path]
        self.proc = subprocess.Popen(command, cwd=workdir, env=worker_env(workdir), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:  # the whole process group where there is one (POSIX), else the process
                os.killpg(self.proc.pid, signal.SIGKILL) if hasattr(os, "killpg") else self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.communicate()
        if self._dir is not None:
            self._dir.cleanup()

    def _measure(self, program: Path, fmt: str, device: str, test_images: int) -> tuple[float | None, str]:
        """(accuracy, "") from the evaluator process, or (None, why not)."""
        self.start()
        # The evaluator reads only its own directory (and the test set): it gets a copy, not the worker's folder.
        copy = Path(self._dir.name) / program.name
        shutil.copyfile(program, copy)
        request = json.dumps({"program": str(copy), "format": fmt, "device": device, "test_images": test_images})
        try:
            stdout, stderr = self.proc.communicate((request + "\n").encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return None, f"the clean evaluator did not finish within {self.timeout:g} s"
        try:
            return float(json.loads(stdout.decode("utf-8", "replace").strip().splitlines()[-1])["test_acc"]), ""
        except (IndexError, ValueError, KeyError, TypeError):
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {self.proc.returncode}"]
            return None, f"the clean evaluator could not run the exported model: {tail[0][:300]}"

    def verify(self, workdir: Path, record: dict) -> None:
        """Measure the worker's exported model and put the outcome on the record.

        Sets record["verified"] and record["evaluator_test_acc"]; raises IntegrityError on an evaluation mismatch.
        """
        export = record.get("export") or {}
        record["verified"], record["evaluator_test_acc"] = False, None
        if not record.get("epochs"):
            return
        if not export.get("file"):
            record["unverified_reason"] = f"the model could not be exported ({export.get('error') or 'no export'})"
            return
        program = (workdir / export["file"]).resolve()
        if program.parent != workdir.resolve() or not program.is_file():
            record["unverified_reason"] = "the exported model is missing from the worker's directory"
            return
        started = time.perf_counter()
        acc, why = self._measure(program, export["format"], record["device"], record["test_images"])
        record["evaluator_seconds"] = time.perf_counter() - started
        if acc is None:
            record["unverified_reason"] = why
            return
        record["evaluator_test_acc"] = acc
        require_agreement(float(record["epochs"][-1]["test_acc"]), acc)
        record["verified"] = True


def require_agreement(worker_acc: float, evaluator_acc: float) -> None:
    """Raise "evaluation mismatch" when the two figures differ by more than TOLERANCE percentage points."""
    if abs(evaluator_acc - worker_acc) > TOLERANCE + 1e-9:
        raise IntegrityError(
            f"evaluation mismatch: the grader measured {worker_acc:.2f}% after the last epoch, but a clean "
            f"process running the exported model measured {evaluator_acc:.2f}% (tolerance {TOLERANCE:g} points). "
            "The submission changed how it behaves, or how torch behaves, inside the grader; this run cannot be graded"
        )


if __name__ == "__main__":
    sys.exit(main())
