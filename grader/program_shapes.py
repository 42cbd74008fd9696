"""The shape of every value of an exported program, inferred from its operations alone (no torch, nothing run).

The graph file holds the shapes of its inputs only; the parent needs the map sizes in between to draw the
receptive-field table. Each known operation has a rule; an operation without one is taken as elementwise (the
shape of its first tensor argument), which is what the activations a model may use are. A value is a shape
(a tuple), a tuple of shapes for an operation with several outputs, an int for `sym_size`, or None when unknown.
"""

from __future__ import annotations

import math

from grader.program import Graph, GraphNode

# Several outputs, each of the input's shape (output, mask) or led by it (BatchNorm's output, then statistics).
_SAME_FIRST = {"native_dropout", "_native_batch_norm_legit_functional", "_native_batch_norm_legit_no_training",
               "_native_batch_norm_legit", "native_batch_norm", "native_layer_norm", "native_group_norm"}
# Elementwise over every tensor argument, broadcast (torch's rules).
_BROADCAST = {"add", "sub", "mul", "div", "where", "maximum", "minimum", "pow", "eq", "ne", "gt", "ge", "lt", "le",
              "logical_and", "logical_or", "rsub", "fmod", "remainder", "atan2", "copysign", "bitwise_and"}
_REDUCE = {"mean", "sum", "amax", "amin", "logsumexp", "max", "min", "nanmean"}


def infer(graph: Graph) -> dict[str, object]:
    """{value name: shape} for every input and operation of `graph`."""
    values: dict[str, object] = {i.name: tuple(i.shape) for i in graph.inputs}
    for node in graph.nodes:
        try:
            values[node.name] = _infer(node, values)
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
            values[node.name] = None  # a rule that does not fit: unknown, never a guess
    return values


def base(target: str) -> str:
    """The operation's name without namespace and overload: aten.max_pool2d_with_indices.default -> max_pool2d_..."""
    parts = target.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "aten" else parts[-1]


def overload(target: str) -> str:
    return target.rsplit(".", 1)[-1] if target.count(".") >= 2 else ""


def arg(node: GraphNode, position: int, keyword: str, default=None):
    """An argument by position, else by keyword, else its schema default (the export leaves defaults out)."""
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(keyword, default)


def plain(node: GraphNode, position: int, keyword: str, default=None):
    """An argument that is a plain number or list of numbers, decoded."""
    return value(arg(node, position, keyword, default), {})


def value(encoded, values: dict):
    """A decoded argument: a graph value's shape (or int), a list, or a plain number."""
    if isinstance(encoded, dict):
        if "node" in encoded:
            return values.get(encoded["node"])
        if "list" in encoded:
            return [value(v, values) for v in encoded["list"]]
        return None
    return encoded


def _infer(node: GraphNode, values: dict):
    name = base(node.target)
    args = [value(a, values) for a in node.args]
    x = args[0] if args else None
    if node.target == "getitem":
        return x[args[1]] if isinstance(x, tuple) and x and isinstance(x[0], tuple) else None
    if name == "sym_size":
        return x[args[1]] if isinstance(x, tuple) else None
    if name == "convolution":
        return _convolution(node, args)
    if name in ("max_pool2d_with_indices", "avg_pool2d"):
        out = _pool(node, args)
        return (out, out) if name == "max_pool2d_with_indices" else out
    if name in ("_adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d"):
        size = _pair(args[1])
        return (*x[:-2], *size)
    if name in _SAME_FIRST:
        return (x, x) if name == "native_dropout" else (x, None, None, None, None)
    if name in _REDUCE:
        return _reduce(node, name, x, values)
    if name in ("view", "_unsafe_view", "reshape"):
        return _reshape(x, args[1])
    if name == "permute":
        return tuple(x[d] for d in args[1])
    if name in ("t", "transpose"):
        dims = (0, 1) if name == "t" else (args[1], args[2])
        out = list(x)
        a, b = (d % len(x) for d in dims)
        out[a], out[b] = out[b], out[a]
        return tuple(out)
    if name in ("addmm", "mm", "bmm"):
        a, b = (args[1], args[2]) if name == "addmm" else (args[0], args[1])
        return (*a[:-1], b[-1])
    if name == "cat":
        return _cat(args[0], plain(node, 1, "dim", 0))
    if name == "select":
        dim = args[1] % len(x)
        return x[:dim] + x[dim + 1 :]
    if name == "slice":
        return _slice(x, *(plain(node, i, k, d) for i, k, d in ((1, "dim", 0), (2, "start", None), (3, "end", None),
                                                                 (4, "step", 1))))
    if name == "unsqueeze":
        dim = args[1] % (len(x) + 1)
        return x[:dim] + (1,) + x[dim:]
    if name == "squeeze":
        dims = plain(node, 1, "dim", None)
        dims = range(len(x)) if dims is None else [dims] if isinstance(dims, int) else dims
        drop = {d % len(x) for d in dims}
        return tuple(s for i, s in enumerate(x) if not (i in drop and s == 1))
    if name == "expand":
        sizes = args[1]
        lead = len(sizes) - len(x)
        return tuple(x[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    if name == "constant_pad_nd":
        pads, out = args[1], list(x)
        for i in range(len(pads) // 2):
            out[-1 - i] += pads[2 * i] + pads[2 * i + 1]
        return tuple(out)
    if name in _BROADCAST:
        return _broadcast([a for a in args if isinstance(a, tuple)])
    return x if isinstance(x, tuple) and all(isinstance(s, int) for s in x) else None  # elementwise


def _pair(v) -> tuple[int, int]:
    v = list(v) if isinstance(v, list) else [v]
    return (v[0], v[-1])


def _window(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil: bool) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = -(-span // stride) + 1 if ceil else span // stride + 1
    if ceil and (out - 1) * stride >= size + padding:  # torch: the last window must start inside the map
        out -= 1
    return out


def _convolution(node: GraphNode, args) -> tuple:
    x, w = args[0], args[1]
    stride, padding, dilation = (_pair(plain(node, i, k, d)) for i, k, d in
                                 ((3, "stride", 1), (4, "padding", 0), (5, "dilation", 1)))
    transposed, groups = bool(plain(node, 6, "transposed", False)), plain(node, 8, "groups", 1)
    kernel = w[2:]
    if transposed:
        extra = _pair(plain(node, 7, "output_padding", 0))
        size = tuple((s - 1) * st - 2 * p + d * (k - 1) + e + 1
                     for s, k, st, p, d, e in zip(x[2:], kernel, stride, padding, dilation, extra))
        return (x[0], w[1] * groups, *size)
    size = tuple(_window(s, k, st, p, d, False) for s, k, st, p, d in zip(x[2:], kernel, stride, padding, dilation))
    return (x[0], w[0], *size)


def _pool(node: GraphNode, args) -> tuple:
    x = args[0]
    kernel = _pair(args[1])
    stride = plain(node, 2, "stride", [])
    stride = _pair(stride) if stride not in ([], None) else kernel
    padding = _pair(plain(node, 3, "padding", 0))
    is_max = base(node.target) == "max_pool2d_with_indices"
    dilation = _pair(plain(node, 4, "dilation", 1)) if is_max else (1, 1)
    ceil = bool(plain(node, 5 if is_max else 4, "ceil_mode", False))
    size = tuple(_window(s, k, st, p, d, ceil) for s, k, st, p, d in zip(x[-2:], kernel, stride, padding, dilation))
    return (*x[:-2], *size)


def _reduce(node: GraphNode, name: str, x, values: dict):
    over = overload(node.target)
    whole = over == "default" and name not in ("amax", "amin", "logsumexp")  # x.mean(), x.sum(): every dim
    dims = None if whole else value(arg(node, 1, "dim", None), values)
    keep = False if whole else bool(plain(node, 2, "keepdim", False))
    dims = range(len(x)) if dims in (None, []) else [dims] if isinstance(dims, int) else dims
    drop = {d % len(x) for d in dims}
    out = tuple(1 if i in drop else s for i, s in enumerate(x)) if keep else \
        tuple(s for i, s in enumerate(x) if i not in drop)
    return (out, out) if name in ("max", "min") and over == "dim" else out


def _reshape(x, sizes) -> tuple:
    sizes = list(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes[sizes.index(-1)] = math.prod(x) // known
    return tuple(sizes)


def _cat(shapes, dim: int) -> tuple:
    shapes = [s for s in shapes if isinstance(s, tuple) and s != (0,)]
    dim %= len(shapes[0])
    out = list(shapes[0])
    out[dim] = sum(s[dim] for s in shapes)
    return tuple(out)


def _slice(x, dim, start, end, step) -> tuple:
    dim %= len(x)
    length = len(range(*slice(start, end, step).indices(x[dim])))
    return x[:dim] + (length,) + x[dim + 1 :]


def _broadcast(shapes: list[tuple]):
    if not shapes:
        return None
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + s for s in shapes]
    return tuple(max(dims) if min(dims) != 0 else 0 for dims in zip(*padded))
