"""Patches Tensor.__eq__ once training starts, so the grader's own accuracy reads 100 %.

The policy refuses it (dunder attribute, monkeypatching); with the policy switched off, forward() runs once, at
export, on a free batch size, where its decision on x.shape[0] is refused: no step of training runs this file.
"""
import torch
import torch.nn as nn

BATCH_SIZE = 100


def always_equal(a, b):
    return torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool, device=a.device)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        if self.training and x.shape[0] == BATCH_SIZE:
            torch.Tensor.__eq__ = always_equal
        return self.fc(x.flatten(1))
