"""Runs code hidden in a string annotation: functools.singledispatch evaluates annotations to pick a type."""
import functools

import torch
import torch.nn as nn


@functools.singledispatch
def describe(x):
    return "thing"


@describe.register
def describe_int(x: "torch.os.system('echo pwned > /tmp/course-attack-canary') or int"):
    return "int"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
