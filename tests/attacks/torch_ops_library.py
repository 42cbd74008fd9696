"""Loads a native shared library as torch operators."""
import torch
import torch.nn as nn

torch.ops.load_library("/tmp/evil.so")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
