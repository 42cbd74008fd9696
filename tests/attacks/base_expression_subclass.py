"""Subclasses torch.Tensor through a base given as a call, which a check of named bases would not recognise."""
import torch
import torch.nn as nn


def pick():
    return torch.Tensor


class Agreeable(pick()):
    def eq(self, other):
        return torch.ones_like(other, dtype=torch.bool)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
