"""What one training step computes and counts, shared by the eager loop (train.py) and the recorded one (graphed.py).

Both keep their running figures on the device and change them in place, so that a recorded step can own them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.errors import SubmissionError


def loss_and_backward(fn, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, loss) of one batch, the gradients accumulated; a forward that returns no plain tensor is refused."""
    out = fn(x)
    if type(out) is not torch.Tensor:  # a subclass could redefine argmax or ==; the grader reads plain tensors only
        raise SubmissionError(f"forward() returned a {type(out).__name__}; "
                              "return a plain torch.Tensor of shape (N, 10)")
    loss = F.cross_entropy(out.float(), y)  # right for logits and log-probabilities alike
    loss.backward()
    return out, loss


class EpochTally:
    """An epoch's running training figures, on the device: read once when the epoch ends, never per step."""

    def __init__(self, device):
        self.loss_sum = torch.zeros((), device=device)  # summed over images
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first step with a non-finite loss

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()
        self.first_bad.fill_(-1)

    def add(self, step, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> None:
        """Count one step (its number: an int, or a device tensor in a recorded step) with no host read."""
        detached = loss.detach()
        self.first_bad.copy_(torch.where((self.first_bad < 0) & ~torch.isfinite(detached), step, self.first_bad))
        self.loss_sum += detached * len(y)
        self.correct += (out.detach().argmax(dim=1) == y).sum()
