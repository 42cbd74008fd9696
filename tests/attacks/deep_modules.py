"""Nests 50,000 nn.Sequential, built in a loop (no deep code for the policy to see): whatever recurses over the
module tree (named_modules, deepcopy, export) would overflow Python's stack in the grader."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        body = nn.Linear(784, 10)
        for _ in range(50_000):
            body = nn.Sequential(body)
        self.body = body

    def forward(self, x):
        return self.body(x.flatten(1))
