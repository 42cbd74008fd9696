"""Export the student's model once, as a program the trusted side can count, train and run, and hand over its state.

`export_program` traces the model in TRAINING mode with torch.export, with a free batch size, lowers it to core
ATen operations and writes grader.program's files: a JSON graph (graph.json), the tensors it holds as constants
(constants.bin) and the parameters and buffers as the submission built them (initial.bin). That is all the
submission ever hands over: the trainer trains the graph, and the evaluator runs the program the parent derives
from it; nothing they read can carry code.
"""

from __future__ import annotations

import logging
import math
import operator
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from grader import program
from grader.errors import IntegrityError, SubmissionError
from grader.interpret import tensors_to_file
from grader.worker.lowering import decomposition_table, rewrite_feature_dropout

GRAPH_FILE, CONSTANTS_FILE, INITIAL_FILE = "graph.json", "constants.bin", "initial.bin"
MIN_BATCH = 2  # BatchNorm in training needs two images; the trainer never hands over a batch of one
_KINDS = {"PARAMETER": "parameter", "BUFFER": "buffer", "CONSTANT_TENSOR": "constant", "USER_INPUT": "input"}
_DTYPES = {getattr(torch, name): name for name in program.DTYPE_BYTES}


@dataclass
class Exported:
    """The exported program as written."""

    graph: program.Graph
    seconds: float

    def info(self) -> dict:
        return {"seconds": round(self.seconds, 3), "nodes": len(self.graph.nodes), "ops": self.graph.ops,
                "batch": self.graph.batch}


# Outside ATen's core set but what a training forward is made of: BatchNorm's functional training step. The
# program the evaluator runs never holds it (grader.program.derive_eval turns it into the core eval op).
TRAINING_OPS = (torch.ops.aten._native_batch_norm_legit_functional.default,)
# Checks torch.export writes into a graph (a dtype conversion's metadata, F.one_hot's range): they compute nothing
# and return nothing, so the exported program leaves them out rather than refusing the model.
ASSERTION_OPS = (torch.ops.aten._assert_tensor_metadata.default, torch.ops.aten._assert_async.msg,
                 torch.ops.aten._assert_async.default, torch.ops.aten._assert_scalar.default)


def allowed_op(op) -> bool:
    """The operations an exported program may use: ATen's core opset, without in-place or file operations."""
    if op is operator.getitem:
        return True
    if op in TRAINING_OPS:
        return True
    if not isinstance(op, torch._ops.OpOverload) or op.namespace != "aten":
        return False
    return torch.Tag.core in op.tags and not op._schema.is_mutable


def op_name(op) -> str:
    return "getitem" if op is operator.getitem else f"aten.{op._schema.name.split('::', 1)[1]}.{op._overloadname}"


def export_program(model: torch.nn.Module, example: torch.Tensor, directory: Path) -> Exported:
    """Export `model`'s training forward (CPU, any batch of 2 or more) and write its three files to `directory`."""
    started = time.perf_counter()
    was_training = model.training
    model.train()
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.CRITICAL)  # a failed export logs whole graphs; its one-line reason is what helps
    batch = torch.export.Dim("batch", min=MIN_BATCH, max=2**16)
    try:
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")
            try:
                ep = torch.export.export(model, (example,), dynamic_shapes=({0: batch},), strict=False)
                ep = ep.run_decompositions(decomposition_table())  # core ATen, stock layers included
                rewrite_feature_dropout(ep.graph)
                ep.graph.eliminate_dead_code()  # sizes computed and never used (nn.Bilinear's batch * 16)
            except Exception as exc:  # torch.export fails in many ways; each becomes advice for the student
                raise SubmissionError(_export_advice(exc)) from exc
    finally:
        torch_log.setLevel(level)
        model.train(was_training)
    graph = _graph(ep, example.shape[0])
    program.write_graph(graph, directory / GRAPH_FILE)
    names = {i.target: i.name for i in graph.inputs if i.kind == "constant"}
    _write(directory / CONSTANTS_FILE, [(names[k], v) for k, v in ep.constants.items() if k in names])
    write_state(model, graph, directory / INITIAL_FILE, 0)
    return Exported(graph, time.perf_counter() - started)


def _export_advice(exc: Exception) -> str:
    text = str(exc).strip()
    first = (text.splitlines() or [type(exc).__name__])[0][:300]
    if "data-dependent" in text or "GuardOnDataDependentSymNode" in type(exc).__name__:
        return ("the grader could not export your model's graph: forward() makes a decision on a tensor's value "
                "(an `if` or `while` on x.sum(), x.max(), .item() ...). The graph must be the same for every input: "
                f"compute both branches and combine them with torch.where, or drop the condition ({first})")
    if "Constraints violated (batch)" in text:
        return ("the grader could not export your model's graph: forward() assumes a fixed batch size (a .view(128, "
                "...), a shape computed from one, or a decision on x.shape[0]). The grader trains and measures any "
                f"batch: use x.flatten(1) or x.view(x.size(0), -1) ({first})")
    if "uninitialized parameter" in text.lower():
        return ("the grader could not export your model: a lazy module (nn.LazyConv2d, nn.LazyLinear ...) was "
                f"never materialised; give it its input size ({first})")
    return (f"the grader could not export your model's graph ({type(exc).__name__}: {first}). "
            "Use torch operations on tensors in forward(), not Python numbers or numpy")


def _graph(ep, batch: int) -> program.Graph:
    kinds = {s.arg.name: (_KINDS.get(s.kind.name), s.target) for s in ep.graph_signature.input_specs}
    names = {s.target: s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "BUFFER"}
    inputs, nodes, output, mutations = [], [], None, []
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            kind, target = kinds.get(node.name, (None, None))
            val = node.meta.get("val")
            if kind is None or not isinstance(val, torch.Tensor):
                raise SubmissionError(f"the exported graph takes an input the grader cannot hand over ({node.name})")
            shape = tuple(batch if kind == "input" and d == 0 else int(s) for d, s in enumerate(val.shape))
            inputs.append(program.GraphInput(node.name, kind, target, shape, _dtype(val.dtype)))
        elif node.op == "call_function" and node.target in ASSERTION_OPS and not node.users:
            continue
        elif node.op == "call_function":
            if not allowed_op(node.target):
                raise SubmissionError(_op_advice(node.target))
            module, layer = _scope(node)
            nodes.append(program.GraphNode(node.name, op_name(node.target), [_encode(a) for a in node.args],
                                           {k: _encode(v) for k, v in node.kwargs.items()}, module, layer))
        elif node.op == "output":
            specs = ep.graph_signature.output_specs
            outs = list(node.args[0])
            users = [(spec, value) for spec, value in zip(specs, outs) if spec.kind.name == "USER_OUTPUT"]
            if len(users) != 1:
                raise SubmissionError("forward() must return one tensor of shape (N, 10)")
            output = _encode(users[0][1])
            for spec, value in zip(specs, outs):
                if spec.kind.name == "BUFFER_MUTATION":
                    mutations.append(program.Mutation(names.get(spec.target, spec.target), _encode(value)))
                elif spec.kind.name != "USER_OUTPUT":
                    raise SubmissionError(f"forward() changes {spec.target}; only BatchNorm's running statistics "
                                          "may change while the model trains")
        else:
            raise SubmissionError(f"the exported graph has a {node.op} step the grader cannot hand over")
    if not isinstance(output, dict) or "node" not in output:
        raise SubmissionError("forward() must compute its output from the input image")
    try:
        return program.graph_from_dict(program.Graph(inputs, nodes, output, batch, "train", mutations).to_dict())
    except program.ProgramError as exc:
        raise SubmissionError(str(exc)) from exc


# What to do instead, for the operations stock layers leave outside the core opset when grader.worker.lowering
# cannot lower them exactly (keyed by the ATen operation's name).
_OP_ADVICE = {
    "adaptive_max_pool1d": "nn.AdaptiveMaxPool1d/2d/3d runs as an exact max pool when each input size is a multiple "
                           "of its output size (28 -> 1, 2, 4, 7 or 14); pick such an output size, or use "
                           "nn.AdaptiveAvgPool2d, which takes any",
    "instance_norm": "nn.InstanceNorm with track_running_stats=True keeps running statistics, which only BatchNorm "
                     "may keep while it trains; leave track_running_stats off (the default) or use nn.BatchNorm2d",
    "bernoulli": "a random draw other than dropout's (nn.AlphaDropout, nn.FeatureAlphaDropout, torch.bernoulli); "
                 "use nn.Dropout or nn.Dropout2d",
    "rrelu_with_noise_functional": "nn.RReLU draws a random slope while it trains; use nn.LeakyReLU (a fixed slope) "
                                   "or nn.PReLU (a learned one)",
    "fractional_max_pool2d": "nn.FractionalMaxPool2d draws random windows; use nn.MaxPool2d",
    "_trilinear": "nn.Bilinear is not among them; multiply the outputs of two nn.Linear layers instead",
}
for _same, _as in (("adaptive_max_pool2d", "adaptive_max_pool1d"), ("adaptive_max_pool3d", "adaptive_max_pool1d"),
                   ("empty_permuted", "bernoulli"), ("fractional_max_pool3d", "fractional_max_pool2d")):
    _OP_ADVICE[_same] = _OP_ADVICE[_as]


def _op_advice(op) -> str:
    """Why an operation outside the allowlist is refused, and what to use instead."""
    name = getattr(op, "__name__", str(op))
    if getattr(op, "__module__", None) == "_operator":  # Python arithmetic on the batch size, kept in the graph
        return (f"forward() computes with the batch size ({name} on x.size(0), as layers that fold the batch into "
                "another dimension do: nn.MaxUnpool2d, nn.MultiheadAttention); the grader's program holds no "
                "arithmetic on sizes: reshape with x.flatten(1) or x.view(x.size(0), -1)")
    packet = name.split(".")[0]
    if packet in _OP_ADVICE:
        return f"forward() uses {name}, which the grader's trainer does not run: {_OP_ADVICE[packet]}"
    return (f"forward() uses {name}, which the grader's trainer does not run (it runs ATen's core operations "
            "only); use standard layers and tensor operations")


def _scope(node) -> tuple[str | None, str | None]:
    """(module path, layer class) of the innermost module that ran `node`, for the tables the student reads."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None, None
    path, cls = list(stack.values())[-1]
    layer = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return str(path)[: program.MAX_NAME] or None, layer.rsplit(".", 1)[-1][: program.MAX_NAME]


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


def _write(path: Path, named: list[tuple[str, torch.Tensor]], meta: dict | None = None) -> None:
    for _, t in named:
        _dtype(t.dtype)  # a dtype the program format cannot hold is the student's to change: say so
    tensors_to_file(path, named, meta)


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
        if spec.target is None:  # the exporter names every parameter and buffer: a graph without is not its own
            raise IntegrityError(f"the program's {spec.kind} {spec.name} names no tensor of the model")
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
