"""Hands the grader a scheduler whose schedule is a function: code that would run at every step, in the grader's
own loop. A scheduler must be data; LambdaLR is refused with a message that names what is allowed."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
