"""Builds code in a string and evaluates it."""
import torch.nn as nn

evil = eval("[c for c in ().__class__.__base__.__subclasses__()]")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
