"""Imports os through torch.importlib, which no import statement shows."""
import torch
import torch.nn as nn

os_module = torch.importlib.import_module("os")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
