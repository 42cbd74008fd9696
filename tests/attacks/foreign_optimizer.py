"""Trains a tensor that is not in model.parameters(), so the parameter count leaves it out."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.extra = [torch.zeros(784, 10, requires_grad=True)]  # a list: nn.Module does not register it

    def forward(self, x):
        flat = x.flatten(1)
        return self.fc(flat) + flat @ self.extra[0]


def make_optimizer(model, steps_per_epoch, epochs):
    return torch.optim.SGD(list(model.parameters()) + model.extra, lr=0.01)
