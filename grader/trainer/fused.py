"""The training program as one torch.fx graph, written by the grader from the program's checked nodes, for
torch.compile (`course grade --compile`): inductor fuses each block's elementwise tail (BatchNorm, ReLU, the
dropout multiply) into one pass over memory.

Why dropout masks come from outside on a CPU: inductor draws random numbers inside its CPU kernels far more slowly
than grader.trainer.speed.keep_mask draws the same Bernoulli masks (benchmarks/profile_step.py showed its fused
BatchNorm-dropout kernels taking most of a step), so each native_dropout becomes a multiplication by a mask drawn
before the step and passed in. On a GPU the program's own dropout stays in the graph: inductor's draw is fast there.

No code of the submission is involved: every call is an allow-listed ATen operation (grader.interpret.resolve_op),
every argument a plain value or an earlier result, and the fx names are the grader's own (in0, mask0, ...).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from grader import program
from grader.interpret import Program, resolve_op, value_of
from grader.trainer import speed

if TYPE_CHECKING:
    from grader.trainer.program_module import ProgramModule


@dataclass(frozen=True)
class MaskSite:
    """A native_dropout the step draws its mask for: the node and its drop probability."""

    node: str
    p: float


def _drawn_outside(node: program.GraphNode) -> float | None:
    """The drop probability of a dropout whose mask keep_mask can draw (a constant p strictly between 0 and 1,
    in training), else None: such a call stays in the graph as torch's own op."""
    p, train = (node.args + [None, None])[1:3]
    if isinstance(p, dict) and "node" in p:  # computed while the program runs: not known to the caller
        return None
    p = value_of(p, {}, None)
    if isinstance(p, (int, float)) and speed.random_rate(p) and train is not False:
        return float(p)
    return None


def build(graph: program.Graph, device: torch.device, masks_outside: bool) -> tuple[torch.fx.GraphModule,
                                                                                   list[MaskSite]]:
    """The graph as an fx GraphModule taking (every graph input in order, then one mask per site) and returning
    (output, new value of each mutated buffer), and the sites whose masks the caller draws."""
    fx = torch.fx.Graph()
    env: dict[str, object] = {spec.name: fx.placeholder(f"in{i}") for i, spec in enumerate(graph.inputs)}
    sites = [MaskSite(node.name, p) for node in graph.nodes
             if masks_outside and node.target == program.DROPOUT_OP and (p := _drawn_outside(node)) is not None]
    masks = {site.node: fx.placeholder(f"mask{i}") for i, site in enumerate(sites)}
    aten = torch.ops.aten
    for node in graph.nodes:
        args = [value_of(a, env, device) for a in node.args]
        kwargs = {k: value_of(v, env, device) for k, v in node.kwargs.items()}
        if node.name in masks:  # (output, keep-mask) as torch's native_dropout returns them
            mask = masks[node.name]
            env[node.name] = (fx.call_function(aten.mul.Tensor, (args[0], mask)),
                              fx.call_function(aten.ne.Scalar, (mask, 0)))
        elif node.target == "getitem" and isinstance(args[0], tuple):
            env[node.name] = args[0][args[1]]
        else:
            op = operator.getitem if node.target == "getitem" else resolve_op(node.target, training=True)
            env[node.name] = fx.call_function(op, tuple(args), kwargs)
    results = [value_of(graph.output, env, device)] + [value_of(m.value, env, device) for m in graph.mutations]
    fx.output(tuple(results))
    return torch.fx.GraphModule(torch.nn.Module(), fx), sites


class FusedForward:
    """A ProgramModule's training forward through torch.compile of its fx graph; masks drawn by keep_mask."""

    def __init__(self, module: ProgramModule, mode: str | None, device: torch.device):
        self.module = module
        gm, self.sites = build(module.graph, device, masks_outside=device.type == "cpu")
        # Static shapes: kernels for the fixed batch size ran a fifth faster than symbolic ones. Only the first batch
        # shape is compiled; an epoch's smaller last batch (one step of hundreds) runs eagerly, where compiling it
        # cost 13.5 s cold (benchmarks/bench_fused_step.py)
        self.fn = torch.compile(gm, mode=mode, dynamic=False)
        self.compiled_shape: tuple[int, ...] | None = None
        self._sizer = Program(module.graph, {}, torch.device("meta"), held_kinds=(), size=False,
                              overrides={program.DROPOUT_OP: self._record_shape})
        self._shapes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}  # image shape -> each site's mask shape
        self._dropouts = [node.name for node in module.graph.nodes if node.target == program.DROPOUT_OP]
        self._recorded: list[tuple[int, ...]] = []  # each dropout's input shape, in the order the program runs them

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        module = self.module
        if self.compiled_shape is None:
            self.compiled_shape = tuple(x.shape)
        elif tuple(x.shape) != self.compiled_shape:
            return module(x)  # the program's own eager forward: the same draws, the same statistics update
        inputs = module.inputs_for_step()
        rng = torch.get_rng_state()  # put back if the compiled step fails: the eager retry draws the same masks
        masks = []
        for site, shape in zip(self.sites, self._mask_shapes(inputs, x)):
            masks.append(speed.keep_mask(shape, site.p, x.dtype, x.device))
        try:
            out, *new = self.fn(*[inputs[spec.name] if spec.kind != "input" else x for spec in module.graph.inputs],
                                *masks)
        except Exception:
            torch.set_rng_state(rng)
            raise
        for _ in self.sites:  # counted once the step went through (a failed one is retried eagerly, and counted there)
            if module.tally is not None:
                module.tally.count(None)
        module.keep_statistics(new)
        return out

    def _mask_shapes(self, inputs: dict[str, torch.Tensor], x: torch.Tensor) -> list[tuple[int, ...]]:
        """Each site's input shape for this image shape, from one run of the program on the meta device."""
        key = tuple(x.shape)
        if key not in self._shapes:
            meta = {name: torch.empty_like(t, device="meta") for name, t in inputs.items()}
            self._recorded = []
            self._sizer.run_with_env(meta, torch.empty_like(x, device="meta"))
            shapes = dict(zip(self._dropouts, self._recorded))
            self._shapes[key] = [shapes[site.node] for site in self.sites]
        return self._shapes[key]

    def _record_shape(self, input: torch.Tensor, p: float, train: bool | None):
        self._recorded.append(tuple(input.shape))
        return torch.ops.aten.native_dropout.default(input, p, train)
