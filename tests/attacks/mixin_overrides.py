"""Overrides named_parameters through a mixin class that does not itself derive from nn.Module."""
import torch.nn as nn


class Quiet:
    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return iter([])


class Net(Quiet, nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 2000)
        self.out = nn.Linear(2000, 10)

    def forward(self, x):
        return self.out(self.hidden(x.flatten(1)).relu())
