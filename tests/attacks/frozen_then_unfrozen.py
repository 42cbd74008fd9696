"""Freezes a large layer while the grader counts, then unfreezes it in make_optimizer so it trains anyway."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 190)
        self.out = nn.Linear(190, 10)
        self.hidden.requires_grad_(False)  # "not trainable": skipped by a count of trainable parameters

    def forward(self, x):
        return self.out(self.hidden(x.flatten(1)).relu())


def make_optimizer(model, steps_per_epoch, epochs):
    model.hidden.requires_grad_(True)
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
