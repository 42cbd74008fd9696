"""Reads a file through getattr on a parameter that is merely *named* self: a module-level function, handed a
tensor's storage, builds the name from_file from parts, where only a method's own self may take a computed name."""
import torch
import torch.nn as nn


def opener(self, kind):
    return getattr(self, f"from_{kind}")


read = opener(torch.zeros(1).untyped_storage(), "file")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
