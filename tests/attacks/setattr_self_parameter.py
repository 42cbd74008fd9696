"""Patches torch.Tensor.sum with setattr on a parameter that is merely *named* self (a module-level function is
handed torch.Tensor): setattr is allowed on a method's own self only."""
import torch
import torch.nn as nn


def patch(self, fake):
    setattr(self, f"sum", fake)


patch(torch.Tensor, lambda *args, **kwargs: torch.zeros(()))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
