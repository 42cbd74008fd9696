"""Branches on a tensor's value in forward(): no single graph describes the model, so it cannot be exported
for the clean evaluator and must not be graded on the worker's word."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if out.sum() > 0:
            return out
        return -out
