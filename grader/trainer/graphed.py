"""The training step recorded once as a CUDA graph and replayed every step (LoopOptions.cuda_graph, on a GPU).

Why: a tiny network on a fast GPU waits on the host. In eager mode a step launches a few hundred kernels of a
few microseconds each, and launching them takes longer than running them (an H100 spent about 5.5 ms a step on
the lesson-6 solution, benchmarks/results/gpu-first-gradings-h100-2026-11-27.json). Here the epoch's batches are
augmented in one go when the epoch starts, and the step (select the batch, forward, loss, backward, the SGD update,
the running sums) is recorded once and replayed with one launch. Between replays the host does only what must
change: the scheduler's step, and the learning rate and momentum it set, written into device scalars the graph reads.

What it computes is the eager loop's (grader.trainer.train.train_epoch) up to float rounding: the same shuffle, the
same augmentation distribution (drawn per epoch instead of per batch), torch.optim.SGD's update written in foreach
ops. What it cannot replay faithfully trains eagerly, and `unsupported` or the capture's error says why.
"""

from __future__ import annotations

from typing import Any

import torch

from grader.errors import SubmissionError
from grader.trainer.augment import Augmenter
from grader.trainer.step import EpochTally, loss_and_backward

AUGMENT_CHUNK = 8192  # images augmented per call when an epoch starts: bounds the sampling grid to ~50 MB
WARMUP_STEPS = 2  # eager steps per batch size before recording: cuDNN and autograd set themselves up outside it


def unsupported(optimizer: torch.optim.Optimizer) -> str | None:
    """Why this optimizer's step cannot be replayed, or None when it can."""
    if type(optimizer) is not torch.optim.SGD:
        return f"the replayed step implements torch.optim.SGD only, and this run uses {type(optimizer).__name__}"
    for group in optimizer.param_groups:
        if group.get("maximize") or group.get("differentiable"):
            return "SGD with maximize or differentiable is not replayed"
        if group.get("momentum", 0) and group.get("dampening", 0):
            return "SGD with dampening is not replayed"  # torch's first step skips dampening; zeroed buffers can't
    return None


class _Group:
    """One param group's constants, and the device scalars its scheduled values are written into."""

    def __init__(self, group: dict[str, Any], device):
        self.source = group
        self.params = [p for p in group["params"] if p.requires_grad]
        self.lr = torch.zeros((), device=device)
        self.momentum = torch.zeros((), device=device)
        self.uses_momentum = bool(group["momentum"])
        self.nesterov = bool(group["nesterov"])
        self.weight_decay = float(group["weight_decay"])
        # Allocated now, outside any recording: a buffer created while recording would be re-zeroed every replay.
        # Zeros give torch's first momentum step exactly (buf = 0 * m + g = g) when there is no dampening.
        self.bufs = {p: torch.zeros_like(p) for p in self.params} if self.uses_momentum else {}

    def refresh(self) -> None:
        group = self.source
        if (bool(group["momentum"]) != self.uses_momentum or bool(group["nesterov"]) != self.nesterov
                or float(group["weight_decay"]) != self.weight_decay):
            raise SubmissionError("the scheduler changed SGD's momentum on/off, nesterov or weight_decay during "
                                  "training, which the replayed step fixes when it is recorded; grade with "
                                  "--no-cuda-graph")
        self.lr.fill_(group["lr"])  # a launch with the value as its argument: no copy, no host sync
        if self.uses_momentum:
            self.momentum.fill_(group["momentum"])


class ReplayableSGD:
    """torch.optim.SGD's update (weight decay, momentum, Nesterov) in foreach ops reading lr and momentum from the
    device, so a recorded step follows whatever the scheduler sets; `refresh` copies them from the param groups."""

    def __init__(self, optimizer: torch.optim.Optimizer, device):
        reason = unsupported(optimizer)  # an SGD, or the reason it cannot be replayed
        if reason:
            raise ValueError(reason)
        self.groups = [_Group(g, device) for g in optimizer.param_groups]

    def refresh(self) -> None:
        for group in self.groups:
            group.refresh()

    def state_tensors(self) -> list[torch.Tensor]:
        return [b for g in self.groups for b in g.bufs.values()]

    @torch.no_grad()
    def step(self) -> None:
        for g in self.groups:
            params = [p for p in g.params if p.grad is not None]  # as torch: a parameter without a grad is skipped
            if not params:
                continue
            grads: list[torch.Tensor] = [p.grad for p in params if p.grad is not None]
            if g.weight_decay:
                grads = list(torch._foreach_add(grads, params, alpha=g.weight_decay))
            if g.uses_momentum:
                bufs = [g.bufs[p] for p in params]
                torch._foreach_mul_(bufs, g.momentum)
                torch._foreach_add_(bufs, grads)
                grads = list(torch._foreach_add(grads, torch._foreach_mul(bufs, g.momentum))) if g.nesterov else bufs
            torch._foreach_sub_(params, torch._foreach_mul(grads, g.lr))


class Replay:
    """The step of one training run, recorded per batch size (a full batch, and the epoch's last if smaller).

    record=False runs the same step eagerly instead of replaying it: how the CPU tests check its arithmetic.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, n: int, sizes: list[int],
                 device: torch.device, memory_format: torch.memory_format, record: bool = True):
        """`sizes`: the epoch's batch sizes in order (train.batch_sizes), over n images."""
        self.model, self.optimizer, self.memory_format = model, optimizer, memory_format
        self.sgd = ReplayableSGD(optimizer, device)
        self.sizes = sizes
        self.images = torch.zeros((n, 1, 28, 28), device=device)  # the epoch's batches: augmented, normalised
        self.labels = torch.zeros(n, dtype=torch.long, device=device)
        self.offsets = {size: torch.arange(size, device=device) for size in set(self.sizes)}
        self.position = torch.zeros((), dtype=torch.long, device=device)  # first row of the next batch
        self.step_no = torch.zeros((), dtype=torch.long, device=device)
        self.tally = EpochTally(device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._grads: list[list] = []  # each recording's gradient tensors, which its replays write
        if record:
            self._record(device)

    def _step(self, size: int) -> None:
        """One optimizer step on the next batch, with no host read: what is recorded."""
        idx = self.position + self.offsets[size]
        x = self.images.index_select(0, idx).contiguous(memory_format=self.memory_format)
        y = self.labels.index_select(0, idx)
        out, loss = loss_and_backward(self.model, x, y)
        self.sgd.step()
        self.step_no += 1
        self.tally.add(self.step_no, loss, out, y)
        self.position += size

    def _state(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers(), *self.sgd.state_tensors()]

    def _record(self, device) -> None:
        saved = [t.detach().clone() for t in self._state()]
        attributes = _python_attributes(self.model)
        self.model.train()
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        try:
            with torch.cuda.stream(side):  # as torch.cuda.graphs' docs ask: warm up on a side stream
                for size in sorted(set(self.sizes), reverse=True):
                    for _ in range(WARMUP_STEPS):
                        self.position.zero_()
                        self.optimizer.zero_grad(set_to_none=True)
                        self.sgd.refresh()
                        self._step(size)
        finally:
            torch.cuda.current_stream(device).wait_stream(side)
            with torch.no_grad():  # the warm-up steps trained: put every weight, statistic and buffer back
                for tensor, value in zip(self._state(), saved):
                    tensor.copy_(value)
        if _python_attributes(self.model) != attributes:
            raise RuntimeError("forward() changes the model's own Python attributes (a counter, say), which a "
                               "recorded step would freeze")
        for size in sorted(set(self.sizes), reverse=True):
            self.optimizer.zero_grad(set_to_none=True)  # backward while recording allocates the grads it reuses
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._step(size)
            self.graphs[size] = graph
            self._grads.append([p.grad for p in self.model.parameters()])
        torch.cuda.synchronize(device)

    def start_epoch(self, images: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, augment: Augmenter,
                    generator: torch.Generator) -> None:
        """Lay the epoch's images out in batch order, each augmented (its own draw) and normalised."""
        for start in range(0, len(order), AUGMENT_CHUNK):
            idx = order[start:start + AUGMENT_CHUNK]
            self.images[start:start + len(idx)] = augment.inputs(images[idx], generator)
        self.labels[: len(order)] = labels[order]
        self.position.zero_()
        self.step_no.zero_()
        self.tally.reset()

    def step(self, index: int) -> int:
        """Take the epoch's step `index` (0-based); returns its batch size."""
        size = self.sizes[index]
        self.sgd.refresh()
        graph = self.graphs.get(size)
        if graph is not None:
            graph.replay()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self._step(size)
        return size


def _python_attributes(model: torch.nn.Module) -> list:
    """Every module's plain-valued attributes: a forward that changes one cannot be replayed."""
    plain = (int, float, bool, str, type(None))
    return [sorted((k, repr(v)) for k, v in vars(m).items() if isinstance(v, plain)) for m in model.modules()]
