"""Export the student's model once, as a program the trusted side can count and run, and hand over its state.

`export_program` traces the model in eval mode with torch.export, lowers it to core ATen operations and writes
grader.program's files: a JSON graph (graph.json) and the tensors it holds as constants (constants.bin). After
every epoch `write_state` writes the current parameters and buffers (state-NNN.bin). The evaluator runs the
graph with each state; nothing it reads can carry code.
"""

from __future__ import annotations

import ctypes
import logging
import math
import operator
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader import program
from grader.errors import IntegrityError, SubmissionError

EXPORT_BATCH = 1000  # the program's fixed batch size: the evaluator's batch on an accelerator
CPU_EXPORT_BATCH = 250  # on a CPU 1000-image batches spill out of cache (10k images: 4.4 -> 2.2 CPU s at ~256)


def export_batch(device_type: str) -> int:
    """The batch the evaluator will run the program with, for the device it evaluates on (the training one)."""
    return CPU_EXPORT_BATCH if device_type == "cpu" else EXPORT_BATCH
GRAPH_FILE, CONSTANTS_FILE = "graph.json", "constants.bin"
_KINDS = {"PARAMETER": "parameter", "BUFFER": "buffer", "CONSTANT_TENSOR": "constant", "USER_INPUT": "input"}
_DTYPES = {getattr(torch, name): name for name in program.DTYPE_BYTES}


@dataclass
class Exported:
    """The exported program as written, and how to read the model's current values of what it holds."""

    graph: program.Graph
    seconds: float
    constants: dict[str, torch.Tensor] = field(default_factory=dict)  # live tensors the graph captured as constants
    constants_at_export: dict[str, torch.Tensor] = field(default_factory=dict)

    def info(self) -> dict:
        return {"seconds": round(self.seconds, 3), "nodes": len(self.graph.nodes), "ops": self.graph.ops,
                "batch": self.graph.batch}


def allowed_op(op) -> bool:
    """The operations an exported program may use: ATen's core opset, without in-place or file operations."""
    if op is operator.getitem:
        return True
    if not isinstance(op, torch._ops.OpOverload) or op.namespace != "aten":
        return False
    return torch.Tag.core in op.tags and not op._schema.is_mutable


def op_name(op) -> str:
    return "getitem" if op is operator.getitem else f"aten.{op._schema.name.split('::', 1)[1]}.{op._overloadname}"


def export_program(model: torch.nn.Module, example: torch.Tensor, directory: Path) -> Exported:
    """Export `model` (eval mode, CPU) for the evaluator and write graph.json and constants.bin to `directory`."""
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.CRITICAL)  # a failed export logs whole graphs; its one-line reason is what helps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ep = torch.export.export(model, (example,), strict=False).run_decompositions()
            except Exception as exc:  # torch.export fails in many ways; each becomes advice for the student
                raise SubmissionError(_export_advice(exc)) from exc
    finally:
        torch_log.setLevel(level)
        model.train(was_training)
    graph = _graph(ep, example.shape[0])
    program.write_graph(graph, directory / GRAPH_FILE)
    constants = dict(ep.constants)
    names = {i.target: i.name for i in graph.inputs if i.kind == "constant"}
    _write(directory / CONSTANTS_FILE, [(names[k], v) for k, v in constants.items() if k in names])
    snapshot = {k: v.detach().clone() for k, v in constants.items() if isinstance(v, torch.Tensor)}
    return Exported(graph, time.perf_counter() - started, constants, snapshot)


def _export_advice(exc: Exception) -> str:
    text = str(exc).strip()
    first = (text.splitlines() or [type(exc).__name__])[0][:300]
    if "data-dependent" in text or "GuardOnDataDependentSymNode" in type(exc).__name__:
        return ("the grader could not export your model's graph: forward() makes a decision on a tensor's value "
                "(an `if` or `while` on x.sum(), x.max(), .item() ...). The graph must be the same for every input: "
                f"compute both branches and combine them with torch.where, or drop the condition ({first})")
    if "uninitialized parameter" in text.lower():
        return ("the grader could not export your model: a lazy module (nn.LazyConv2d, nn.LazyLinear ...) was "
                f"never materialised; give it its input size ({first})")
    return (f"the grader could not export your model's graph for the clean evaluator ({type(exc).__name__}: {first}). "
            "Use torch operations on tensors in forward(), not Python numbers or numpy")


def _graph(ep, batch: int) -> program.Graph:
    for spec in ep.graph_signature.output_specs:
        if spec.kind.name != "USER_OUTPUT":
            raise SubmissionError(f"forward() changes {spec.target} in eval mode; an evaluation must not change the "
                                  "model (BatchNorm's statistics are the only state allowed to move, "
                                  "and only in training)")
    kinds = {s.arg.name: (_KINDS.get(s.kind.name), s.target) for s in ep.graph_signature.input_specs}
    inputs, nodes, output = [], [], None
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            kind, target = kinds.get(node.name, (None, None))
            val = node.meta.get("val")
            if kind is None or not isinstance(val, torch.Tensor):
                raise SubmissionError(f"the exported graph takes an input the grader cannot hand over ({node.name})")
            inputs.append(program.GraphInput(node.name, kind, target, tuple(int(s) for s in val.shape),
                                             _dtype(val.dtype)))
        elif node.op == "call_function":
            if not allowed_op(node.target):
                raise SubmissionError(
                    f"forward() uses {getattr(node.target, '__name__', node.target)}, "
                    "which the grader's evaluator does not run (it runs ATen's core operations only); "
                    "use standard layers and tensor operations")
            nodes.append(program.GraphNode(node.name, op_name(node.target), [_encode(a) for a in node.args],
                                           {k: _encode(v) for k, v in node.kwargs.items()}))
        elif node.op == "output":
            outs = node.args[0]
            if not isinstance(outs, (tuple, list)) or len(outs) != 1:
                raise SubmissionError("forward() must return one tensor of shape (N, 10)")
            output = _encode(outs[0])
        else:
            raise SubmissionError(f"the exported graph has a {node.op} step the grader cannot hand over")
    if not isinstance(output, dict) or "node" not in output:
        raise SubmissionError("forward() must compute its output from the input image")
    return program.Graph(inputs, nodes, output, batch)


def _dtype(dtype: torch.dtype) -> str:
    if dtype not in _DTYPES:
        raise SubmissionError(f"the model holds a {dtype} tensor; use float32")
    return _DTYPES[dtype]


def _encode(value):
    """One argument of an operation as JSON: graph values by name, numbers, lists, dtypes, devices, formats."""
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": str(value)}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(v) for v in value]}
    if isinstance(value, torch.dtype):
        return {"dtype": _dtype(value)}
    if isinstance(value, torch.device):
        return {"device": value.type}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).split(".")[-1]}
    if isinstance(value, torch.layout):
        return {"layout": str(value).split(".")[-1]}
    raise SubmissionError(f"the exported graph holds a {type(value).__name__} the grader cannot hand over; "
                          "compute with tensors and numbers in forward()")


# ------------------------------------------------------------------------------------------------ state


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of a tensor, read on the CPU (one device-to-host copy per tensor)."""
    t = t.detach().to("cpu").contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def _write(path: Path, named: list[tuple[str, torch.Tensor]], meta: dict | None = None) -> None:
    program.write_tensors(path, [(name, _dtype(t.dtype), tuple(t.shape), tensor_bytes(t)) for name, t in named], meta)


def write_state(model: torch.nn.Module, graph: program.Graph, path: Path, epoch: int) -> None:
    """The model's current parameters and buffers, as the graph names them, for the evaluator."""
    exported = {i.target for i in graph.inputs if i.kind == "parameter"}
    grown = [name for name, _ in model.named_parameters() if name not in exported]
    if grown:
        raise IntegrityError(f"hidden parameters: {', '.join(grown[:3])} appeared after the model was built, so the "
                             "grader never counted them; create every parameter in Net.__init__")
    named = []
    for spec in graph.inputs:
        if spec.kind not in ("parameter", "buffer"):
            continue
        try:
            tensor = model.get_parameter(spec.target) if spec.kind == "parameter" else model.get_buffer(spec.target)
        except AttributeError as exc:
            raise IntegrityError(f"{spec.target} disappeared from the model after it was exported: "
                                 "build every layer in Net.__init__ and keep it") from exc
        if tuple(tensor.shape) != spec.shape:
            raise IntegrityError(f"{spec.target} changed shape during training ({list(spec.shape)} -> "
                                 f"{list(tensor.shape)}): build every layer in Net.__init__ and keep it")
        named.append((spec.name, tensor))
    _write(path, named, {"epoch": epoch})


def changed_constants(exported: Exported) -> list[str]:
    """Constants the model changed during training: learned numbers kept where nobody counts or hands them over."""
    changed = []
    for name, before in exported.constants_at_export.items():
        now = exported.constants.get(name)
        if now is None or now.shape != before.shape or not torch.equal(now.detach().cpu(), before.cpu()):
            changed.append(name)
    return changed
