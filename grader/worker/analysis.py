"""Measure a model exactly, without training: parameters, receptive field, layer structure, torchsummary.

Every measurement runs a forward pass on a CPU deep copy in eval mode, so measuring never changes the
student's model (BatchNorm running statistics, device) nor the global RNG state that training relies on.

How it works: `_trace` turns the forward pass into a flat list of `_Op`s (one per tensor-producing step,
each naming the earlier ops it reads), from the torch.fx graph when the model can be traced and from
forward hooks on leaf modules otherwise. `_propagate` walks that list once and computes the receptive field
of every op. `receptive_field` and `structure` are both views of that one analysis.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from grader.errors import SubmissionError

__all__ = [
    "LayerInfo",
    "RFReport",
    "RFRow",
    "Structure",
    "count_parameters",
    "receptive_field",
    "structure",
    "torchsummary_table",
]


# ---------------------------------------------------------------------------------------------- public API


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each counted once even when a module or tensor is shared between layers."""
    return sum(p.numel() for p in _unique_trainable(model.parameters(), set()))


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
    in words. rf_final is the RF at the output. method is "fx" or "hooks"; warning says why it may be off.
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


def receptive_field(model: nn.Module, input_size=(1, 28, 28)) -> RFReport:
    """Receptive field after every geometry-changing op, computed from the forward graph (torch.fx)."""
    analysis = _analyse(model, input_size)
    return RFReport(
        rows=analysis.rows,
        rf_before_global_pool=analysis.rf_before_global_pool,
        rf_final=analysis.rf_final,
        method=analysis.method,
        warning="; ".join(analysis.warnings) or None,
        where=analysis.where,
    )


def structure(model: nn.Module, input_size=(1, 28, 28)) -> Structure:
    """The layers the forward pass actually runs, with the facts the lesson criteria ask about."""
    ops = _analyse(model, input_size).ops
    users = _users(ops)

    layers: list[LayerInfo] = []
    seen_params: set = set()
    seen_modules: set[int] = set()
    convs: list[_Op] = []
    bn_after: list[bool] = []
    dropout_rates: list[float] = []
    linear_layers: list[dict] = []
    layer_types: set[str] = set()
    pools = 0
    for i, op in enumerate(ops):
        if op.kind in ("input", "output", "plumbing"):
            continue
        detail = dict(op.detail)
        params = 0
        if op.module is not None:
            # A module called twice is two layers of the forward pass but one set of weights.
            if id(op.module) in seen_modules:
                detail["repeat_call"] = True
            seen_modules.add(id(op.module))
            params = sum(p.numel() for p in _unique_trainable(op.module.parameters(), seen_params))
            layer_types.add(op.type)
        elif op.type in _FUNCTION_LAYER_TYPES:
            layer_types.add(_FUNCTION_LAYER_TYPES[op.type])
        layers.append(LayerInfo(name=op.name, type=op.type, params=params, detail=detail))

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
    )


def torchsummary_table(model: nn.Module, input_size=(1, 28, 28)) -> tuple[str, int | None]:
    """The familiar torchsummary.summary text and the "Total params" figure it printed; never raises."""
    # torchsummary double counts reused modules, so callers compare its figure with count_parameters.
    try:
        from torchsummary import summary

        # A copy in eval mode on the CPU: summary runs a forward pass (train mode would move BatchNorm
        # statistics), defaults to CUDA, and draws its input with torch.rand (hence the forked RNG).
        model_copy = copy.deepcopy(model).cpu().eval()
        buffer = io.StringIO()
        with torch.random.fork_rng(devices=[]), torch.no_grad(), contextlib.redirect_stdout(buffer):
            summary(model_copy, tuple(input_size), device="cpu")
    except Exception as error:  # noqa: BLE001 - any failure inside a third-party tool is reported, not raised
        return f"torchsummary could not summarise this model: {_reason(error)}", None
    text = buffer.getvalue()
    match = re.search(r"Total params: ([\d,]+)", text)
    return text, int(match.group(1).replace(",", "")) if match else None


# ------------------------------------------------------------------------------------ the shared analysis


@dataclass
class _Op:
    """One tensor-producing step of the forward pass."""

    name: str  # fx node name, or module path
    type: str  # module class name, or function / method name
    kind: str  # input, output, conv, pool, global, linear, merge, bn, dropout, plumbing or other
    inputs: list[int]  # indices (into the op list) of the earlier ops whose tensors it reads
    in_shape: tuple | None
    out_shape: tuple | None
    module: nn.Module | None = None
    functional: bool = False
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    detail: dict = field(default_factory=dict)


@dataclass
class _Analysis:
    ops: list[_Op]
    rows: list[RFRow]
    rf_before_global_pool: int
    rf_final: int
    method: str
    warnings: list[str]
    where: str = "before global pooling"


def _analyse(model: nn.Module, input_size) -> _Analysis:
    # A forward that draws noise itself must not shift the global RNG stream that seeded training uses.
    with torch.random.fork_rng(devices=[]):
        ops, method, warnings = _trace(model, input_size)
    rows, rf_before_global_pool, rf_final, notes, where = _propagate(ops)
    return _Analysis(ops, rows, rf_before_global_pool, rf_final, method, warnings + notes, where)


def _trace(model: nn.Module, input_size) -> tuple[list[_Op], str, list[str]]:
    """The forward pass as ops: from torch.fx when possible, from forward hooks (module order) otherwise."""
    model_copy = copy.deepcopy(model).cpu().eval()
    # Batch of 2, as torchsummary does; a fixed input makes every measurement reproducible.
    x = torch.randn(2, *tuple(input_size), generator=torch.Generator().manual_seed(0))
    try:
        from torch.fx import symbolic_trace
        from torch.fx.passes.shape_prop import ShapeProp

        graph_module = symbolic_trace(model_copy)
        with torch.no_grad():
            ShapeProp(graph_module).propagate(x)
        return _ops_from_fx(graph_module), "fx", []
    except Exception as error:  # noqa: BLE001 - fx fails in many ways (control flow, len(), asserts ...)
        warning = (
            f"model could not be traced with torch.fx ({_reason(error)}); receptive field from module "
            "order, may be wrong for functional ops and branches"
        )
        return _ops_from_hooks(model_copy, x), "hooks", [warning]


def _ops_from_fx(graph_module) -> list[_Op]:
    modules = dict(graph_module.named_modules())
    ops: list[_Op] = []
    index: dict = {}  # fx node -> index of its op
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not ops:  # extra placeholders are optional arguments left at their defaults
                index[node] = len(ops)
                ops.append(_Op("input", "input", "input", [], None, _shape(node)))
            continue
        # Only values derived from the image carry geometry; parameters and x.size() results do not.
        inputs = [index[n] for n in node.all_input_nodes if n in index]
        if node.op == "output":
            ops.append(_Op("output", "output", "output", inputs, None, None))
            continue
        out_shape = _shape(node)
        if out_shape is None or not inputs:
            continue
        in_shape = ops[inputs[0]].out_shape
        if node.op == "call_module":
            op = _module_op(node.target, modules[node.target], in_shape, out_shape)
        else:
            op = _function_op(node, in_shape, out_shape)
        if len(inputs) > 1:  # x + branch(x), torch.cat([a, b]) ...: several image-derived inputs meet
            op.kind = "merge"
        op.inputs = inputs
        index[node] = len(ops)
        ops.append(op)
    return ops


def _ops_from_hooks(model: nn.Module, x: torch.Tensor) -> list[_Op]:
    """Leaf-module calls in execution order, chained one after another (functional ops are invisible)."""
    ops = [_Op("input", "input", "input", [], None, tuple(x.shape))]

    def record(name):
        def hook(module, inputs, output):
            in_shape = _tensor_shape(inputs[0]) if inputs else None
            out_shape = _tensor_shape(output)
            if out_shape is not None:
                op = _module_op(name, module, in_shape or ops[-1].out_shape, out_shape)
                op.inputs = [len(ops) - 1]
                ops.append(op)

        return hook

    leaves = [(name, m) for name, m in model.named_modules() if name and not any(m.children())]
    handles = [m.register_forward_hook(record(name)) for name, m in leaves]
    try:
        with torch.no_grad():
            model(x)
    except Exception as error:
        raise SubmissionError(
            f"the model's forward pass failed on an input of shape {tuple(x.shape)}: {_reason(error)}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    return ops


def _module_op(name: str, module: nn.Module, in_shape, out_shape) -> _Op:
    op = _Op(name, type(module).__name__, "other", [], in_shape, out_shape, module=module)
    if isinstance(module, nn.Conv2d):
        kernel, dilation = module.kernel_size[0], module.dilation[0]
        padding = _padding(module.padding, kernel, dilation)
        _set_geometry(op, "conv", kernel, module.stride[0], padding, dilation)
        op.detail = {
            "in_channels": module.in_channels,
            "out_channels": module.out_channels,
            "kernel": _square(module.kernel_size),
            "stride": _square(module.stride),
            "padding": module.padding if isinstance(module.padding, str) else _square(module.padding),
            "dilation": _square(module.dilation),
            "bias": module.bias is not None,
            "groups": module.groups,
        }
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = _first(getattr(module, "dilation", 1))
        _pool(op, _first(module.kernel_size), _first(module.stride), _first(module.padding), dilation)
    elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        _adaptive_pool(op)
    elif isinstance(module, nn.Linear):
        op.kind = "linear"
        op.detail = {"in": module.in_features, "out": module.out_features}
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        op.kind = "bn"
    elif isinstance(module, nn.modules.dropout._DropoutNd):
        op.kind = "dropout"
        op.detail = {"p": float(module.p)}
    return op


def _function_op(node, in_shape, out_shape) -> _Op:
    """Classify a call_function / call_method node (F.max_pool2d, x.mean((2, 3)), torch.flatten ...)."""
    if isinstance(node.target, str):
        name = node.target
    else:
        name = getattr(node.target, "__name__", str(node.target))
    name = name.strip("_")  # __iadd__ / add_ / _max_pool2d are the same op as far as geometry goes
    op = _Op(node.name, name, "other", [], in_shape, out_shape, functional=True)

    if name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        raw_stride = _arg(node, 2, "stride", None)
        kernel, stride = _first(_arg(node, 1, "kernel_size", None)), _first(raw_stride)
        padding = _first(_arg(node, 3, "padding", 0))
        dilation = _first(_arg(node, 4, "dilation", 1)) if name.startswith("max") else 1
        stride_unknown = stride is None and raw_stride not in (None, [])
        computed_in_forward = None in (kernel, padding, dilation) or stride_unknown
        if not computed_in_forward:
            _pool(op, kernel, stride, padding, dilation)
        elif _spatial(out_shape) == 1 and (_spatial(in_shape) or 0) > 1:  # e.g. F.avg_pool2d(x, x.size()[2:])
            op.kind = "global"
    elif name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"):
        _adaptive_pool(op)
    elif name in _REDUCTIONS:
        if _reduces_all_positions(_arg(node, 1, "dim", None), in_shape):
            op.kind = "global"
    elif name == "conv2d":
        weight = _shape(node.args[1]) if len(node.args) > 1 and hasattr(node.args[1], "meta") else None
        stride, dilation = _first(_arg(node, 3, "stride", 1)), _first(_arg(node, 5, "dilation", 1))
        if weight is not None and stride is not None and dilation is not None:
            kernel = weight[2]
            padding = _padding(_arg(node, 4, "padding", 0), kernel, dilation)
            _set_geometry(op, "conv", kernel, stride, padding, dilation)
            op.detail = {
                "in_channels": weight[1] * (_arg(node, 6, "groups", 1) or 1),
                "out_channels": weight[0],
                "kernel": kernel if weight[2] == weight[3] else [weight[2], weight[3]],
                "stride": stride,
                "padding": op.padding,
                "dilation": dilation,
                "bias": _arg(node, 2, "bias", None) is not None,
                "groups": _arg(node, 6, "groups", 1),
            }
    elif name == "linear":
        weight = _shape(node.args[1]) if len(node.args) > 1 and hasattr(node.args[1], "meta") else None
        op.kind = "linear"
        op.detail = {"in": weight[1], "out": weight[0]} if weight is not None else {}
    elif name in _DROPOUTS:
        p = _arg(node, 1, "p", 0.5)
        op.kind = "dropout"
        # nan when p is computed in forward and so unknown here
        op.detail = {"p": float(p) if isinstance(p, (int, float)) else float("nan")}
    elif name == "batch_norm":
        op.kind = "bn"
    elif name in _PLUMBING:
        op.kind = "plumbing"
    return op


def _propagate(ops: list[_Op]) -> tuple[list[RFRow], int, int, list[str], str]:
    """Walk the ops in order tracking (rf, jump, map size) per op; rows for ops that change geometry.

    r_out = r_in + (k_eff - 1) * j_in and j_out = j_in * s with k_eff = dilation * (k - 1) + 1. A merge takes
    the largest rf and jump of its spatial inputs: a (N, C, 1, 1) gate multiplied in (squeeze-and-excitation,
    attention) scales channels, it does not move the map's grid. Flattened tensors remember the size of the map
    they came from so that a Linear on them can be treated as a global op; so is a conv or pool whose window
    covers its whole input and leaves a 1x1 map.
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
            size.append(_spatial(op.out_shape) or 1)
            continue
        sources = op.inputs
        if op.kind == "merge":
            spatial = [i for i in op.inputs if size[i] > 1]
            sources = spatial or op.inputs  # a broadcast 1x1 gate does not set the map's rf or jump
        rf_in = max((rf[i] for i in sources), default=1)
        jump_in = max((jump[i] for i in sources), default=1)
        if op.kind == "merge":
            size_in = max((size[i] for i in sources), default=1)
        else:
            size_in = _spatial(op.in_shape) or max((size[i] for i in op.inputs), default=1)
        size_out = _spatial(op.out_shape) or size_in
        rf_out, jump_out = rf_in, jump_in

        linear_on_map = op.kind == "linear" and _spatial(op.in_shape) is None and size_in > 1
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
        elif op.kind not in ("merge", "linear", "output") and _spatial(op.in_shape) not in (None, size_out):
            notes.append(
                f"{op.name} ({op.type}) changes the map size {size_in} -> {size_out}; "
                "its effect on the receptive field is not modelled"
            )
        if op.kind in ("conv", "pool", "global", "linear", "merge"):
            rows.append(RFRow(
                layer=_row_label(op), kernel=op.kernel, stride=op.stride, padding=op.padding,
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


# ------------------------------------------------------------------------------------------------- helpers

# Reductions that, taken over the spatial dimensions, are a global pool (x.mean((2, 3)), torch.amax ...).
_REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min", "logsumexp", "nanmean"}
_DROPOUTS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
# Shape bookkeeping: not a layer, left out of Structure.layers.
_PLUMBING = {
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "getitem", "getattr", "contiguous", "permute",
    "transpose", "to", "type", "float", "double", "half", "clone", "detach", "cpu", "cuda", "expand",
}
# Functional ops counted as the layer type a lesson criterion names ("MaxPool2d required" ...).
_FUNCTION_LAYER_TYPES = {
    "max_pool2d": "MaxPool2d",
    "max_pool2d_with_indices": "MaxPool2d",
    "avg_pool2d": "AvgPool2d",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
    "adaptive_max_pool2d": "AdaptiveMaxPool2d",
    "adaptive_max_pool2d_with_indices": "AdaptiveMaxPool2d",
    "conv2d": "Conv2d",
    "linear": "Linear",
    "dropout": "Dropout",
    "dropout2d": "Dropout2d",
    "batch_norm": "BatchNorm2d",
    "relu": "ReLU",
}


def _set_geometry(op: _Op, kind: str, kernel: int, stride: int, padding: int, dilation: int) -> None:
    op.kind, op.kernel, op.stride, op.padding, op.dilation = kind, kernel, stride, padding, dilation


def _pool(op: _Op, kernel: int, stride: int | None, padding: int, dilation: int) -> None:
    """A sliding pool, or a global one when its output is 1x1 and its window covers the whole map."""
    stride = stride or kernel  # stride None (or []) means "same as the kernel"
    size_in, size_out = _spatial(op.in_shape), _spatial(op.out_shape)
    window = dilation * (kernel - 1) + 1
    covers_map = size_in is not None and size_in > 1 and size_out == 1 and window >= size_in
    _set_geometry(op, "global" if covers_map else "pool", kernel, stride, padding, dilation)
    op.detail = {"kernel": kernel, "stride": stride, "global": covers_map}


def _adaptive_pool(op: _Op) -> None:
    size_in, size_out = _spatial(op.in_shape), _spatial(op.out_shape)
    if size_in is None or size_out is None:
        return
    if size_out == 1:
        op.kind = "global"
        return
    # Adaptive windows vary in size; the largest one bounds the receptive field.
    kernel = max(-(-(i + 1) * size_in // size_out) - (i * size_in // size_out) for i in range(size_out))
    _set_geometry(op, "pool", kernel, max(size_in // size_out, 1), 0, 1)
    op.detail = {"kernel": kernel, "stride": op.stride, "global": False}


def _reduces_all_positions(dims, in_shape) -> bool:
    """True when a reduction collapses every spatial position: dims (2, 3) of a map, or all dims."""
    if in_shape is None or len(in_shape) not in (3, 4):
        return False
    if dims is None:
        return True
    dims = [dims] if isinstance(dims, int) else list(dims)
    if not all(isinstance(d, int) for d in dims):
        return False
    spatial = {2, 3} if len(in_shape) == 4 else {2}  # 3-D: a map flattened to (N, C, H*W)
    return spatial <= {d % len(in_shape) for d in dims} and in_shape[2] > 1


def _batchnorm_follows(conv: int, ops: list[_Op], users: list[list[int]]) -> bool:
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


def _users(ops: list[_Op]) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in ops]
    for i, op in enumerate(ops):
        for j in op.inputs:
            users[j].append(i)
    return users


def _unique_trainable(parameters, seen: set):
    """Yield trainable parameters not yet in `seen` (by object and by storage, for weights tied via .data)."""
    for p in parameters:
        if not p.requires_grad or isinstance(p, nn.parameter.UninitializedParameter):
            continue
        keys = {("id", id(p)), ("storage", p.data_ptr(), tuple(p.shape))} if p.numel() else {("id", id(p))}
        if keys & seen:
            continue
        seen |= keys
        yield p


def _row_label(op: _Op) -> str:
    if op.kind == "merge":
        return f"{op.name} (merge)"
    return f"{op.name} ({'F' if op.functional else op.type})"


def _arg(node, position: int, keyword: str, default):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(keyword, default)


def _first(value):
    """The H component of an int-or-pair argument; None unless a plain number."""
    if isinstance(value, (tuple, list, torch.Size)):
        if not value:
            return None
        value = value[0]
    return value if isinstance(value, int) or value is None else None


def _square(value):
    """An int for square pairs, the pair (as a list) otherwise."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return value[0] if value[0] == value[1] else list(value)


def _padding(padding, kernel: int, dilation: int) -> int:
    if padding == "same":
        return dilation * (kernel - 1) // 2
    if padding == "valid":
        return 0
    return _first(padding) or 0


def _spatial(shape) -> int | None:
    """Height of a (N, C, H, W) map; None for anything that is not a map."""
    return shape[2] if shape is not None and len(shape) == 4 else None


def _shape(node) -> tuple | None:
    """Shape of an fx node's tensor (the first one, for tuple results) as recorded by ShapeProp."""
    meta = node.meta.get("tensor_meta")
    while isinstance(meta, (tuple, list)) and not hasattr(meta, "shape"):
        meta = meta[0] if meta else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _tensor_shape(value) -> tuple | None:
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _reason(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
