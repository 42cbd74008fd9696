"""The exported training program as a torch module the grader owns: parameters and buffers under the program's own
names, a forward that runs the graph's ATen operations one by one (grader.interpret), and BatchNorm's
running statistics updated as the program's mutations say. The grader's loop (grader.trainer.train) trains it
like any module: no code of the submission runs, and nothing of torch is patched.
"""

from __future__ import annotations

import torch

from grader import program
from grader.interpret import Program
from grader.trainer import speed


class ProgramModule(torch.nn.Module):
    """`forward(x)` is the submission's training forward, computed from its exported program."""

    def __init__(self, graph: program.Graph, constants: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                 fast_dropout: bool = False, tally: speed.DropoutTally | None = None):
        super().__init__()
        if graph.mode != "train":
            raise program.ProgramError("the trainer runs training-mode programs only")
        self.graph = graph
        for spec in graph.inputs:
            if spec.kind == "parameter":
                self.register_parameter(spec.name, torch.nn.Parameter(state[spec.name].clone()))
            elif spec.kind == "buffer":
                self.register_buffer(spec.name, state[spec.name].clone())
            elif spec.kind == "constant":  # moves with the module; never trained, never written back
                self.register_buffer(spec.name, constants[spec.name].clone(), persistent=False)
        overrides = {program.DROPOUT_OP: self._dropout} if fast_dropout else {}
        # sized before it trains, as the evaluator sizes it: a program that asks for absurd work never runs a step
        self.program = Program(graph, {}, torch.device("cpu"), overrides=overrides, held_kinds=())
        self.tally = tally
        self._mask_used = _dropout_masks_used(graph)

    def named_by_target(self) -> dict[str, torch.nn.Parameter]:
        """The parameters under the submission's own names (features.0.0.weight), as make_optimizer saw them."""
        return {spec.target: getattr(self, spec.name) for spec in self.graph.inputs
                if spec.kind == "parameter" and spec.target is not None}  # a parameter always has its name

    def state_for_graph(self) -> list[tuple[str, torch.Tensor]]:
        """(graph input name, tensor) of every parameter and buffer: what a state file holds."""
        return [(spec.name, getattr(self, spec.name)) for spec in self.graph.inputs
                if spec.kind in ("parameter", "buffer")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.program.device = x.device  # tensors the program makes live where it computes
        out, env = self.program.run_with_env(self.inputs_for_step(), x)
        self.keep_statistics([env[m.value["node"]] for m in self.graph.mutations])
        return out

    def inputs_for_step(self) -> dict[str, torch.Tensor]:
        """The program's parameters, buffers and constants by graph name, for one step."""
        held = {spec.name: getattr(self, spec.name) for spec in self.graph.inputs if spec.kind != "input"}
        # Autograd keeps what BatchNorm read for the backward pass: the buffers it updates are handed over as copies
        # (a few hundred numbers), so writing the new statistics in place cannot spoil the gradients.
        return {**held, **{m.buffer: held[m.buffer].clone() for m in self.graph.mutations}}

    def keep_statistics(self, new: list[torch.Tensor]) -> None:
        """Write the step's new BatchNorm statistics (one per mutation, in order) into the buffers, in training."""
        if self.training:  # the probe of a memory format runs in eval mode and must change nothing
            with torch.no_grad():
                for m, value in zip(self.graph.mutations, new, strict=True):
                    getattr(self, m.buffer).copy_(value)

    def _dropout(self, input: torch.Tensor, p: float, train: bool | None):
        """aten.native_dropout with the cheaper mask draw (grader.trainer.speed.keep_mask) where it applies."""
        why = speed.not_drawn_because(input, p, bool(train), feature=False)
        if self.tally is not None and why != "":
            self.tally.count(why)
        if why is not None:
            return torch.ops.aten.native_dropout.default(input, p, train)
        if not self._mask_used:  # nothing reads the mask: the maskless draw
            return speed.drop(input, p), None
        mask = speed.mask_like(input, p)
        return input * mask, mask != 0


def _dropout_masks_used(graph: program.Graph) -> bool:
    """Whether anything reads a dropout's mask (output 1): only then is it worth computing."""
    drops = {n.name for n in graph.nodes if n.target == program.DROPOUT_OP}
    return any(n.target == "getitem" and n.args[1:2] == [1] and isinstance(n.args[0], dict)
               and n.args[0].get("node") in drops for n in graph.nodes)
