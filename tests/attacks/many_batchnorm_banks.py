"""Keeps numbers in 50 affine-free BatchNorm1d(1024) banks beside one (1024, 1) parameter: each bank is no wider
than the widest layer, but together they hold 100 times its weights (a memory of what they saw). Statistics beyond the parameters' own count
are counted."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(1024, 1) * 0.1)
        self.banks = nn.ModuleList([nn.BatchNorm1d(1024, affine=False) for _ in range(50)])

    def forward(self, x):
        h = F.pad(x.flatten(1), (0, 1024 - 784)) * self.w.t()
        return sum(bank(h) for bank in self.banks)[:, :10] / len(self.banks)
