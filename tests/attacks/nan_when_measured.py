"""Outputs NaN only once trained (a BatchNorm's step counter switches it on), so the worker's check of the untrained
model sees finite outputs and only the measurements see NaN. Non-finite rows are wrong answers, the run is graded,
never crashed, and its record warns about it."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.switch = nn.BatchNorm1d(10)

    def forward(self, x):
        out = self.switch(self.fc(x.flatten(1)))
        if self.training:
            return out
        nan = torch.where(self.switch.num_batches_tracked > 10, float("nan"), 0.0)  # the contract check steps once
        return out + nan
