"""Pick the device to train on: cuda > mps > cpu, or what the user asked for."""

from __future__ import annotations

import torch

from grader.errors import UsageError


def pick_device(requested: str = "auto") -> torch.device:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps" to an available torch.device."""
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
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def visible_devices() -> list[str]:
    """Every visible GPU (cuda:0, cuda:1 ...), else ["mps"], else ["cpu"]: what a batch spreads over."""
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]
