"""How the export lowers stock layers whose ATen operations fall outside the core opset the trusted side runs.

torch.export keeps composite operations (instance_norm, feature_dropout, pad) until `run_decompositions`; torch's
own table then lowers most to core ATen, but a few stock layers end outside it or in a form autograd cannot train.
Each entry below rewrites one of them as core operations that compute the same forward, so nothing on the trusted
side (grader.program, the trainer, the evaluator) needs to know more operations:

- nn.AdaptiveMaxPool1d/2d/3d: when the input size is a multiple of the output size (global pooling included) it is
  exactly a max pool with kernel = stride = input / output, and its indices mean the same; any other size stays
  refused, with advice (grader.worker.export).
- nn.InstanceNorm1d/2d/3d without running statistics: a group norm with one group per channel (the same mean and
  biased variance per image and channel). With track_running_stats it keeps statistics only BatchNorm may keep.
- nn.Dropout1d/2d/3d (feature dropout) cannot be caught before torch expands it (its composite may alias its
  input, so export always decomposes it) into a bernoulli draw on an empty (N, C, 1 ...) tensor divided by the keep
  probability; `rewrite_feature_dropout` turns that exact pattern into native_dropout applied to ones of that shape,
  the same draw, so the derived program turns it off as it does nn.Dropout's (train=False: the identity).
- circular padding (nn.CircularPad2d, Conv2d(padding_mode="circular")): slices concatenated, instead of torch's
  copies into an empty tensor, which autograd cannot differentiate.
"""

from __future__ import annotations

import operator

import torch

aten = torch.ops.aten


def _exact_pool_kernel(input: torch.Tensor, output_size) -> list[int] | None:
    """kernel = stride per spatial dim when every input size is a whole multiple of its output size, else None."""
    spatial = list(input.shape[-len(output_size):])
    kernel = []
    for size, out in zip(spatial, output_size):
        out = size if out is None else out
        if not (isinstance(size, int) and isinstance(out, int)) or out <= 0 or size % out:
            return None
        kernel.append(size // out)
    return kernel


def adaptive_max_pool2d(input: torch.Tensor, output_size):
    kernel = _exact_pool_kernel(input, output_size)
    if kernel is None:
        return NotImplemented  # stays adaptive_max_pool2d: refused with advice at export
    return aten.max_pool2d_with_indices.default(input, kernel, kernel)


def adaptive_max_pool3d(input: torch.Tensor, output_size):
    kernel = _exact_pool_kernel(input, output_size)
    if kernel is None:
        return NotImplemented
    return aten.max_pool3d_with_indices.default(input, kernel, kernel)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled):
    if running_mean is not None or running_var is not None or not use_input_stats:
        return NotImplemented  # running statistics: refused with advice at export
    return aten.group_norm.default(input, input.shape[1], weight, bias, eps)


def pad_circular(input: torch.Tensor, pad):
    """Wrap each padded dimension around: the last `before` items, the tensor, then its first `after` items."""
    pad = list(pad)
    for i in range(len(pad) // 2):
        before, after = pad[2 * i], pad[2 * i + 1]
        dim = input.dim() - 1 - i
        size = input.shape[dim]
        if not (isinstance(size, int) and 0 <= before <= size and 0 <= after <= size):
            return NotImplemented  # cropping pads: torch's own lowering
        parts = [aten.slice.Tensor(input, dim, size - before, size)] if before else []
        parts.append(input)
        if after:
            parts.append(aten.slice.Tensor(input, dim, 0, after))
        input = aten.cat.default(parts, dim) if len(parts) > 1 else input
    return aten.clone.default(input) if not any(pad) else input


def assert_metadata(*args, **kwargs) -> None:
    """x.double(), x.to(dtype): export checks the dtype it traced with; the program declares every dtype anyway."""
    return None


LOWERINGS = {
    aten._assert_tensor_metadata.default: assert_metadata,
    aten.adaptive_max_pool2d.default: adaptive_max_pool2d,
    aten.adaptive_max_pool3d.default: adaptive_max_pool3d,
    aten.instance_norm.default: instance_norm,
    aten._pad_circular.default: pad_circular,
}


def decomposition_table() -> dict:
    """torch.export's default (core ATen) decompositions with the grader's lowerings in front."""
    table = torch.export.default_decompositions()
    for op, fn in LOWERINGS.items():
        table[op] = fn
    return table


def rewrite_feature_dropout(graph: torch.fx.Graph) -> None:
    """empty(shape) -> bernoulli.p(keep) -> div.Scalar(keep), as torch lowers feature dropout, becomes
    native_dropout(full(shape, 1.0), 1 - keep, train=True)[0]: a mask of 0 and 1/keep drawn per image and channel."""
    for bern in list(graph.nodes):
        if bern.op != "call_function" or bern.target is not aten.bernoulli.p:
            continue
        empty, keep = (bern.args + (0.5,))[:2]
        users = list(bern.users)
        if not (isinstance(keep, float) and 0.0 < keep <= 1.0 and not bern.kwargs
                and getattr(empty, "target", None) is aten.empty.memory_format and len(empty.users) == 1
                and len(users) == 1 and users[0].target is aten.div.Scalar and users[0].args == (bern, keep)):
            continue  # any other draw stays bernoulli.p, which export refuses
        scale = users[0]
        options = {k: v for k, v in empty.kwargs.items() if k in ("dtype", "device")}
        with graph.inserting_before(scale):
            ones = graph.call_function(aten.full.default, (empty.args[0], 1.0), options)
            drop = graph.call_function(aten.native_dropout.default, (ones, round(1.0 - keep, 12), True))
            mask = graph.call_function(operator.getitem, (drop, 0))
        for node in (ones, drop, mask):
            node.meta.update({k: v for k, v in bern.meta.items() if k in ("nn_module_stack", "stack_trace")})
        scale.replace_all_uses_with(mask)
        for node in (scale, bern, empty):
            graph.erase_node(node)
