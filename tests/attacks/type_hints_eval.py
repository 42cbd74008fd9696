"""Runs code hidden in a string annotation, which typing.get_type_hints evaluates."""
import typing

import torch.nn as nn


class Config:
    x: "print(1) or 3"


typing.get_type_hints(Config)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
