"""Speed-ups for one grading on a CPU that leave what is computed the same in distribution; each is opt-out-able.

- fast_dropout(): dropout masks drawn from 32 random bits an element, two elements a generator call, instead of
  torch's per-element Bernoulli draw, a serial loop that took a quarter to a third of a training step on a CPU
  (benchmarks/profile_step.py; figures in docs/performance.md).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch

# Each element compares 32 random bits with a threshold: P(drop) is p to within 2**-33. torch's own CPU draw compares
# a 53-bit uniform double with p (or, on MKL's path, a 31-bit generator): both are finer than any 20-epoch grading
# could tell apart (it draws about 5e10 mask elements, a standard error of 1e-6 on the rate).
_THRESHOLD_BITS = 32


def keep_mask(shape: tuple[int, ...], p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A dropout mask: each element 1/(1-p) with probability 1-p and 0 otherwise, independently."""
    n = math.prod(shape)
    # random_(-2**63, None) fills all 64 bits of each word from the default generator (seeded by torch.manual_seed),
    # two elements a word: half the generator calls of torch.rand and about a third of bernoulli_'s cost.
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)
    bits = words.view(torch.int32)[:n].view(shape)  # uniform on [-2**31, 2**31)
    threshold = round(p * 2**_THRESHOLD_BITS) - 2**31  # P(bits < threshold) = p, to within 2**-33
    return (bits >= threshold).to(dtype).div_(1 - p)  # div_, not mul by 1/(1-p): torch rounds the same way


def _usable(input: torch.Tensor, p: float, train: bool) -> bool:
    # Everything else goes to torch's own kernel: eval mode, p at its ends, GPUs (fused there already),
    # subclasses, and tracing by torch.compile/export, which must see the op it knows.
    return (train and 0.0 < p < 1.0 - 2.0**-31 and type(input) is torch.Tensor and input.device.type == "cpu"
            and input.is_floating_point() and not torch.compiler.is_compiling())


def _feature_shape(input: torch.Tensor) -> tuple[int, ...]:
    # As ATen's feature dropout: one draw per (sample, channel), broadcast over the remaining dims.
    return tuple(input.shape[:2]) + (1,) * (input.dim() - 2)


class _Patch:
    """The replacements for torch._VF's four dropout entry points, each falling back to the original."""

    def __init__(self, originals: dict):
        self.originals = originals

    def make(self, name: str):
        original = self.originals[name]
        feature, inplace = name.startswith("feature"), name.endswith("_")

        def dropout(input, p, train):
            if not _usable(input, p, train) or (feature and input.dim() < 2):
                return original(input, p, train)
            mask = keep_mask(_feature_shape(input) if feature else tuple(input.shape), p, input.dtype, input.device)
            return input.mul_(mask) if inplace else input * mask

        dropout.__name__ = f"fast_{name}"
        return dropout


_NAMES = ("dropout", "dropout_", "feature_dropout", "feature_dropout_")


@contextlib.contextmanager
def fast_dropout(enabled: bool = True) -> Iterator[bool]:
    """Within the block, nn.Dropout/Dropout1d/2d/3d and F.dropout* on the CPU draw masks with keep_mask.

    Yields whether the patch is in effect. It is undone on exit, even on error; a nested block leaves it to the
    outer one. It patches torch for the whole process: meant for the process that trains one grading.
    """
    vf = torch._VF  # F.dropout and F.dropout1d/2d/3d call torch._VF.<name> once they have checked their arguments
    if not enabled:
        yield False
        return
    if any(name in vars(vf) for name in _NAMES):  # an outer block holds the patch
        yield True
        return
    patch = _Patch({name: getattr(vf, name) for name in _NAMES})
    for name in _NAMES:
        setattr(vf, name, patch.make(name))
    try:
        yield True
    finally:
        for name in _NAMES:
            vars(vf).pop(name, None)
