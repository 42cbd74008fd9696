"""Outputs NaN only when measured: dropout of a tensor of ones is 0 or 2 while it trains and exactly 1 in the program
the grader derives for measuring, so 0 / (that - 1) is finite in training and NaN in every measurement. The branch
on self.training keeps the worker's contract check (the module in eval mode) finite. Non-finite rows are wrong
answers, the run is graded, never crashed, and its record warns about it."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.training:
            out = out + 0.0 / (self.drop(torch.ones_like(out)) - 1)  # +-1 while training, 0 when measured
        return out
