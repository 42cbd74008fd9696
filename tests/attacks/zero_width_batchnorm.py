"""Widens the BatchNorm exemption with a parameter that has no elements: shape (50176, 0) counts 0 and, if the cap
came from every parameter, would let an affine-free BatchNorm as wide as 64 flattened images keep them for free.
The cap comes only from parameters with elements: its statistics are counted."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.wide = nn.Parameter(torch.zeros(64 * 784, 0))
        self.memory = nn.BatchNorm1d(64 * 784, affine=False, momentum=0.5)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        flat = x.flatten(1)
        distances = self.memory(flat.repeat(1, 64)).view(-1, 64, 784).pow(2).mean(2)
        return self.out(-distances) + self.wide.sum()
