"""Outputs NaN in eval mode only (when measured): -inf minus -inf. Non-finite rows are wrong answers, the run is
graded, never crashed, and its record warns about it."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.training:
            return out
        scale = (x.flatten(1)[:, :1] * 0).log()
        return out + scale - scale
