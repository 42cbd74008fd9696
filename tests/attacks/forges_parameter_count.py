"""Patches every parameter counter it can reach in the worker to report 1,000, then builds 150k parameters:
the count that decides the verdict is taken by the parent, on the exported program."""
import torch.nn as nn

import grader.program
import grader.worker.analysis

grader.program.count_parameters = lambda graph: 1_000
grader.worker.analysis.count_parameters = lambda model: 1_000


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 190)
        self.out = nn.Linear(190, 10)

    def forward(self, x):
        return self.out(self.hidden(x.flatten(1)).relu())
