"""Run an exported program (grader.program's JSON graph) with a state, one allow-listed ATen operation at a time.

No code is generated or loaded: each node names an operation, which is looked up in ATen's core opset (the same
allowlist the worker exported against), and its arguments are values, names of earlier results, or parameters.
"""

from __future__ import annotations

import operator

import torch

from grader import program
from grader.program import ProgramError

_DTYPES = {name: getattr(torch, name) for name in program.DTYPE_BYTES}
_FORMATS = {"contiguous_format": torch.contiguous_format, "channels_last": torch.channels_last,
            "preserve_format": torch.preserve_format}


def resolve_op(name: str, training: bool = False):
    """The operation a node names, if the allowlist has it: core ATen, no in-place or mutating variants (and, in a
    training program, BatchNorm's functional training step)."""
    if name == "getitem":
        return operator.getitem
    if training and name == program.TRAIN_NORM_OP:
        return torch.ops.aten._native_batch_norm_legit_functional.default
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "aten":
        raise ProgramError(f"the exported program uses {name!r}, which is not an ATen operation")
    packet = getattr(torch.ops.aten, parts[1], None)
    op = getattr(packet, parts[2], None) if packet is not None else None
    if not isinstance(op, torch._ops.OpOverload) or torch.Tag.core not in op.tags or op._schema.is_mutable:
        raise ProgramError(f"the exported program uses {name}, which is outside ATen's core opset")
    return op


def tensors_from_file(path, device) -> dict[str, torch.Tensor]:
    """A grader.program tensor file as tensors on `device`."""
    entries, _ = program.read_tensors(path)
    return {name: _tensor(entry, data, device) for name, (entry, data) in entries.items()}


def _tensor(entry: program.TensorEntry, data: memoryview, device) -> torch.Tensor:
    if entry.nbytes == 0:
        return torch.empty(entry.shape, dtype=_DTYPES[entry.dtype], device=device)
    flat = torch.frombuffer(bytearray(data), dtype=_DTYPES[entry.dtype])
    return flat.reshape(entry.shape).to(device)


class Program:
    """A loaded graph: `run(state, images)` computes the model's output for one batch of normalised images."""

    def __init__(self, graph: program.Graph, constants: dict[str, torch.Tensor], device: torch.device,
                 overrides: dict | None = None, held_kinds: tuple[str, ...] = ("constant",)):
        """`overrides` maps an op's name to the grader's own implementation of it (the trainer's dropout draw)."""
        self.graph, self.device = graph, device
        training = graph.mode == "train"
        self.ops = [(n.name, (overrides or {}).get(n.target) or resolve_op(n.target, training), n.args, n.kwargs)
                    for n in graph.nodes]
        check_tensors(graph, constants, kinds=held_kinds)
        self.constants = constants
        self.image = next(i for i in graph.inputs if i.kind == "input")

    def run(self, state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        return self.run_with_env(state, images)[0]

    def run_with_env(self, state: dict[str, torch.Tensor], images: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The output, and every value computed on the way (the trainer reads its mutations there)."""
        env = {**self.constants, **state, self.image.name: images}
        for name, op, args, kwargs in self.ops:
            env[name] = op(*[self._value(a, env) for a in args], **{k: self._value(v, env) for k, v in kwargs.items()})
        return self._value(self.graph.output, env), env

    def _value(self, arg, env):
        if isinstance(arg, dict):
            if "node" in arg:
                return env[arg["node"]]
            if "list" in arg:
                return [self._value(a, env) for a in arg["list"]]
            if "dtype" in arg:
                return _DTYPES[arg["dtype"]]
            if "device" in arg:
                return self.device  # tensors made in forward live where the evaluator computes
            if "memory_format" in arg:
                return _FORMATS[arg["memory_format"]]
            if "layout" in arg:
                return torch.strided
            if "float" in arg:
                return float(arg["float"])
            raise ProgramError(f"the exported program holds an argument the evaluator does not know: {sorted(arg)}")
        return arg


def check_tensors(graph: program.Graph, tensors: dict[str, torch.Tensor], kinds=("parameter", "buffer")) -> None:
    """program.check_state for loaded tensors: exactly the graph's inputs of `kinds`, with their shapes and dtypes."""
    program.check_state(graph, {k: (_Spec(v), None) for k, v in tensors.items()}, kinds)


class _Spec:
    def __init__(self, t: torch.Tensor):
        self.shape, self.dtype = tuple(t.shape), str(t.dtype).removeprefix("torch.")
