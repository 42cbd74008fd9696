"""Student idioms the policy must accept: `from __future__ import annotations` with annotations everywhere,
a dataclass config and functools.partial.

Every annotation calls seen(), which records that it ran: tests/test_policy.py loads, builds, trains and
exports this model and checks that nothing evaluated an annotation (under the future import they stay text).
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

EVALUATED = []


def seen(number):
    EVALUATED.append(number)
    return torch.Tensor


@dataclasses.dataclass
class Widths:
    conv: seen(1) = 8
    hidden: seen(2) = 32


class Net(nn.Module):
    widths: seen(3) = Widths()

    def __init__(self) -> seen(4):
        super().__init__()
        w = self.widths
        self.conv = nn.Conv2d(1, w.conv, 3, padding=1)
        self.pool = functools.partial(F.max_pool2d, kernel_size=4)  # 28 -> 7
        self.fc1 = nn.Linear(w.conv * 7 * 7, w.hidden)
        self.fc2 = nn.Linear(w.hidden, 10)

    def forward(self, x: seen(5)) -> seen(6):
        x = self.pool(F.relu(self.conv(x)))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))

    def extra_repr(self) -> seen(7):
        return f"widths={self.widths}"
