"""Receptive field and layer structure, read off the exported program by the parent (no torch, nothing run).

The worker runs the submission's code, so what it measures is the submission's claim; the exported program is
what the grader trains and evaluates, so what it shows is binding. `receptive_field(graph)` and `structure(graph)`
give the same reports as grader.worker.analysis gives for a live model, and `with_analysis` puts them into a
check report. Both sides turn a forward pass into a flat list of `Op`s and share everything after that:
`propagate` (the receptive-field walk) and `summarise` (the structure facts) live here, torch-free.

Names: an operation that ran inside a standard torch.nn layer is labelled by the layer's path and class
("features.3 (MaxPool2d)"), as the live analysis labels a module call; anything else (F.relu, F.max_pool2d or
x.mean in a forward, including one inside the student's own module classes) by the name torch.fx gives that
call ("max_pool2d (F)", "max_pool2d_1 (F)").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from grader import program_shapes
from grader.program import DROPOUT_OP, Graph, GraphNode, ProgramError

__all__ = ["LayerInfo", "Op", "RFReport", "RFRow", "Structure", "propagate", "receptive_field", "structure",
           "summarise", "with_analysis"]


# ------------------------------------------------------------------------------------------------- reports


@dataclass
class RFRow:
    """One row of the receptive-field table, as a student would write it by hand."""

    layer: str
    kernel: int
    stride: int
    padding: int
    dilation: int
    size_in: int
    size_out: int
    rf_in: int
    rf_out: int
    jump_in: int
    jump_out: int


@dataclass
class RFReport:
    """The receptive-field table plus the two figures the lesson criteria use.

    rf_before_global_pool is the RF entering the last global op (global pool, a conv or pool whose window covers
    the whole map, or a Linear on a flattened map), or the RF at the output when there is none; `where` says which,
    in words. rf_final is the RF at the output. method is "program" (the exported program, read by the parent),
    "fx" or "hooks" (a live model); warning says why it may be off, and names a gate treated as not widening it.
    """

    rows: list[RFRow]
    rf_before_global_pool: int
    rf_final: int
    method: str
    warning: str | None
    where: str = "before global pooling"  # what rf_before_global_pool is measured before, for the tables


@dataclass
class LayerInfo:
    """One layer call in forward order; params counts weights on their first use only."""

    name: str
    type: str
    params: int
    detail: dict


@dataclass
class Structure:
    """What the forward pass is made of, for the required/forbidden-layer and BatchNorm criteria."""

    layers: list[LayerInfo]
    convs: int
    convs_3x3: int
    convs_1x1: int
    batchnorm_after_conv: list[bool]
    bn_after_3x3: list[bool]  # the 3x3 convs only: what the BatchNorm criterion counts (1x1 heads are exempt)
    bn_after_every_3x3: bool
    dropout_rates: list[float]
    max_dropout: float | None
    global_pooling: bool
    linear_layers: list[dict]
    linear_params: int
    pools: int
    layer_types: list[str]
    # Multiply-adds one image costs in the convs and Linear layers (every call, a shared layer each time it runs):
    # the compute a design spends, beside the parameters it stores. None when a shape was unknown.
    multiply_adds: int | None = None


def receptive_field(graph: Graph) -> RFReport:
    """Receptive field after every geometry-changing operation of the exported program."""
    return _analyse(graph)[0]


def structure(graph: Graph) -> Structure:
    """The layers the exported program runs, with the facts the lesson criteria ask about."""
    return _analyse(graph)[1]


def with_analysis(report: dict, graph: Graph) -> dict:
    """A check report whose receptive field and structure are the program's, not the worker's."""
    rf, layers = _analyse(graph)
    return {**report, "rf": asdict(rf), "structure": asdict(layers)}


def _analyse(graph: Graph) -> tuple[RFReport, Structure]:
    try:
        return _measure(graph)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:  # a malformed program's numbers
        raise ProgramError(f"the exported program's layers cannot be measured ({type(exc).__name__}: {exc})") from exc


def _measure(graph: Graph) -> tuple[RFReport, Structure]:
    ops = program_ops(graph)
    rows, before, final, notes, where = propagate(ops)  # also fills in the windows of global ops, for summarise
    numel = {i.name: i.numel for i in graph.inputs if i.kind == "parameter"}

    def weigh(op: Op, seen: set) -> int:
        fresh = [name for name in op.weights if name not in seen]
        seen.update(fresh)
        return sum(numel[name] for name in fresh)

    return RFReport(rows, before, final, "program", "; ".join(notes) or None, where), summarise(ops, weigh)


# ------------------------------------------------------------------------------------- the shared analysis


@dataclass
class Op:
    """One tensor-producing step of the forward pass (a module call, a function call, a program operation)."""

    name: str  # module path, or the call's name
    type: str  # module class name, or function / method name
    kind: str  # input, output, conv, pool, global, linear, merge, bn, dropout, plumbing or other
    inputs: list[int]  # indices (into the op list) of the earlier ops whose tensors it reads
    in_shape: tuple | None
    out_shape: tuple | None
    module: object = None  # the module called (a live module, or its path in a program); None for a function
    functional: bool = False
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    detail: dict = field(default_factory=dict)
    weights: list[str] = field(default_factory=list)  # program only: the parameters the call reads


def propagate(ops: list[Op]) -> tuple[list[RFRow], int, int, list[str], str]:
    """Walk the ops in order tracking (rf, jump, map size) per op; rows for ops that change geometry.

    r_out = r_in + (k_eff - 1) * j_in and j_out = j_in * s with k_eff = dilation * (k - 1) + 1. A merge takes
    the largest rf and jump of its spatial inputs: a (N, C, 1, 1) gate multiplied in (squeeze-and-excitation,
    attention) scales channels, it does not move the map's grid, and a note says so. Flattened tensors remember
    the size of the map they came from so that a Linear on them can be treated as a global op; so is a conv or
    pool whose window covers its whole input and leaves a 1x1 map.
    """
    rf: list[int] = []
    jump: list[int] = []
    size: list[int] = []
    rows: list[RFRow] = []
    notes: list[str] = []
    rf_before_global_pool, where = None, "at the output (no global pooling)"
    for op in ops:
        if op.kind == "input":
            rf.append(1)
            jump.append(1)
            size.append(spatial(op.out_shape) or 1)
            continue
        sources = op.inputs
        if op.kind == "merge":
            maps = [i for i in op.inputs if size[i] > 1]
            sources = maps or op.inputs  # a broadcast 1x1 gate does not set the map's rf or jump
        rf_in = max((rf[i] for i in sources), default=1)
        jump_in = max((jump[i] for i in sources), default=1)
        if op.kind == "merge":
            size_in = max((size[i] for i in sources), default=1)
            notes += _gate_notes(op, ops, sources, rf, rf_in)
        else:
            size_in = spatial(op.in_shape) or max((size[i] for i in op.inputs), default=1)
        size_out = spatial(op.out_shape) or size_in
        rf_out, jump_out = rf_in, jump_in

        linear_on_map = op.kind == "linear" and spatial(op.in_shape) is None and size_in > 1
        window = op.dilation * (op.kernel - 1) + 1
        covering_conv = op.kind == "conv" and size_in > 1 and size_out == 1 and window + 2 * op.padding >= size_in
        acts_global = op.kind == "global" or linear_on_map
        if acts_global:
            # A global op sees the whole map: a kernel as large as the map, moving by the whole map.
            op.kernel = op.stride = size_in
            op.padding, op.dilation = 0, 1
            size_out = 1
        if op.kind in ("conv", "pool") or acts_global:
            rf_out = rf_in + op.dilation * (op.kernel - 1) * jump_in
            jump_out = jump_in * op.stride
        elif op.kind not in ("merge", "linear", "output") and spatial(op.in_shape) not in (None, size_out):
            notes.append(
                f"{op.name} ({op.type}) changes the map size {size_in} -> {size_out}; "
                "its effect on the receptive field is not modelled"
            )
        if op.kind in ("conv", "pool", "global", "linear", "merge"):
            rows.append(RFRow(
                layer=row_label(op), kernel=op.kernel, stride=op.stride, padding=op.padding,
                dilation=op.dilation, size_in=size_in, size_out=size_out,
                rf_in=rf_in, rf_out=rf_out, jump_in=jump_in, jump_out=jump_out,
            ))
        if acts_global or covering_conv:
            rf_before_global_pool = rf_in
            where = ("before the Linear on the flattened map" if linear_on_map
                     else "before the conv that covers the whole map" if covering_conv
                     else "before global pooling")
        if op.kind == "global":  # the window of x.mean((2, 3)) or an adaptive pool is only known here
            op.detail = {**op.detail, "kernel": size_in, "stride": size_in, "global": True}
        rf.append(rf_out)
        jump.append(jump_out)
        size.append(size_out)

    final = [i for i, op in enumerate(ops) if op.kind == "output"]
    rf_final = rf[final[-1]] if final else rf[-1]
    return rows, rf_before_global_pool or rf_final, rf_final, notes, where


def _gate_notes(op: Op, ops: list[Op], sources: list[int], rf: list[int], rf_in: int) -> list[str]:
    """A note for each 1x1 input of a merge whose own field is wider than the map's: a gate, kept out of the RF."""
    notes = []
    for i in op.inputs:
        if i in sources or rf[i] <= rf_in:
            continue
        origin = _global_origin(i, ops)
        notes.append(
            f"{row_label(op)} applies a gate computed from the whole map"
            f"{f' by {row_label(ops[origin])}' if origin is not None else ''} (squeeze-and-excitation, attention): "
            f"treated as not widening the receptive field, which stays {rf_in}; the gate's literal field is {rf[i]}"
        )
    return notes


def _global_origin(start: int, ops: list[Op]) -> int | None:
    """The nearest global op upstream of `start` (the pooling a gate is computed from)."""
    pending, seen = [start], set()
    while pending:
        i = pending.pop(0)
        if i in seen:
            continue
        seen.add(i)
        if ops[i].kind == "global":
            return i
        pending.extend(ops[i].inputs)
    return None


def summarise(ops: list[Op], weigh: Callable[[Op, set], int]) -> Structure:
    """The structure facts of an op list; `weigh(op, seen)` counts the parameters an op uses first (into seen)."""
    users = _users(ops)
    layers: list[LayerInfo] = []
    seen_params: set = set()
    seen_modules: set = set()
    convs: list[Op] = []
    bn_after: list[bool] = []
    dropout_rates: list[float] = []
    linear_layers: list[dict] = []
    layer_types: set[str] = set()
    pools = 0
    macs: int | None = 0
    for i, op in enumerate(ops):
        if op.kind in ("input", "output", "plumbing"):
            continue
        detail = dict(op.detail)
        if op.module is not None:
            # A module called twice is two layers of the forward pass but one set of weights.
            key = op.module if isinstance(op.module, str) else id(op.module)
            if key in seen_modules:
                detail["repeat_call"] = True
            seen_modules.add(key)
            layer_types.add(op.type)
        elif op.type in FUNCTION_LAYER_TYPES:
            layer_types.add(FUNCTION_LAYER_TYPES[op.type])
        params = weigh(op, seen_params)
        layers.append(LayerInfo(name=op.name, type=op.type, params=params, detail=detail))
        if op.kind in ("conv", "linear"):
            cost = multiply_adds(op)
            detail["multiply_adds"] = cost
            macs = None if cost is None or macs is None else macs + cost
        if op.kind == "conv":
            convs.append(op)
            bn_after.append(_batchnorm_follows(i, ops, users))
        elif op.kind == "dropout":
            dropout_rates.append(op.detail["p"])
        elif op.kind == "pool":
            pools += 1
        elif op.kind == "global":
            layer_types.add("GlobalPool")
        elif op.kind == "linear":
            linear_layers.append({"name": op.name, **op.detail, "params": params})

    is_3x3 = [op.detail["kernel"] == 3 for op in convs]
    return Structure(
        layers=layers,
        convs=len(convs),
        convs_3x3=sum(is_3x3),
        convs_1x1=sum(op.detail["kernel"] == 1 for op in convs),
        batchnorm_after_conv=bn_after,
        bn_after_3x3=[bn for bn, three in zip(bn_after, is_3x3) if three],
        bn_after_every_3x3=all(bn for bn, three in zip(bn_after, is_3x3) if three),
        dropout_rates=dropout_rates,
        max_dropout=max(dropout_rates) if dropout_rates else None,
        global_pooling=any(op.kind == "global" for op in ops),
        linear_layers=linear_layers,
        linear_params=sum(layer["params"] for layer in linear_layers),
        pools=pools,
        layer_types=sorted(layer_types),
        multiply_adds=macs,
    )


def multiply_adds(op: Op) -> int | None:
    """Multiply-adds of one conv or Linear call for one image: each output value costs one per weight it reads
    (k*k*c_in/groups for a conv, in_features for a Linear); biases, BatchNorm and ReLU are left out, as usual."""
    d, out = op.detail, op.out_shape
    if op.kind == "linear":
        return int(d["in"]) * int(d["out"]) if d.get("in") and d.get("out") else None
    if not out or len(out) != 4 or not all(isinstance(s, int) for s in out) or not d.get("in_channels"):
        return None
    kernel = d["kernel"] if isinstance(d["kernel"], list) else [d["kernel"], d["kernel"]]
    per_output = kernel[0] * kernel[1] * d["in_channels"] // (d.get("groups") or 1)
    return out[1] * out[2] * out[3] * per_output


# Reductions that, taken over the spatial dimensions, are a global pool (x.mean((2, 3)), torch.amax ...).
REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min", "logsumexp", "nanmean"}
DROPOUTS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
# Shape bookkeeping: not a layer, left out of Structure.layers.
PLUMBING = {
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "getitem", "getattr", "contiguous", "permute",
    "transpose", "to", "type", "float", "double", "half", "clone", "detach", "cpu", "cuda", "expand",
}
# Functional ops counted as the layer type a lesson criterion names ("MaxPool2d required" ...).
FUNCTION_LAYER_TYPES = {
    "max_pool2d": "MaxPool2d",
    "max_pool2d_with_indices": "MaxPool2d",
    "avg_pool2d": "AvgPool2d",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
    "adaptive_max_pool2d": "AdaptiveMaxPool2d",
    "adaptive_max_pool2d_with_indices": "AdaptiveMaxPool2d",
    "conv2d": "Conv2d",
    "linear": "Linear",
    "dropout": "Dropout",
    "dropout1d": "Dropout1d",
    "dropout2d": "Dropout2d",
    "dropout3d": "Dropout3d",
    "batch_norm": "BatchNorm2d",
    "relu": "ReLU",
}


def set_geometry(op: Op, kind: str, kernel: int, stride: int, padding: int, dilation: int) -> None:
    op.kind, op.kernel, op.stride, op.padding, op.dilation = kind, kernel, stride, padding, dilation


def pool(op: Op, kernel: int, stride: int | None, padding: int, dilation: int) -> None:
    """A sliding pool, or a global one when its output is 1x1 and its window covers the whole map."""
    stride = stride or kernel  # stride None (or []) means "same as the kernel"
    size_in, size_out = spatial(op.in_shape), spatial(op.out_shape)
    window = dilation * (kernel - 1) + 1
    covers_map = size_in is not None and size_in > 1 and size_out == 1 and window >= size_in
    set_geometry(op, "global" if covers_map else "pool", kernel, stride, padding, dilation)
    op.detail = {"kernel": kernel, "stride": stride, "global": covers_map}


def adaptive_pool(op: Op) -> None:
    size_in, size_out = spatial(op.in_shape), spatial(op.out_shape)
    if size_in is None or size_out is None:
        return
    if size_out == 1:
        op.kind = "global"
        return
    # Adaptive windows vary in size; the largest one bounds the receptive field.
    kernel = max(-(-(i + 1) * size_in // size_out) - (i * size_in // size_out) for i in range(size_out))
    set_geometry(op, "pool", kernel, max(size_in // size_out, 1), 0, 1)
    op.detail = {"kernel": kernel, "stride": op.stride, "global": False}


def reduces_all_positions(dims, in_shape) -> bool:
    """True when a reduction collapses every spatial position: dims (2, 3) of a map, or all dims."""
    if in_shape is None or len(in_shape) not in (3, 4):
        return False
    if dims is None:
        return True
    dims = [dims] if isinstance(dims, int) else list(dims)
    if not all(isinstance(d, int) for d in dims):
        return False
    spatial_dims = {2, 3} if len(in_shape) == 4 else {2}  # 3-D: a map flattened to (N, C, H*W)
    return spatial_dims <= {d % len(in_shape) for d in dims} and in_shape[2] > 1


def _batchnorm_follows(conv: int, ops: list[Op], users: list[list[int]]) -> bool:
    """Whether a BatchNorm reads the conv's output (ReLU, Dropout ... in between) before a conv/pool/merge."""
    stop = {"conv", "pool", "global", "linear", "merge", "output"}
    pending, seen = list(users[conv]), set()
    while pending:
        i = pending.pop()
        if i in seen:
            continue
        seen.add(i)
        if ops[i].kind == "bn":
            return True
        if ops[i].kind not in stop:
            pending.extend(users[i])
    return False


def _users(ops: list[Op]) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in ops]
    for i, op in enumerate(ops):
        for j in op.inputs:
            users[j].append(i)
    return users


def row_label(op: Op) -> str:
    if op.kind == "merge":
        return f"{op.name} (merge)"
    return f"{op.name} ({'F' if op.functional else op.type})"


def spatial(shape) -> int | None:
    """Height of a (N, C, H, W) map; None for anything that is not a map."""
    return shape[2] if shape is not None and len(shape) == 4 else None


def first(value):
    """The H component of an int-or-pair argument; None unless a plain number."""
    if isinstance(value, (tuple, list)):
        if not value:
            return None
        value = value[0]
    return value if isinstance(value, int) or value is None else None


def square(value):
    """An int for square pairs, the pair (as a list) otherwise."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return value[0] if value[0] == value[1] else list(value)


# --------------------------------------------------------------------------------------- the program's ops

# The torch.nn layers torch.fx keeps as one call (its leaf modules). An operation that ran inside one of these is
# labelled by the layer; any other module (the student's own classes, containers) is traced through.
STANDARD_LAYERS = {
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "LazyConv2d",
    "Linear", "Bilinear", "LazyLinear", "Identity", "Flatten", "Unflatten",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm2d", "SyncBatchNorm", "GroupNorm", "LayerNorm",
    "InstanceNorm1d", "InstanceNorm2d", "LocalResponseNorm", "RMSNorm",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "LPPool2d", "FractionalMaxPool2d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Hardshrink", "Softshrink", "Tanhshrink", "Softplus",
    "Softsign", "LogSigmoid", "Threshold", "GLU", "Softmax", "Softmax2d", "LogSoftmax", "Softmin",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
    "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d", "Fold", "Unfold",
    "Embedding", "CosineSimilarity", "PairwiseDistance", "MultiheadAttention",
}
# Core ATen operations under the name torch.fx gives the call a student writes (F.max_pool2d, F.linear ...).
_CALL_NAMES = {
    "max_pool2d_with_indices": "max_pool2d", "_adaptive_avg_pool2d": "adaptive_avg_pool2d",
    "native_dropout": "dropout", "_native_batch_norm_legit_functional": "batch_norm",
    "_native_batch_norm_legit_no_training": "batch_norm", "_native_batch_norm_legit": "batch_norm",
    "native_batch_norm": "batch_norm", "addmm": "linear", "mm": "linear", "_log_softmax": "log_softmax",
    "_softmax": "softmax", "_unsafe_view": "view", "_to_copy": "to",
}
_PROGRAM_PLUMBING = {"alias", "select", "slice", "t", "index", "lift_fresh_copy", "as_strided"}
_NOT_TENSORS = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset"}


def program_ops(graph: Graph) -> list[Op]:
    """The program as ops: a call of a standard layer is one op (however many operations it lowered to)."""
    shapes = program_shapes.infer(graph)
    image = next(i for i in graph.inputs if i.kind == "input")
    ops = [Op("input", "input", "input", [], None, _tensor(shapes[image.name]))]
    index = {image.name: 0}  # value name -> its op
    reads = _parameter_reads(graph)
    names = _CallNames()
    calls: dict[int, str] = {}  # a layer call's op -> the name of the operation that does its work
    masks = _channel_masks(graph)
    for node in graph.nodes:
        refs = _refs(node)
        inputs = list(dict.fromkeys(index[r] for r in refs if r in index))
        if not inputs or program_shapes.base(node.target) in _NOT_TENSORS:
            continue  # only values derived from the image carry geometry; x.size(0) is a number
        if node.target == "getitem":  # output 0 of a pool, dropout or BatchNorm is that call's map
            if node.args[1:2] == [0]:
                index[node.name] = inputs[0]
            continue  # the others are indices, masks and statistics, not maps
        out = _tensor(shapes.get(node.name))
        layer = node.module if node.layer in STANDARD_LAYERS and node.module else None
        last = ops[inputs[0]]
        if layer is not None and len(inputs) == 1 and last.module == layer and last.kind != "input":
            if _extend(last, node, out, shapes, reads):  # the next operation of the same layer call
                calls[inputs[0]] = _call_name(node, shapes)
            index[node.name] = inputs[0]
            continue
        op = Op(layer or "", node.layer or "", "other", inputs, last.out_shape, out, module=layer,
                functional=layer is None)
        op.weights = sorted(reads[node.name])
        _classify(op, node, shapes)
        call = _call_name(node, shapes)
        mask = next((masks[r] for r in refs if r in masks), None) if node.target == "aten.mul.Tensor" else None
        if mask is not None:  # the image times a channel mask: Dropout1d/2d/3d (grader.worker.lowering)
            op.kind, op.detail, call = "dropout", {"p": mask[0]}, mask[1]
        if layer is not None:
            calls[len(ops)] = call
        else:
            op.type = call
            op.name = names.take(op.type)
            op.kind = "plumbing" if op.kind == "other" and _is_plumbing(op.type) else op.kind
        if len(inputs) > 1:  # x + branch(x), torch.cat([a, b]) ...: several image-derived inputs meet
            op.kind = "merge"
        index[node.name] = len(ops)
        ops.append(op)
    for i, call in calls.items():
        ops[i].type = _shown_type(ops[i], call)
    output = graph.output.get("node")
    ops.append(Op("output", "output", "output", [index[output]] if output in index else [], None, None))
    return ops


def _channel_masks(graph: Graph) -> dict[str, tuple[float, str]]:
    """{mask value: (p, call name)} for native_dropout drawn on ones of shape (N, C, 1 ...): the mask the export
    multiplies the image by for nn.Dropout1d/2d/3d (grader.worker.lowering.rewrite_feature_dropout)."""
    nodes = {n.name: n for n in graph.nodes}
    masks = {}
    for node in graph.nodes:
        drop = nodes.get(_ref(node.args[0]) or "") if node.target == "getitem" and node.args[1:2] == [0] else None
        ones = nodes.get(_ref(drop.args[0]) or "") if drop is not None and drop.target == DROPOUT_OP else None
        if ones is None or ones.target != "aten.full.default" or not isinstance(drop.args[1], (int, float)):
            continue
        shape = _decoded(ones.args[0])
        rank = len(shape) - 2 if isinstance(shape, list) else 0
        masks[node.name] = (float(drop.args[1]), f"dropout{rank}d" if rank in (1, 2, 3) else "dropout")
    return masks


def _extend(op: Op, node: GraphNode, out, shapes: dict, reads: dict) -> bool:
    """Fold one more operation into a layer call: its output is the call's, and it may be the call's main one
    (then True)."""
    op.out_shape = out
    op.weights = sorted(set(op.weights) | reads[node.name])
    if op.kind not in ("other", "plumbing"):
        return False
    kind = op.kind
    _classify(op, node, shapes)
    if op.kind == "other":
        op.kind = kind
    return op.kind != kind


# The layer classes a criterion may name, and the types their operations may show. A class name is the worker's
# word (any class may be called BatchNorm2d); the operations are what the grader trains.
_CLAIMS = {
    "Conv2d": {"Conv2d"}, "Linear": {"Linear"}, "MaxPool2d": {"MaxPool2d"}, "AvgPool2d": {"AvgPool2d"},
    "AdaptiveAvgPool2d": {"AdaptiveAvgPool2d", "AvgPool2d"},
    "AdaptiveMaxPool2d": {"AdaptiveMaxPool2d", "MaxPool2d"},  # lowered to an exact max pool (grader.worker.lowering)
    "BatchNorm1d": {"BatchNorm2d"}, "BatchNorm2d": {"BatchNorm2d"}, "BatchNorm3d": {"BatchNorm2d"},
    "SyncBatchNorm": {"BatchNorm2d"}, "ReLU": {"ReLU"}, "Dropout": {"Dropout"}, "Dropout1d": {"Dropout", "Dropout1d"},
    "Dropout2d": {"Dropout", "Dropout2d"}, "Dropout3d": {"Dropout", "Dropout3d"}, "AlphaDropout": {"Dropout"},
    "FeatureAlphaDropout": {"Dropout"},
}


def _shown_type(op: Op, call: str) -> str:
    """A layer call's type: its class when the operations agree (a BatchNorm2d normalises maps), else theirs."""
    claimed, shown = op.type, FUNCTION_LAYER_TYPES.get(call)
    if claimed == "BatchNorm2d" and shown == "BatchNorm2d" and len(op.in_shape or ()) != 4:
        return "BatchNorm1d"
    if claimed in _CLAIMS:
        return claimed if shown in _CLAIMS[claimed] else shown or call
    return shown or claimed


def _classify(op: Op, node: GraphNode, shapes: dict) -> None:
    """Kind, geometry and detail of an op from the operation that does its work, as analysis.py's rules do."""
    name = program_shapes.base(node.target)
    arg = lambda position, keyword, default=None: _decoded(program_shapes.arg(node, position, keyword, default))
    if name == "convolution":
        _convolution(op, node, shapes)
    elif name in ("max_pool2d_with_indices", "avg_pool2d"):
        kernel, stride = first(arg(1, "kernel_size")), first(arg(2, "stride", []))
        dilation = first(arg(4, "dilation", 1)) if name.startswith("max") else 1
        if isinstance(kernel, int) and isinstance(dilation, int):
            pool(op, kernel, stride, first(arg(3, "padding", 0)) or 0, dilation)
    elif name in ("_adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d"):
        adaptive_pool(op)
    elif name in REDUCTIONS:
        whole = program_shapes.overload(node.target) == "default" and name not in ("amax", "amin", "logsumexp")
        if reduces_all_positions(None if whole else arg(1, "dim"), op.in_shape):
            op.kind = "global"
    elif name in ("addmm", "mm"):
        weight = _tensor(shapes.get(_ref(node.args[-1]) or ""))
        op.kind = "linear"
        op.detail = {"in": weight[0], "out": weight[1]} if weight and len(weight) == 2 else {}
    elif name == "native_dropout":
        p = arg(1, "p", 0.5)
        op.kind = "dropout"
        op.detail = {"p": float(p) if isinstance(p, (int, float)) else float("nan")}
    elif "batch_norm" in name:
        op.kind = "bn"


def _convolution(op: Op, node: GraphNode, shapes: dict) -> None:
    """A 2-D convolution: kernel from its weight's shape, the rest from its arguments (transposed ones are not)."""
    weight = _tensor(shapes.get(_ref(node.args[1]) or ""))
    raw = lambda position, keyword, default: program_shapes.arg(node, position, keyword, default)
    arg = lambda position, keyword, default: _decoded(raw(position, keyword, default))
    if weight is None or len(weight) != 4 or arg(6, "transposed", False):
        return  # like nn.ConvTranspose2d in the live analysis: not a conv, its size change noted
    kernel, stride, dilation = weight[2], first(arg(3, "stride", 1)), first(arg(5, "dilation", 1))
    if not isinstance(stride, int) or not isinstance(dilation, int):
        return
    padding = first(arg(4, "padding", 0)) or 0
    set_geometry(op, "conv", kernel, stride, padding, dilation)
    groups = arg(8, "groups", 1)
    op.detail = {
        "in_channels": weight[1] * groups,
        "out_channels": weight[0],
        "kernel": square(weight[2:]),
        "stride": square(arg(3, "stride", 1)),
        "padding": square(arg(4, "padding", 0)),
        "dilation": square(arg(5, "dilation", 1)),
        "bias": raw(2, "bias", None) is not None,
        "groups": groups,
    }


def _call_name(node: GraphNode, shapes: dict) -> str:
    """What torch.fx would call this operation's call: F.conv2d's conv2d, x.mean's mean, F.linear's linear."""
    name = program_shapes.base(node.target)
    if name == "convolution":
        weight = _tensor(shapes.get(_ref(node.args[1]) or "")) or ()
        rank = max(len(weight) - 2, 1)
        return f"conv_transpose{rank}d" if program_shapes.arg(node, 6, "transposed", False) else f"conv{rank}d"
    if name == "mean" and _decoded(program_shapes.arg(node, 1, "dim")) == [-1, -2] and \
            program_shapes.arg(node, 2, "keepdim", False):
        return "adaptive_avg_pool2d"  # F.adaptive_avg_pool2d(x, 1) lowers to exactly this mean
    return _CALL_NAMES.get(name, name).strip("_")


def _is_plumbing(name: str) -> bool:
    return name in PLUMBING or name in _PROGRAM_PLUMBING


class _CallNames:
    """torch.fx's names for calls: the first relu is `relu`, the next `relu_1`, then `relu_2`."""

    def __init__(self):
        self.used: set[str] = set()
        self.count: dict[str, int] = {}

    def take(self, base: str) -> str:
        number, candidate = self.count.get(base, 0), base
        while candidate in self.used:
            number += 1
            candidate = f"{base}_{number}"
        self.used.add(candidate)
        self.count[base] = number
        return candidate


def _parameter_reads(graph: Graph) -> dict[str, frozenset]:
    """{value: the parameters it reads directly or through operations on weights (a Linear's transpose)}, not
    through the image's path (those are earlier layers' weights). One pass: the graph is in order."""
    reads = {i.name: frozenset([i.name]) for i in graph.inputs if i.kind == "parameter"}
    image = {i.name for i in graph.inputs if i.kind == "input"}
    for node in graph.nodes:
        refs = _refs(node)
        reads[node.name] = frozenset().union(*(reads.get(r, frozenset()) for r in refs if r not in image))
        if any(r in image for r in refs):
            image.add(node.name)
    return reads


def _refs(node: GraphNode) -> list[str]:
    out, stack = [], [*node.args, *node.kwargs.values()]
    while stack:
        a = stack.pop(0)
        if isinstance(a, dict):
            if "node" in a:
                out.append(a["node"])
            elif "list" in a:
                stack[:0] = a["list"]
    return out


def _ref(encoded) -> str | None:
    return encoded.get("node") if isinstance(encoded, dict) else None


def _decoded(encoded):
    """A plain argument: a list of numbers, a number, None."""
    if isinstance(encoded, dict) and "list" in encoded:
        return [_decoded(v) for v in encoded["list"]]
    return None if isinstance(encoded, dict) else encoded


def _tensor(shape) -> tuple | None:
    """The map an operation produces: its first output for a call with several."""
    while isinstance(shape, tuple) and shape and isinstance(shape[0], tuple | type(None)):
        shape = shape[0]
    return shape if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape) else None
