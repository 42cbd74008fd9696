"""Measure a live model exactly, without training: parameters, receptive field, layer structure, torchsummary.

`course check` reads the receptive field and structure off the exported program in the parent
(grader.program_analysis), since what the worker measures is the submission's claim; the worker keeps
torchsummary's table (display only). `receptive_field` and `structure` here are the reference that analysis is
tested against: the same reports, from torch.fx (or hooks) on the live model.

Every measurement runs a forward pass on a CPU deep copy in eval mode, so measuring never changes the
student's model (BatchNorm running statistics, device) nor the global RNG state that training relies on.

How it works: `_trace` turns the forward pass into a flat list of `Op`s (one per tensor-producing step,
each naming the earlier ops it reads), from the torch.fx graph when the model can be traced and from
forward hooks on leaf modules otherwise. grader.program_analysis's `propagate` walks that list once and computes
the receptive field of every op, and its `summarise` the structure facts: the same code as for a program.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from grader.errors import SubmissionError
from grader.program_analysis import (
    DROPOUTS,
    PLUMBING,
    REDUCTIONS,
    LayerInfo,
    Op,
    RFReport,
    RFRow,
    Structure,
    adaptive_pool,
    first,
    pool,
    propagate,
    reduces_all_positions,
    set_geometry,
    spatial,
    square,
    summarise,
)

__all__ = [
    "LayerInfo",
    "RFReport",
    "RFRow",
    "Structure",
    "receptive_field",
    "structure",
    "torchsummary_table",
]


# ---------------------------------------------------------------------------------------------- public API


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

    def weigh(op: Op, seen: set) -> int:
        # Only a module's own weights: a functional call's are not known here (the program analysis counts them).
        if op.module is None:
            return 0
        return sum(p.numel() for p in _unique_trainable(cast(nn.Module, op.module).parameters(), seen))

    return summarise(_analyse(model, input_size).ops, weigh)


def torchsummary_table(model: nn.Module, input_size=(1, 28, 28)) -> tuple[str, int | None]:
    """The familiar torchsummary.summary text and the "Total params" figure it printed; never raises."""
    # torchsummary double counts reused modules, so its figure can exceed the grader's count (grader.program).
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
class _Analysis:
    ops: list[Op]
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
    rows, rf_before_global_pool, rf_final, notes, where = propagate(ops)
    return _Analysis(ops, rows, rf_before_global_pool, rf_final, method, warnings + notes, where)


def _trace(model: nn.Module, input_size) -> tuple[list[Op], str, list[str]]:
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


def _ops_from_fx(graph_module) -> list[Op]:
    modules = dict(graph_module.named_modules())
    ops: list[Op] = []
    index: dict = {}  # fx node -> index of its op
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not ops:  # extra placeholders are optional arguments left at their defaults
                index[node] = len(ops)
                ops.append(Op("input", "input", "input", [], None, _shape(node)))
            continue
        # Only values derived from the image carry geometry; parameters and x.size() results do not.
        inputs = [index[n] for n in node.all_input_nodes if n in index]
        if node.op == "output":
            ops.append(Op("output", "output", "output", inputs, None, None))
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


def _ops_from_hooks(model: nn.Module, x: torch.Tensor) -> list[Op]:
    """Leaf-module calls in execution order, chained one after another (functional ops are invisible)."""
    ops = [Op("input", "input", "input", [], None, tuple(x.shape))]

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


def _module_op(name: str, module: nn.Module, in_shape, out_shape) -> Op:
    op = Op(name, type(module).__name__, "other", [], in_shape, out_shape, module=module)
    if isinstance(module, nn.Conv2d):
        kernel, dilation = module.kernel_size[0], module.dilation[0]
        padding = _padding(module.padding, kernel, dilation)
        set_geometry(op, "conv", kernel, module.stride[0], padding, dilation)
        op.detail = {
            "in_channels": module.in_channels,
            "out_channels": module.out_channels,
            "kernel": square(module.kernel_size),
            "stride": square(module.stride),
            "padding": module.padding if isinstance(module.padding, str) else square(module.padding),
            "dilation": square(module.dilation),
            "bias": module.bias is not None,
            "groups": module.groups,
        }
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = first(getattr(module, "dilation", 1))
        pool(op, first(module.kernel_size), first(module.stride), first(module.padding), dilation)
    elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        adaptive_pool(op)
    elif isinstance(module, nn.Linear):
        op.kind = "linear"
        op.detail = {"in": module.in_features, "out": module.out_features}
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        op.kind = "bn"
    elif isinstance(module, nn.modules.dropout._DropoutNd):
        op.kind = "dropout"
        op.detail = {"p": float(module.p)}
    return op


def _function_op(node, in_shape, out_shape) -> Op:
    """Classify a call_function / call_method node (F.max_pool2d, x.mean((2, 3)), torch.flatten ...)."""
    if isinstance(node.target, str):
        name = node.target
    else:
        name = getattr(node.target, "__name__", str(node.target))
    name = name.strip("_")  # __iadd__ / add_ / _max_pool2d are the same op as far as geometry goes
    op = Op(node.name, name, "other", [], in_shape, out_shape, functional=True)

    if name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        raw_stride = _arg(node, 2, "stride", None)
        kernel, stride = first(_arg(node, 1, "kernel_size", None)), first(raw_stride)
        padding = first(_arg(node, 3, "padding", 0))
        dilation = first(_arg(node, 4, "dilation", 1)) if name.startswith("max") else 1
        stride_unknown = stride is None and raw_stride not in (None, [])
        computed_in_forward = None in (kernel, padding, dilation) or stride_unknown
        if not computed_in_forward:
            pool(op, kernel, stride, padding, dilation)
        elif spatial(out_shape) == 1 and (spatial(in_shape) or 0) > 1:  # e.g. F.avg_pool2d(x, x.size()[2:])
            op.kind = "global"
    elif name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"):
        adaptive_pool(op)
    elif name in REDUCTIONS:
        if reduces_all_positions(_arg(node, 1, "dim", None), in_shape):
            op.kind = "global"
    elif name == "conv2d":
        weight = _shape(node.args[1]) if len(node.args) > 1 and hasattr(node.args[1], "meta") else None
        stride, dilation = first(_arg(node, 3, "stride", 1)), first(_arg(node, 5, "dilation", 1))
        if weight is not None and stride is not None and dilation is not None:
            kernel = weight[2]
            padding = _padding(_arg(node, 4, "padding", 0), kernel, dilation)
            set_geometry(op, "conv", kernel, stride, padding, dilation)
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
    elif name in DROPOUTS:
        p = _arg(node, 1, "p", 0.5)
        op.kind = "dropout"
        # nan when p is computed in forward and so unknown here
        op.detail = {"p": float(p) if isinstance(p, (int, float)) else float("nan")}
    elif name == "batch_norm":
        op.kind = "bn"
    elif name in PLUMBING:
        op.kind = "plumbing"
    return op


# ------------------------------------------------------------------------------------------------- helpers

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


def _arg(node, position: int, keyword: str, default):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(keyword, default)


def _padding(padding, kernel: int, dilation: int) -> int:
    if padding == "same":
        return dilation * (kernel - 1) // 2
    if padding == "valid":
        return 0
    return first(padding) or 0


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
