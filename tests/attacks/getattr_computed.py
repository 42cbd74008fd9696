"""Reaches torch.load through getattr with a computed name, hiding it from a text search."""
import torch
import torch.nn as nn

loader = getattr(torch, "lo" + "ad")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
