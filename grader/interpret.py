"""Run an exported program (grader.program's JSON graph) with a state, one allow-listed ATen operation at a time,
and read and write its tensor files. Needs torch; used by the trainer and the evaluator (and by the worker, to
write what it hands over).

No code is generated or loaded: each node names an operation, which is looked up in ATen's core opset (the same
allowlist the worker exported against), and its arguments are values, names of earlier results, or parameters.
"""

from __future__ import annotations

import ctypes
import operator
from dataclasses import dataclass

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


def tensors_to_file(path, named: list[tuple[str, torch.Tensor]], meta: dict | None = None) -> None:
    """Write (name, tensor) pairs as a grader.program tensor file: raw bytes, read on the CPU."""
    program.write_tensors(path, [(name, str(t.dtype).removeprefix("torch."), tuple(t.shape), tensor_bytes(t))
                                 for name, t in named], meta)


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of a tensor, read on the CPU (one device-to-host copy per tensor)."""
    t = t.detach().to("cpu").contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def _tensor(entry: program.TensorEntry, data: memoryview, device) -> torch.Tensor:
    if entry.nbytes == 0:
        return torch.empty(entry.shape, dtype=_DTYPES[entry.dtype], device=device)
    flat = torch.frombuffer(bytearray(data), dtype=_DTYPES[entry.dtype])
    return flat.reshape(entry.shape).to(device)


# Work bounds per image of the program's batch, from its declared shapes (run on the "meta" device, no data):
# the honest lesson solutions peak at 0.141 MiB live (lessons 1 and 6) and compute at most 0.160 M elements
# (lesson 6) per image; docs/security.md has each lesson's figures. The bounds are about 30x those: room for a
# wider student model, while a 250-image CPU batch stays under 1 GiB and a chain of cheap ops is refused.
MAX_LIVE_BYTES_PER_IMAGE = 4 * 2**20
MAX_ELEMENTS_PER_IMAGE = 5_000_000


@dataclass(frozen=True)
class Footprint:
    """What one batch of the program costs, known before it runs: peak live bytes and elements computed."""

    peak_bytes: int
    elements: int
    largest: tuple[str, int]  # (op, output elements) of the largest single result

    def to_dict(self, batch: int) -> dict:
        return {"peak_mb_per_image": round(self.peak_bytes / batch / 2**20, 3),
                "elements_per_image": self.elements // batch, "largest_op": self.largest[0]}


class Program:
    """A loaded graph: `run(state, images)` computes the model's output for one batch of normalised images."""

    def __init__(self, graph: program.Graph, constants: dict[str, torch.Tensor], device: torch.device,
                 overrides: dict | None = None, held_kinds: tuple[str, ...] = ("constant",), size: bool = True):
        """`overrides` maps an op's name to the grader's own implementation of it (the trainer's dropout draw);
        `size=False` skips the work bound (the trainer, whose program the evaluator sizes and refuses for it)."""
        self.graph, self.device = graph, device
        training = graph.mode == "train"
        plain = [(n.name, resolve_op(n.target, training), n.args, n.kwargs) for n in graph.nodes]
        self.ops = [(name, (overrides or {}).get(node.target, op), args, kwargs)
                    for (name, op, args, kwargs), node in zip(plain, graph.nodes)]
        check_tensors(graph, constants, kinds=held_kinds)
        self.constants = constants
        self.image = next(i for i in graph.inputs if i.kind == "input")
        self.frees = _liveness(graph)
        self.footprint = self._size(plain) if size else None  # ATen's own ops: the shapes are theirs

    def run(self, state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        return self.run_with_env(state, images)[0]

    def run_with_env(self, state: dict[str, torch.Tensor], images: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The output, and the values still live at the end: the output and the mutations' (the trainer's)."""
        env = {**self.constants, **state, self.image.name: images}
        for (name, op, args, kwargs), dead in zip(self.ops, self.frees):
            env[name] = op(*[self._value(a, env) for a in args], **{k: self._value(v, env) for k, v in kwargs.items()})
            for gone in dead:  # an intermediate is freed after its last use: a batch holds only what is live
                env.pop(gone, None)
        return self._value(self.graph.output, env), env

    def _size(self, ops: list) -> Footprint:
        """Run the graph on the meta device (shapes only), then refuse a batch that would be too big to compute."""
        meta = torch.device("meta")
        env = {i.name: torch.empty(i.shape, dtype=_DTYPES[i.dtype], device=meta) for i in self.graph.inputs}
        held = {i.name for i in self.graph.inputs if i.kind != "input"}
        live = _bytes(env[self.image.name])
        peak, elements, largest = live, 0, ("", 0)
        for (name, op, args, kwargs), dead in zip(ops, self.frees):
            try:
                out = op(*[self._value(a, env, meta) for a in args],
                         **{k: self._value(v, env, meta) for k, v in kwargs.items()})
            except Exception as exc:  # noqa: BLE001 - a program whose shapes do not add up cannot be run either
                raise ProgramError(f"the exported program cannot be sized: {name} ({op}) fails on its declared "
                                   f"shapes ({type(exc).__name__}: {str(exc).strip()[:200]})") from exc
            env[name] = out
            size, count = _bytes(out), _elements(out)
            live, elements = live + size, elements + count
            largest = max(largest, (str(op), count), key=lambda pair: pair[1])
            peak = max(peak, live)
            for gone in dead:
                if gone not in held:
                    live -= _bytes(env.pop(gone, None))
            self._check(name, op, Footprint(peak, elements, largest))
        return Footprint(peak, elements, largest)

    def _check(self, name: str, op, so_far: Footprint) -> None:
        batch = self.graph.batch or 1
        if so_far.peak_bytes > MAX_LIVE_BYTES_PER_IMAGE * batch:
            raise ProgramError(
                f"the exported program would hold {so_far.peak_bytes / 2**30:.1f} GiB at once for a batch of {batch} "
                f"images (at {name}, {op}; the limit is {MAX_LIVE_BYTES_PER_IMAGE / 2**20:g} MiB per image, far "
                "above any lesson's model): make the model smaller, not its intermediate results larger")
        if so_far.elements > MAX_ELEMENTS_PER_IMAGE * batch:
            raise ProgramError(
                f"the exported program would compute at least {so_far.elements:,} numbers for a batch of {batch} "
                f"images (by {name}, {op}; the limit is {MAX_ELEMENTS_PER_IMAGE:,} per image, far above any lesson's "
                "model): use fewer or smaller operations")

    def _value(self, arg, env, device=None):
        return value_of(arg, env, device or self.device)  # tensors made in forward live where it computes


def value_of(arg, env: dict, device):
    """A node's argument as a value: earlier results looked up in `env` (tensors, or the fx nodes of
    grader.trainer.fused), plain values as they are, and `device` for the program's device arguments."""
    if isinstance(arg, dict):
        if "node" in arg:
            return env[arg["node"]]
        if "list" in arg:
            return [value_of(a, env, device) for a in arg["list"]]
        if "dtype" in arg:
            return _DTYPES[arg["dtype"]]
        if "device" in arg:
            return device
        if "memory_format" in arg:
            return _FORMATS[arg["memory_format"]]
        if "layout" in arg:
            return torch.strided
        if "float" in arg:
            return float(arg["float"])
        raise ProgramError(f"the exported program holds an argument the evaluator does not know: {sorted(arg)}")
    return arg


def _liveness(graph: program.Graph) -> list[list[str]]:
    """For each node, the values whose last use it is (computed once: the graph never changes)."""
    last: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        last[node.name] = index  # a result nobody reads is freed at once
        for ref in program._refs(node.args) + program._refs(list(node.kwargs.values())):
            last[ref] = index
    output = program._refs([graph.output]) + program._refs([m.value for m in graph.mutations])
    frees: list[list[str]] = [[] for _ in graph.nodes]
    for name, index in last.items():
        if name not in output:
            frees[index].append(name)
    return frees


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _bytes(value) -> int:
    return sum(t.numel() * t.element_size() for t in _tensors(value))


def _elements(value) -> int:
    return sum(t.numel() for t in _tensors(value))


def check_tensors(graph: program.Graph, tensors: dict[str, torch.Tensor], kinds=("parameter", "buffer")) -> None:
    """program.check_state for loaded tensors: exactly the graph's inputs of `kinds`, with their shapes and dtypes."""
    program.check_state(graph, {k: (_Spec(v), None) for k, v in tensors.items()}, kinds)


class _Spec:
    def __init__(self, t: torch.Tensor):
        self.shape, self.dtype = tuple(t.shape), str(t.dtype).removeprefix("torch.")
