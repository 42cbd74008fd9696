"""The exported program: a JSON graph of core ATen operations plus raw tensor files. No code, no pickle.

The worker writes it (grader.worker.export) from the model it trains; the trusted side reads it: the parent
counts its parameters here, without torch, and the evaluator runs it (grader.evaluator.interpret). Nothing in
these files can execute: the graph names operations that the reader looks up in an allowlist, and tensors are
a JSON header followed by raw bytes.

Parameter accounting (`count_parameters`) is the course's one definition of "parameters": every parameter, every
buffer and every lifted constant the program holds, except the running statistics of the BatchNorms it really
uses, provided each is no wider than the widest layer with weights (so BatchNorm statistics cannot be a place to
keep data).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.errors import IntegrityError

GRAPH_FORMAT = "course-graph/1"
MAX_GRAPH_BYTES = 16 * 2**20  # a tiny CNN's graph is a few KB; more is data, not a network
MAX_NODES = 20_000
MAX_TENSOR_FILE_BYTES = 512 * 2**20  # the state of a model 10x over the largest budget is a few MB
TENSOR_MAGIC = b"COURSET1"
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
               "int8": 1, "uint8": 1, "bool": 1}
INPUT_KINDS = ("parameter", "buffer", "constant", "input")
# The core-IR BatchNorm in eval mode: (input, weight, bias, running_mean, running_var, momentum, eps)
NORM_OP = "aten._native_batch_norm_legit_no_training.default"
NORM_STATS_ARGS = (3, 4)


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


@dataclass
class Graph:
    inputs: list[GraphInput]
    nodes: list[GraphNode]
    output: object  # an encoded argument: {"node": name} for the model's output
    batch: int  # the batch size the program was exported with; the evaluator pads to it

    def to_dict(self) -> dict:
        return {"format": GRAPH_FORMAT, "batch": self.batch, "inputs": [asdict(i) for i in self.inputs],
                "nodes": [asdict(n) for n in self.nodes], "output": self.output}

    @property
    def ops(self) -> list[str]:
        return sorted({n.target for n in self.nodes})

    def held(self) -> list[GraphInput]:
        """Inputs the program holds (parameters, buffers, constants), in input order."""
        return [i for i in self.inputs if i.kind != "input"]


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
        nodes = [GraphNode(str(n["name"]), str(n["target"]), list(n["args"]), dict(n["kwargs"])) for n in raw["nodes"]]
        batch = int(raw["batch"])
        output = raw["output"]
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
    return Graph(inputs, nodes, output, batch)


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


# ------------------------------------------------------------------------------------------ parameter count


@dataclass
class ParamCount:
    """The course's parameter count of one exported program, with what went into it."""

    total: int
    parameters: int
    buffers: int  # counted: buffers other than exempt BatchNorm statistics
    constants: int  # counted: tensors the model holds outside parameters and buffers
    norm_statistics: int  # not counted: running mean/var of the BatchNorms the program uses
    counted_buffers: list[str] = field(default_factory=list)  # by name, so a surprise can be explained
    counted_constants: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def count_parameters(graph: Graph) -> ParamCount:
    """Every number the program holds counts, except BatchNorm running statistics it uses as such."""
    uses: dict[str, list[tuple[str, int]]] = {}
    for node in graph.nodes:
        for position, arg in enumerate(node.args):
            if isinstance(arg, dict) and "node" in arg:
                uses.setdefault(arg["node"], []).append((node.target, position))
            else:
                for ref in _refs([arg]):
                    uses.setdefault(ref, []).append((node.target, -1))
        for ref in _refs(list(node.kwargs.values())):
            uses.setdefault(ref, []).append((node.target, -1))
    widest = max((i.shape[0] for i in graph.inputs if i.kind == "parameter" and len(i.shape) >= 2), default=0)
    exempt: set[str] = set()
    for i in graph.inputs:
        if i.kind != "buffer" or len(i.shape) != 1 or i.shape[0] > widest:
            continue
        used = uses.get(i.name, [])
        if used and all(target == NORM_OP and pos in NORM_STATS_ARGS for target, pos in used):
            exempt.add(i.name)
    owners = {i.target.rsplit(".", 1)[0] for i in graph.inputs if i.name in exempt and i.target}
    for i in graph.inputs:  # a used BatchNorm's step counter travels with its statistics
        if i.kind == "buffer" and i.target and i.target.endswith(".num_batches_tracked") and i.numel == 1 \
                and i.target.rsplit(".", 1)[0] in owners and not uses.get(i.name):
            exempt.add(i.name)
    parameters = sum(i.numel for i in graph.inputs if i.kind == "parameter")
    buffers = [i for i in graph.inputs if i.kind == "buffer" and i.name not in exempt]
    constants = [i for i in graph.inputs if i.kind == "constant"]
    count = ParamCount(
        total=parameters + sum(b.numel for b in buffers) + sum(c.numel for c in constants),
        parameters=parameters,
        buffers=sum(b.numel for b in buffers),
        constants=sum(c.numel for c in constants),
        norm_statistics=sum(i.numel for i in graph.inputs if i.name in exempt),
        counted_buffers=[f"{b.target} {list(b.shape)}" for b in buffers],
        counted_constants=[f"{c.target} {list(c.shape)}" for c in constants],
    )
    return count


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
