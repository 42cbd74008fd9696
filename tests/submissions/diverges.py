"""Trains with an absurd learning rate: the loss becomes NaN within a few steps. Small enough (12,730 parameters)
to pass the course target's static criteria, so that it is trained at all."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.view(x.size(0), -1))))


def make_optimizer(model, steps_per_epoch, epochs):
    return torch.optim.SGD(model.parameters(), lr=1e12)
