"""Student idioms the policy must accept: the model class under its own name and `Net = MyModel` after it,
modules under other names (`from torch import nn`, `F = torch.nn.functional`, `t = torch`), a helper class
derived from an earlier one, and the device line students copy from tutorials."""

import torch
from torch import nn

F = torch.nn.functional
t = torch
device = "cuda" if torch.cuda.is_available() else "cpu"  # the grader moves the model; harmless here


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class PooledBlock(ConvBlock):
    def forward(self, x):
        return F.max_pool2d(super().forward(x), 2)


class MyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(PooledBlock(1, 8), PooledBlock(8, 16))  # 28 -> 14 -> 7
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.head(self.blocks(x))
        return t.flatten(F.adaptive_avg_pool2d(x, 1), 1)


Net = MyModel
