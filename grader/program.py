"""The exported program: a JSON graph of core ATen operations plus raw tensor files. No code, no pickle.

The worker writes it once (grader.worker.export): the model's TRAINING-mode forward, with the buffer updates it
makes (BatchNorm's running statistics) as explicit `mutations`. From then on only the grader's code runs it: the
parent checks it and counts its parameters here, without torch; the trainer (grader.trainer) trains its own copy;
and the parent derives the program the evaluator measures (`derive_eval`: dropout off, BatchNorm on its running
statistics), so a model cannot behave one way while it trains and another while it is measured. Nothing in these
files can execute: the graph names operations that the reader looks up in an allowlist, and tensors are a JSON
header followed by raw bytes.

Parameter accounting (`count_parameters`) is the course's one definition of "parameters": every parameter and
every buffer the program holds, except the running statistics of the BatchNorms it really uses (each no wider than
the widest layer with weights, all together no more than the parameters' own count), plus every number written
into the program (scalar arguments, lifted constants) beyond a small free allowance; a program that carries far
more is refused. So neither statistics nor literals can be a place to keep data.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.errors import IntegrityError

GRAPH_FORMAT = "course-graph/2"  # 2: training mode, mutations, node scopes, a free batch size
MAX_GRAPH_BYTES = 16 * 2**20  # a tiny CNN's graph is a few KB; more is data, not a network
MAX_NODES = 20_000
MAX_TENSOR_FILE_BYTES = 512 * 2**20  # the state of a model 10x over the largest budget is a few MB
TENSOR_MAGIC = b"COURSET1"
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
               "int8": 1, "uint8": 1, "bool": 1}
INPUT_KINDS = ("parameter", "buffer", "constant", "input")
# The core-IR BatchNorm in eval mode: (input, weight, bias, running_mean, running_var, momentum, eps)
NORM_OP = "aten._native_batch_norm_legit_no_training.default"
# ... and in training mode: (input, weight, bias, running_mean, running_var, training, momentum, eps) ->
# (out, mean, rstd, new running_mean, new running_var). Not in ATen's core set; only a training graph may hold it.
TRAIN_NORM_OP = "aten._native_batch_norm_legit_functional.default"
NORM_OPS = (NORM_OP, TRAIN_NORM_OP)
NORM_STATS_ARGS = (3, 4)
DROPOUT_OP = "aten.native_dropout.default"  # (input, p, train) -> (output, mask)
STEP_COUNTER = "num_batches_tracked"
MAX_NAME = 200  # a module path or layer type in a node's scope; a real one is tens of characters


class ProgramError(IntegrityError):
    """An exported program that is malformed or breaks the rules; nothing in it was run."""

    kind = "integrity"


@dataclass(frozen=True)
class GraphInput:
    """A graph input: a parameter, buffer or constant (named by `target`), or the image batch."""

    name: str  # the graph's own name for it
    kind: str  # parameter | buffer | constant | input
    target: str | None  # the module path (conv1.weight) or the constant's name; None for the image batch
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GraphNode:
    name: str
    target: str  # "aten.convolution.default", or "getitem" for picking one output of a multi-output op
    args: list
    kwargs: dict
    module: str | None = None  # the innermost module path that ran it ("features.0.0"): names for the RF table
    layer: str | None = None  # that module's class name ("Conv2d"); None outside any submodule


@dataclass(frozen=True)
class Mutation:
    """A buffer the training forward replaces with a value it computed (BatchNorm's running statistics)."""

    buffer: str  # the graph input's name
    value: dict  # an encoded argument: {"node": name}


@dataclass
class Graph:
    inputs: list[GraphInput]
    nodes: list[GraphNode]
    output: object  # an encoded argument: {"node": name} for the model's output
    batch: int  # the batch size it was exported with; any batch of 2 or more runs it (dim 0 is free)
    mode: str = "train"  # train: what the trainer runs; eval: what derive_eval made for the evaluator
    mutations: list[Mutation] = field(default_factory=list)  # training mode only

    def to_dict(self) -> dict:
        return {"format": GRAPH_FORMAT, "batch": self.batch, "mode": self.mode,
                "inputs": [asdict(i) for i in self.inputs], "nodes": [asdict(n) for n in self.nodes],
                "output": self.output, "mutations": [asdict(m) for m in self.mutations]}

    @property
    def ops(self) -> list[str]:
        return sorted({n.target for n in self.nodes})

    def held(self) -> list[GraphInput]:
        """Inputs the program holds (parameters, buffers, constants), in input order."""
        return [i for i in self.inputs if i.kind != "input"]

    def input(self, name: str) -> GraphInput | None:
        return next((i for i in self.inputs if i.name == name), None)


def write_graph(graph: Graph, path: Path) -> None:
    path.write_text(json.dumps(graph.to_dict(), separators=(",", ":")), encoding="utf-8")


def read_graph(path: Path) -> Graph:
    """Parse and validate a graph file; ProgramError names what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProgramError(f"the exported program is missing ({exc.strerror})") from exc
    if size > MAX_GRAPH_BYTES:
        raise ProgramError(f"the exported program is {size:,} bytes; a model's graph is a few KB")
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise ProgramError(f"the exported program is not valid JSON ({exc})") from exc
    return graph_from_dict(raw)


def graph_from_dict(raw) -> Graph:
    if not isinstance(raw, dict) or raw.get("format") != GRAPH_FORMAT:
        raise ProgramError(f"the exported program is not a {GRAPH_FORMAT} graph")
    try:
        inputs = [GraphInput(str(i["name"]), str(i["kind"]), i["target"] if i["target"] is None else str(i["target"]),
                             tuple(int(s) for s in i["shape"]), str(i["dtype"])) for i in raw["inputs"]]
        nodes = [GraphNode(str(n["name"]), str(n["target"]), list(n["args"]), dict(n["kwargs"]),
                           _scope(n.get("module")), _scope(n.get("layer"))) for n in raw["nodes"]]
        batch = int(raw["batch"])
        output = raw["output"]
        mode = str(raw.get("mode", "train"))
        mutations = [Mutation(str(m["buffer"]), dict(m["value"])) for m in raw.get("mutations") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProgramError(f"the exported program is malformed ({type(exc).__name__}: {exc})") from exc
    if len(nodes) > MAX_NODES:
        raise ProgramError(f"the exported program has {len(nodes):,} operations; the limit is {MAX_NODES:,}")
    names = set()
    for i in inputs:
        if i.kind not in INPUT_KINDS or i.dtype not in DTYPE_BYTES or any(s < 0 for s in i.shape):
            raise ProgramError(f"the exported program declares an invalid input {i.name!r}")
        names.add(i.name)
    if sum(i.kind == "input" for i in inputs) != 1:
        raise ProgramError("the exported program must take exactly one input, the image batch")
    for n in nodes:
        if n.name in names:
            raise ProgramError(f"the exported program names {n.name!r} twice")
        for ref in _refs(n.args) + _refs(list(n.kwargs.values())):
            if ref not in names:
                raise ProgramError(f"operation {n.name!r} reads {ref!r}, which is not computed before it")
        names.add(n.name)
    if not isinstance(output, dict) or output.get("node") not in names:
        raise ProgramError("the exported program's output is not one of its values")
    if mode not in ("train", "eval") or (mode == "eval" and mutations):
        raise ProgramError("the exported program declares an invalid mode")
    graph = Graph(inputs, nodes, output, batch, mode, mutations)
    if mode == "train":
        check_training(graph)
    return graph


def _scope(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise ProgramError(f"the exported program names a layer with {len(str(value)):,} characters; "
                           f"names may have at most {MAX_NAME}")
    return value


def _refs(args) -> list[str]:
    out, stack = [], list(args)
    while stack:
        a = stack.pop()
        if isinstance(a, dict):
            if "node" in a:
                out.append(a["node"])
            elif "list" in a:
                stack.extend(a["list"])
        elif isinstance(a, list):
            stack.extend(a)
    return out


# ------------------------------------------------------------------------------------------ train and eval


def _producers(graph: Graph) -> dict[str, GraphNode]:
    return {n.name: n for n in graph.nodes}


def _input_ref(arg) -> str | None:
    return arg["node"] if isinstance(arg, dict) and isinstance(arg.get("node"), str) else None


def check_training(graph: Graph) -> None:
    """The training forward may change BatchNorm's running statistics and step counters, as BatchNorm does, and
    nothing else: every mutation must be one a batch-norm op (or its counter's `+ 1`) makes of that very buffer."""
    nodes = _producers(graph)
    seen = set()
    for m in graph.mutations:
        buffer = graph.input(m.buffer)
        if buffer is None or buffer.kind != "buffer" or m.buffer in seen:
            raise ProgramError(f"forward() changes {m.buffer!r}, which is not one of the model's buffers")
        seen.add(m.buffer)
        if not _is_norm_update(m, buffer, nodes):
            raise ProgramError(
                f"forward() changes the buffer {buffer.target} while it trains; only BatchNorm may update its running "
                "statistics. Keep learned numbers in nn.Parameters, which the grader's optimizer trains")
    for node in graph.nodes:
        if node.target == TRAIN_NORM_OP and node.args[5:6] != [True]:
            raise ProgramError(f"{node.module or node.name}: a training-mode batch norm that does not train")
    for node in graph.nodes:  # the updated statistics feed the mutations and nothing else
        if node.target == "getitem" and node.args[1:2] in ([3], [4]):
            source = nodes.get(_input_ref(node.args[0]) or "")
            if source is not None and source.target == TRAIN_NORM_OP and _used_by_nodes(graph, node.name):
                raise ProgramError(f"{node.module or node.name}: forward() reads BatchNorm's updated statistics; "
                                   "only BatchNorm itself may use them")


def _is_norm_update(m: Mutation, buffer: GraphInput, nodes: dict[str, GraphNode]) -> bool:
    value = nodes.get(_input_ref(m.value) or "")
    if value is None:
        return False
    if value.target == "getitem" and value.args[1:2] in ([3], [4]):
        norm = nodes.get(_input_ref(value.args[0]) or "")
        return norm is not None and norm.target == TRAIN_NORM_OP and _input_ref(norm.args[value.args[1]]) == m.buffer
    # num_batches_tracked + 1: BatchNorm's step counter, which only momentum=None would read
    return (value.target == "aten.add.Tensor" and buffer.target is not None
            and buffer.target.endswith("." + STEP_COUNTER) and _input_ref(value.args[0]) == m.buffer
            and value.args[1:] == [1] and not value.kwargs)


def _used_by_nodes(graph: Graph, name: str) -> bool:
    return any(name in _refs(n.args) + _refs(list(n.kwargs.values())) for n in graph.nodes)


def derive_eval(graph: Graph) -> Graph:
    """The program the evaluator measures, derived by the grader from the training one: dropout removed, BatchNorm on
    its running statistics, no mutations, and whatever no longer reaches the output dropped."""
    if graph.mode != "train":
        raise ProgramError("only a training-mode program can be derived for evaluation")
    by_name = _producers(graph)
    passed: dict[str, object] = {}  # a dropout's output 0 -> its input: in eval mode dropout is the identity
    nodes = []
    for node in graph.nodes:
        source = by_name.get(_input_ref(node.args[0]) or "") if node.target == "getitem" and node.args else None
        if source is not None and source.target == DROPOUT_OP and node.args[1:2] == [0]:
            passed[node.name] = _substitute(source.args[0], passed)
            continue
        node = GraphNode(node.name, node.target, _substitute(node.args, passed), _substitute(node.kwargs, passed),
                         node.module, node.layer)
        if node.target == TRAIN_NORM_OP:  # drop `training`; outputs 0-2 keep their meaning
            node = GraphNode(node.name, NORM_OP, node.args[:5] + node.args[6:], node.kwargs, node.module, node.layer)
        elif node.target == DROPOUT_OP:  # kept only if something reads its mask: train=False makes it all ones
            node = GraphNode(node.name, node.target, [*node.args[:2], False], {}, node.module, node.layer)
        nodes.append(node)
    output = _substitute(graph.output, passed)
    return _reachable(Graph(graph.inputs, nodes, output, graph.batch, "eval", []))


def _substitute(value, passed: dict):
    """An encoded argument with every reference to a removed dropout's output replaced by that dropout's input."""
    if isinstance(value, dict):
        if isinstance(value.get("node"), str):
            return passed.get(value["node"], value)
        return {k: _substitute(v, passed) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, passed) for v in value]
    return value


def _reachable(graph: Graph) -> Graph:
    """The graph without the operations its output does not need (dead code after the mutations are gone)."""
    by_name = _producers(graph)
    needed, todo = set(), _refs([graph.output])
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in by_name:
            node = by_name[name]
            todo.extend(_refs(node.args) + _refs(list(node.kwargs.values())))
    return Graph(graph.inputs, [n for n in graph.nodes if n.name in needed], graph.output, graph.batch, graph.mode,
                 graph.mutations)


# ------------------------------------------------------------------------------------------ parameter count

# How a training-mode program steps a BatchNorm's counter: num_batches_tracked + 1.
STEP_OP = "aten.add.Tensor"

# Embedded numbers: scalars written into the program's operations, which no parameter count sees. An honest lesson
# graph carries a few dozen (BatchNorm's momentum and eps, dropout's p, a slice's bounds, docs/security.md has the
# figures); more is data kept where nobody trains or counts it (a label table in torch.full calls, for example).
FREE_EMBEDDED = 256  # free: over 8x the most an honest lesson graph carries (30: lesson 7 in training mode)
MAX_EMBEDDED = 1_024  # refused above: beyond this the program is a table, not a network
# Integer arguments that only choose structure (a dimension, a group count, an enum), by op and position; every
# other integer argument outside a list is a value (a fill, a scalar operand, an index, a bound) and counts.
# From ATen's core schemas (int / int? arguments of these names); tests/test_program.py checks it against torch.
STRUCTURAL_INT_ARGS = {
    "aten._cdist_forward.default": (3,),  # compute_mode
    "aten._embedding_bag.default": (4,),  # mode
    "aten._fft_c2r.default": (2, 3),  # normalization, last_dim_size
    "aten._fft_r2c.default": (2,),  # normalization
    "aten._log_softmax.default": (1,),  # dim
    "aten._softmax.default": (1,),  # dim
    "aten.any.dim": (1,),  # dim
    "aten.argmax.default": (1,),  # dim
    "aten.argmin.default": (1,),  # dim
    "aten.cat.default": (1,),  # dim
    "aten.convolution.default": (8,),  # groups
    "aten.convolution_backward.default": (9,),  # groups
    "aten.cumsum.default": (1,),  # dim
    "aten.diagonal.default": (2, 3),  # dim1, dim2
    "aten.embedding_dense_backward.default": (2,),  # num_weights
    "aten.gather.default": (1,),  # dim
    "aten.grid_sampler_2d.default": (2, 3),  # interpolation_mode, padding_mode
    "aten.index_select.default": (1,),  # dim
    "aten.max.dim": (1,),  # dim
    "aten.min.dim": (1,),  # dim
    "aten.native_group_norm.default": (3, 4, 5, 6),  # N, C, HxW, group
    "aten.native_group_norm_backward.default": (5, 6, 7, 8),  # N, C, HxW, group
    "aten.prod.dim_int": (1,),  # dim
    "aten.scatter.src": (1,),  # dim
    "aten.scatter.value": (1,),  # dim
    "aten.scatter_add.default": (1,),  # dim
    "aten.scatter_reduce.two": (1,),  # dim
    "aten.select.int": (1,),  # dim
    "aten.select_scatter.default": (2,),  # dim
    "aten.slice.Tensor": (1,),  # dim
    "aten.slice_scatter.default": (2,),  # dim
    "aten.sort.default": (1,),  # dim
    "aten.split_with_sizes.default": (2,),  # dim
    "aten.squeeze.dim": (1,),  # dim
    "aten.sym_size.int": (1,),  # dim
    "aten.sym_stride.int": (1,),  # dim
    "aten.topk.default": (2,),  # dim
    "aten.unsqueeze.default": (1,),  # dim
}
STRUCTURAL_INT_NAMES = ("dim", "dim1", "dim2", "groups", "compute_mode", "mode", "normalization",
                        "interpolation_mode", "padding_mode", "N", "C", "HxW", "group", "last_dim_size", "num_weights")


@dataclass
class ParamCount:
    """The course's parameter count of one exported program, with what went into it."""

    total: int
    parameters: int
    buffers: int  # counted: buffers other than exempt BatchNorm statistics
    constants: int  # tensors the model holds outside parameters and buffers (their numbers are embedded numbers)
    norm_statistics: int  # not counted: running mean/var of the BatchNorms the program uses, up to `parameters`
    counted_buffers: list[str] = field(default_factory=list)  # by name, so a surprise can be explained
    counted_constants: list[str] = field(default_factory=list)
    norm_statistics_counted: int = 0  # statistics beyond the parameters' own count: counted, in `buffers`
    embedded: int = 0  # numbers written into the program: scalar arguments and lifted constants' elements
    embedded_counted: int = 0  # those beyond FREE_EMBEDDED, counted in `total`
    embedded_by_op: dict[str, int] = field(default_factory=dict)  # where they are, most first (a few entries)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Embedded:
    """The numbers a program carries outside its parameters and buffers, and where."""

    total: int
    by_op: dict[str, int]  # op name (or "constant NAME") -> numbers, most first


def embedded_numbers(graph: Graph, constants: dict | None = None) -> Embedded:
    """Count the program's embedded numbers: value scalars in its operations and its constants' elements.

    `constants` ({name: (entry, bytes)} from read_tensors) lets a constant that is one value repeated (a fill)
    count once; without it every element counts.
    """
    by_op: dict[str, int] = {}
    for node in graph.nodes:
        n = _node_numbers(node)
        if n:
            by_op[node.target] = by_op.get(node.target, 0) + n
    for i in graph.inputs:
        if i.kind == "constant":
            n = _constant_numbers(i, (constants or {}).get(i.name))
            if n:
                by_op[f"constant {i.target}"] = n
    ranked = dict(sorted(by_op.items(), key=lambda kv: -kv[1]))
    return Embedded(sum(ranked.values()), ranked)


def _node_numbers(node: GraphNode) -> int:
    """Value scalars in one node: every float anywhere, and top-level integers that are not structural."""
    if node.target == "getitem":  # its integer picks one output of the op before it
        return sum(_floats(a) for a in node.args)
    structural = STRUCTURAL_INT_ARGS.get(node.target, ())
    count = 0
    for position, arg in enumerate(node.args):
        count += _scalar(arg, position not in structural)
    for name, arg in node.kwargs.items():
        count += _scalar(arg, name not in STRUCTURAL_INT_NAMES)
    return count


def _scalar(arg, int_is_value: bool) -> int:
    if isinstance(arg, bool):
        return 0
    if isinstance(arg, int):
        return int(int_is_value)
    return _floats(arg)


def _floats(arg) -> int:
    """Floats anywhere in an encoded argument (a list of scale factors, a non-finite {"float": "inf"})."""
    if isinstance(arg, float):
        return 1
    if isinstance(arg, dict):
        if "float" in arg:
            return 1
        if "list" in arg and isinstance(arg["list"], list):
            return sum(_floats(a) for a in arg["list"])
    if isinstance(arg, list):
        return sum(_floats(a) for a in arg)
    return 0


def _constant_numbers(spec: GraphInput, stored) -> int:
    """A lifted constant's numbers: one for a plain fill (every element the same bytes), else every element."""
    if spec.numel == 0:
        return 0
    if stored is not None:
        entry, data = stored
        width = DTYPE_BYTES.get(entry.dtype, 1)
        raw = bytes(data)
        if len(raw) == spec.numel * width and raw == raw[:width] * spec.numel:
            return 1
    return spec.numel


def count_parameters(graph: Graph, constants: dict | None = None) -> ParamCount:
    """Every number the program holds counts, except BatchNorm running statistics it uses as such (up to the
    parameters' own count) and a small allowance of embedded numbers; a program carrying too many is refused.

    `constants`: the program's constants as read_tensors gives them, so that a plain fill counts once.
    """
    embedded = embedded_numbers(graph, constants)
    if embedded.total > MAX_EMBEDDED:
        where = ", ".join(f"{op} {n:,}" for op, n in list(embedded.by_op.items())[:3])
        raise ProgramError(
            f"the exported program carries {embedded.total:,} numbers written into its operations and constants "
            f"(limit {MAX_EMBEDDED:,}; most in {where}). A network keeps what it learns in nn.Parameter, where it "
            "is counted and trained: make tables, weights and lookup values parameters, not Python numbers or "
            "tensors built in forward()")
    parameters = sum(i.numel for i in graph.inputs if i.kind == "parameter")
    exempt = _exempt_statistics(graph, _uses(graph))
    statistics = sum(i.numel for i in graph.inputs if i.name in exempt)
    excess = max(0, statistics - parameters)  # the exemption never exceeds what the network itself learns
    buffers = [i for i in graph.inputs if i.kind == "buffer" and i.name not in exempt]
    constants_held = [i for i in graph.inputs if i.kind == "constant"]
    embedded_counted = max(0, embedded.total - FREE_EMBEDDED)
    buffer_total = sum(b.numel for b in buffers) + excess
    return ParamCount(
        total=parameters + buffer_total + embedded_counted,
        parameters=parameters,
        buffers=buffer_total,
        constants=sum(c.numel for c in constants_held),
        norm_statistics=statistics - excess,
        counted_buffers=[f"{b.target} {list(b.shape)}" for b in buffers]
        + ([f"BatchNorm statistics beyond the parameters' own count: {excess:,}"] if excess else []),
        counted_constants=[f"{c.target} {list(c.shape)}" for c in constants_held],
        norm_statistics_counted=excess,
        embedded=embedded.total,
        embedded_counted=embedded_counted,
        embedded_by_op=dict(list(embedded.by_op.items())[:5]),
    )


def _uses(graph: Graph) -> dict[str, list[tuple[GraphNode | None, int]]]:
    """value name -> (node, argument position) of every use; position -1 inside a list or keyword argument."""
    uses: dict[str, list[tuple[GraphNode | None, int]]] = {}  # None: the program's output
    for node in graph.nodes:
        for position, arg in enumerate(node.args):
            if isinstance(arg, dict) and "node" in arg:
                uses.setdefault(arg["node"], []).append((node, position))
            else:
                for ref in _refs([arg]):
                    uses.setdefault(ref, []).append((node, -1))
        for ref in _refs(list(node.kwargs.values())):
            uses.setdefault(ref, []).append((node, -1))
    if isinstance(graph.output, dict) and "node" in graph.output:
        uses.setdefault(graph.output["node"], []).append((None, -1))
    return uses


def _exempt_statistics(graph: Graph, uses: dict) -> set[str]:
    """BatchNorm running statistics used only as such, no wider than the widest layer that has weights."""
    # A parameter without elements (shape (250000, 0)) has no weights: it must not widen the cap.
    widest = max((i.shape[0] for i in graph.inputs if i.kind == "parameter" and len(i.shape) >= 2 and i.numel > 0),
                 default=0)
    exempt: set[str] = set()
    for i in graph.inputs:
        if i.kind != "buffer" or len(i.shape) != 1 or i.shape[0] > widest:
            continue
        used = uses.get(i.name, [])
        if used and all(node is not None and node.target in NORM_OPS and pos in NORM_STATS_ARGS
                        for node, pos in used):
            exempt.add(i.name)
    owners = {i.target.rsplit(".", 1)[0] for i in graph.inputs if i.name in exempt and i.target}
    for i in graph.inputs:  # a used BatchNorm's step counter travels with its statistics; training adds 1 to it
        if i.kind == "buffer" and i.target and i.target.endswith("." + STEP_COUNTER) and i.numel == 1 \
                and i.target.rsplit(".", 1)[0] in owners and all(_is_step(*use) for use in uses.get(i.name, [])):
            exempt.add(i.name)
    return exempt


def _is_step(node: GraphNode | None, position: int) -> bool:
    """num_batches_tracked + 1, as a training-mode program steps the counter."""
    return node is not None and node.target == STEP_OP and position == 0 and node.args[1:2] == [1]


def with_count(report: dict, count: ParamCount) -> dict:
    """A check report carrying the program's parameter count (and whether torchsummary's figure agrees)."""
    summary = dict(report.get("torchsummary") or {})
    summary["agrees"] = summary.get("total") == count.total
    return {**report, "params": count.total, "params_detail": count.to_dict(), "torchsummary": summary}


# ------------------------------------------------------------------------------------------ tensor files


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int  # from the start of the data section
    nbytes: int


def write_tensors(path: Path, tensors: list[tuple[str, str, tuple[int, ...], bytes]], meta: dict | None = None) -> None:
    """Write (name, dtype, shape, raw bytes) tensors: magic, header length, JSON header, then the bytes."""
    entries, offset = [], 0
    for name, dtype, shape, data in tensors:
        entries.append({"name": name, "dtype": dtype, "shape": list(shape), "offset": offset, "nbytes": len(data)})
        offset += len(data)
    header = json.dumps({"tensors": entries, "meta": meta or {}}, separators=(",", ":")).encode("utf-8")
    tmp = Path(str(path) + ".partial")
    with open(tmp, "wb") as fh:
        fh.write(TENSOR_MAGIC + struct.pack("<Q", len(header)) + header)
        for *_, data in tensors:
            fh.write(data)
    tmp.replace(path)  # a reader never sees half a file


def read_tensors(path: Path) -> tuple[dict[str, tuple[TensorEntry, memoryview]], dict]:
    """({name: (entry, raw bytes)}, meta) from a tensor file, every entry checked against its declared size."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TENSOR_FILE_BYTES:
            raise ProgramError(f"{path.name} is {size:,} bytes; the limit is {MAX_TENSOR_FILE_BYTES:,}")
        blob = memoryview(path.read_bytes())
    except OSError as exc:
        raise ProgramError(f"{path.name} cannot be read ({exc.strerror})") from exc
    if bytes(blob[:8]) != TENSOR_MAGIC or len(blob) < 16:
        raise ProgramError(f"{path.name} is not a tensor file")
    (length,) = struct.unpack("<Q", blob[8:16])
    if 16 + length > len(blob):
        raise ProgramError(f"{path.name} is truncated")
    try:
        header = json.loads(bytes(blob[16 : 16 + length]))
        entries = [TensorEntry(str(e["name"]), str(e["dtype"]), tuple(int(s) for s in e["shape"]), int(e["offset"]),
                               int(e["nbytes"])) for e in header["tensors"]]
        meta = dict(header.get("meta") or {})
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProgramError(f"{path.name} has a malformed header ({exc})") from exc
    data = blob[16 + length :]
    out = {}
    for e in entries:
        if e.dtype not in DTYPE_BYTES or any(s < 0 for s in e.shape):
            raise ProgramError(f"{path.name}: tensor {e.name!r} has an invalid dtype or shape")
        if e.nbytes != math.prod(e.shape) * DTYPE_BYTES[e.dtype] or e.offset < 0 or e.offset + e.nbytes > len(data):
            raise ProgramError(f"{path.name}: tensor {e.name!r} does not match its declared size")
        if e.name in out:
            raise ProgramError(f"{path.name}: tensor {e.name!r} appears twice")
        out[e.name] = (e, data[e.offset : e.offset + e.nbytes])
    return out, meta


def check_state(graph: Graph, tensors: dict, kinds=("parameter", "buffer")) -> None:
    """A state must hold exactly the graph's inputs of `kinds`, each with its declared shape and dtype."""
    wanted = {i.name: i for i in graph.inputs if i.kind in kinds}
    missing = sorted(set(wanted) - set(tensors))
    extra = sorted(set(tensors) - set(wanted))
    if missing or extra:
        raise ProgramError(f"the state does not match the exported program (missing {missing[:3]}, extra {extra[:3]})")
    for name, (entry, _) in tensors.items():
        spec = wanted[name]
        if entry.shape != spec.shape or entry.dtype != spec.dtype:
            raise ProgramError(
                f"{spec.target or name} is {entry.dtype}{list(entry.shape)} in the state but "
                f"{spec.dtype}{list(spec.shape)} in the exported program: the model changed shape after it was built")
