"""Speed-ups for one grading on a CPU that leave what is computed the same in distribution; each is opt-out-able.

- keep_mask(): dropout masks drawn as the gaps between drops (p*n draws instead of n), or from 32 random bits an
  element where drops are common, instead of torch's per-element Bernoulli draw: a serial loop that took a
  quarter to a third of a training step on a CPU (benchmarks/profile_step.py). On by default in the grader's
  loop (LoopOptions.fast_dropout), where the trainer's ProgramModule draws the program's native_dropout with it
  (grader.trainer.program_module); `course grade --torch-dropout` turns it off.
- fast_dropout(): the same draw for a plain nn.Module, by patching torch._VF's dropout for a block: what the
  benchmarks use for "today's loop" on the submission's own module; no grading patches torch any more.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

# Masks whose drops (or keeps) are rare are drawn as gaps: the distance from one drop to the next in a sequence of
# Bernoulli(p) trials is Geometric(p), so drawing those gaps gives exactly the same drops with p*n draws instead of
# n. Measured at p = 0.07 on a 2.4M-element tensor (CPU time, 1 thread): bernoulli_ + div_ 16.6 ms, gaps 6.0 ms
# (with torch's geometric_; _successes now draws them from uniforms, cheaper still).
# Between these bounds each element compares 32 random bits with a threshold instead (about 25 % under torch).
_GAPS_BELOW = 0.25
# P(drop) = p to within 2**-33 there. torch's own CPU draw compares a 53-bit uniform double with p: both are finer
# than any grading could tell apart (20 epochs draw about 5e10 mask elements: a standard error of 1e-6 on the rate).
_THRESHOLD_BITS = 32


def _successes(n: int, q: float, device, chunk: int | None = None) -> torch.Tensor:
    """Sorted positions of the successes in n Bernoulli(q) trials, drawn as Geometric(q) gaps between them."""
    if chunk is None:  # enough gaps nearly always (6 standard deviations over the mean); more are drawn if not
        chunk = int(n * q + 6 * math.sqrt(n * q * (1 - q)) + 16)
    log_miss = math.log1p(-q)
    parts, last = [], -1.0
    while last < n:
        # A gap is floor(log(1 - U) / log(1 - q)) + 1 for U uniform on [0, 1): P(gap > k) = P(1 - U <= (1-q)^k)
        # = (1-q)^k, the Geometric(q) law. torch's geometric_ computes the same from one uniform a draw, but in a
        # serial loop; here only the uniform draw is serial and the log is one vectorised pass (1.4 ms against
        # 2.3 ms for 2.4M trials at q = 0.07, 1 thread). float64: gaps and their running sum stay exact integers
        # far past any tensor size, and the uniform's 53 bits resolve the law's tail far past any tensor size too.
        gaps = torch.empty(chunk, dtype=torch.float64, device=device).uniform_().neg_().log1p_()
        positions = gaps.div_(log_miss).floor_().add_(1).cumsum_(0).add_(last)
        parts.append(positions)
        last = float(positions[-1])
    positions = torch.cat(parts) if len(parts) > 1 else parts[0]
    return positions[: int(torch.searchsorted(positions, float(n)))].long()


def keep_mask(shape: tuple[int, ...], p: float, dtype: torch.dtype, device,
              stride: tuple[int, ...] | None = None) -> torch.Tensor:
    """A dropout mask: each element 1/(1-p) with probability 1-p and 0 otherwise, independently of the others.

    `stride`, when given, must describe a dense layout of `shape` (channels_last, say): the mask is laid out the same
    way, so that multiplying it with a tensor of that layout stays one pass over memory, as torch's own mask does.
    """
    n = math.prod(shape)
    scale = _scale(p, dtype)
    if p <= _GAPS_BELOW or p >= 1 - _GAPS_BELOW:
        drops_rare = p <= 0.5
        flat = torch.full((n,), scale if drops_rare else 0.0, dtype=dtype, device=device)
        flat.index_fill_(0, _successes(n, p if drops_rare else 1 - p, device), 0.0 if drops_rare else scale)
    else:
        # random_(-2**63, None) fills all 64 bits of each word from the default generator: two elements a word.
        words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)
        bits = words.view(torch.int32)[:n]  # uniform on [-2**31, 2**31)
        threshold = round(p * 2**_THRESHOLD_BITS) - 2**31  # P(bits < threshold) = p, to within 2**-33
        flat = (bits >= threshold).to(dtype).mul_(scale)
    # Elements are independent and identically drawn, so which memory slot holds which element does not matter.
    return flat.as_strided(shape, stride) if stride is not None else flat.view(shape)


def _scale(p: float, dtype: torch.dtype) -> float:
    """1/(1-p) as torch computes it in `dtype`, so that kept values round as torch's dropout rounds them."""
    return float(torch.ones((), dtype=dtype).div_(1 - p))


def mask_like(input: torch.Tensor, p: float) -> torch.Tensor:
    """keep_mask for `input`: its shape, dtype and device, and its dense layout (so input * mask stays one pass)."""
    return keep_mask(tuple(input.shape), p, input.dtype, input.device, dense_stride(input))


def drop(input: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout in training, with keep_mask's draw: where drops are rare, the output is the input scaled with the drops
    zeroed in place, so no mask the size of the input is ever written, read, or kept for the backward pass."""
    if p > _GAPS_BELOW:  # drops common (or keeps rare): the mask's own path
        return input * mask_like(input, p)
    return _DropAt.apply(input, p)


class _DropAt(torch.autograd.Function):
    """y = x * 1/(1-p) with the elements at the drawn drop positions set to 0; its gradient the same map of the
    incoming gradient. Against `x * mask`: the forward makes 2 passes over memory instead of 4 (fill the mask, read
    x and the mask, write y) and the backward 2 instead of 3. Only a non-finite element at a dropped position
    differs: here it becomes 0, where x * 0 would be NaN."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        # the drops index memory slots: the output gets x's dense layout, or a contiguous one
        stride = dense_stride(x) or torch.empty(x.shape, device="meta").stride()
        scale = _scale(p, x.dtype)
        positions = _successes(x.numel(), p, x.device)
        ctx.save_for_backward(positions)
        ctx.scale, ctx.stride = scale, stride
        return _scaled_with_zeros(x, scale, positions, stride)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (positions,) = ctx.saved_tensors
        return _scaled_with_zeros(grad, ctx.scale, positions, ctx.stride), None


def _scaled_with_zeros(x: torch.Tensor, scale: float, positions: torch.Tensor, stride: tuple[int, ...]):
    out = torch.empty_strided(x.shape, stride, dtype=x.dtype, device=x.device)
    torch.mul(x, scale, out=out)  # x in any layout; out keeps `stride`, so a position means the same slot both ways
    out.as_strided((out.numel(),), (1,)).index_fill_(0, positions, 0.0)
    return out


def dense_stride(input: torch.Tensor) -> tuple[int, ...] | None:
    """input's strides if it is densely laid out in a memory format other than the plain one, else None."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    if input.dim() in formats and not input.is_contiguous() and input.is_contiguous(memory_format=formats[input.dim()]):
        return input.stride()
    return None


def random_rate(p: float) -> bool:
    """Whether a drop rate makes a random mask at all: strictly between 0 and 1, to within the threshold's bits."""
    return 0.0 < p < 1.0 - 2.0**-31


def not_drawn_because(input: torch.Tensor, p: float, train: bool, feature: bool) -> str | None:
    """Why this call goes to torch's own kernel ("" when no mask is drawn now), or None when keep_mask draws it."""
    if not train or not random_rate(p) or torch.compiler.is_compiling():
        # eval mode, p at its ends (no random mask at all), or tracing by torch.compile/export, which must see the
        # op it knows: the compiled program draws its own masks when it runs
        return ""
    if input.device.type != "cpu":  # GPUs: fused there already
        return f"on {input.device.type}"
    if type(input) is not torch.Tensor or not input.is_floating_point():
        return f"a {type(input).__name__} of {input.dtype}"
    if feature and input.dim() < 2:
        return "feature dropout of a tensor under 2 dimensions"
    return None


def _feature_shape(input: torch.Tensor) -> tuple[int, ...]:
    # As ATen's feature dropout: one draw per (sample, channel), broadcast over the remaining dims.
    return tuple(input.shape[:2]) + (1,) * (input.dim() - 2)


class DropoutTally:
    """What the dropout calls of a training did: masks drawn by keep_mask, and those left to torch, by reason."""

    def __init__(self):
        self.drawn = 0
        self.left_to_torch: dict[str, int] = {}

    def count(self, why: str | None) -> None:
        """Count one training-mode call: drawn by keep_mask (why is None) or left to torch for `why`."""
        if why is None:
            self.drawn += 1
        else:
            self.left_to_torch[why] = self.left_to_torch.get(why, 0) + 1

    def warning(self) -> str | None:
        """A line for the run's warnings when some training-mode dropout did not get the cheaper masks."""
        if not self.left_to_torch:
            return None
        left = sum(self.left_to_torch.values())
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.left_to_torch.items()))
        return (f"fast dropout: {left} of {left + self.drawn} dropout calls in training drew their masks with "
                f"torch's own kernel ({why}): the same masks in distribution, only slower")


class _Patch:
    """The replacements for torch._VF's four dropout entry points, each falling back to the original."""

    def __init__(self, originals: dict[str, Any], tally: DropoutTally | None):
        self.originals, self.tally = originals, tally

    def make(self, name: str):
        original = self.originals[name]
        feature, inplace = name.startswith("feature"), name.endswith("_")

        def dropout(input, p, train):
            why = not_drawn_because(input, p, train, feature)
            if self.tally is not None and why != "":
                self.tally.count(why)
            if why is not None:
                return original(input, p, train)
            if feature:  # one draw per (sample, channel): small, and broadcast over the rest
                mask = keep_mask(_feature_shape(input), p, input.dtype, input.device)
            else:
                mask = mask_like(input, p)
            return input.mul_(mask) if inplace else input * mask

        dropout.__name__ = f"fast_{name}"
        return dropout


_NAMES = ("dropout", "dropout_", "feature_dropout", "feature_dropout_")


@contextlib.contextmanager
def fast_dropout(enabled: bool = True, tally: DropoutTally | None = None) -> Iterator[bool]:
    """Within the block, nn.Dropout/Dropout1d/2d/3d and F.dropout* on the CPU draw masks with keep_mask.

    Yields whether the patch is in effect; `tally`, if given, counts what the block's calls did. It is undone on
    exit, even on error; a nested block leaves it to the outer one (and its tally). It patches torch for the whole
    process: meant for the process that trains one grading.
    """
    vf = torch._VF  # F.dropout and F.dropout1d/2d/3d call torch._VF.<name> once they have checked their arguments
    if not enabled:
        yield False
        return
    if any(name in vars(vf) for name in _NAMES):  # an outer block holds the patch
        yield True
        return
    patch = _Patch({name: getattr(vf, name) for name in _NAMES}, tally)
    for name in _NAMES:
        setattr(vf, name, patch.make(name))
    try:
        yield True
    finally:
        for name in _NAMES:
            vars(vf).pop(name, None)
