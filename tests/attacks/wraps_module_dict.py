"""Copies torch's attributes onto a function with functools.wraps, then reaches os through the function."""
import functools

import torch
import torch.nn as nn


@functools.wraps(torch)
def library():
    pass


library.os.system("echo pwned > /tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
