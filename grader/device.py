"""Pick the device to train on: cuda > mps > cpu, or what the user asked for.

torch is imported inside the functions that need it: the parent (grader.host.grading) checks the requested device
with `check_requested`, torch-free, before any child starts; the children resolve it with `pick_device`.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import UsageError

if TYPE_CHECKING:
    import torch

_REQUESTS = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
# Device files a CUDA (or ROCm, which torch also calls cuda) GPU shows on Linux; WSL2 shows /dev/dxg.
_GPU_FILES = ("/dev/nvidiactl", "/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")


def check_requested(requested: str | None) -> None:
    """Refuse, in a few milliseconds and without torch, a device string pick_device would refuse, or a GPU this
    machine surely lacks, so that `course grade --device cuda` on a laptop fails in one line, before any child
    starts. Undecided cases (a GPU's files present) are left to pick_device in the children."""
    text = (requested or "auto").lower()
    if not _REQUESTS.fullmatch(text):
        raise UsageError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps")
    if text.startswith("cuda"):
        why = _no_cuda_because()
        if why:
            raise UsageError(f"--device {text} was asked for but no CUDA GPU is visible ({why}); "
                             "use --device cpu or auto")
    elif text == "mps" and sys.platform != "darwin":
        raise UsageError("--device mps was asked for but MPS is only on Apple silicon Macs; use --device cpu or auto")


def _no_cuda_because() -> str | None:
    """Why torch cannot see a CUDA GPU here, when that is certain without importing it; None when unsure."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    builds = _torch_gpu_builds()
    if builds is not None and not any(builds.values()):
        return "the installed torch is a CPU-only build"
    if sys.platform.startswith("linux") and not any(glob.glob(pattern) for pattern in _GPU_FILES):
        return "no GPU device in /dev"
    return None


def _torch_gpu_builds() -> dict[str, bool] | None:
    """{"cuda": ..., "hip": ...}: whether the installed torch was built for them, read from torch/version.py (a
    generated file of plain assignments) instead of importing torch, which takes seconds; None if unreadable."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return None
    try:
        text = (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = {}
    for name in ("cuda", "hip"):
        m = re.search(rf"^{name}\s*(?::[^=\n]*)?=\s*(.+)$", text, re.M)
        if m is None:
            return None
        found[name] = m.group(1).strip() != "None"
    return found


def pick_device(requested: str = "auto") -> torch.device:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps" to an available torch.device."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    elif device.type != "cpu":
        raise UsageError(f"unsupported device {requested!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def device_name(device: torch.device) -> str:
    """A human name for the record: the GPU model, or the CPU."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def visible_devices() -> list[str]:
    """Every visible GPU (cuda:0, cuda:1 ...), else ["mps"], else ["cpu"]: what a batch spreads over."""
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]
