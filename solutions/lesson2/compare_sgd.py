"""Lesson 2's comparison: the reference skeleton trained with SGD (lr 0.05, momentum 0.9) instead of the
lesson's Adam. One change: the optimizer. The network is solutions/lesson2/model.py, line for line.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)    # 28 -> 26, RF 3
        self.conv2 = nn.Conv2d(8, 16, 3)   # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)   # 1x1: fewer channels before the pool, RF 5
        self.conv3 = nn.Conv2d(8, 16, 3)   # after the 2x2 pool: 12 -> 10, RF 10
        self.conv4 = nn.Conv2d(16, 16, 3)  # 10 -> 8, RF 14
        self.conv5 = nn.Conv2d(16, 16, 3)  # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 6)   # the big final kernel: 6 -> 1, RF 28

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = F.relu(self.conv5(x))
        return self.head(x).flatten(1)


def make_optimizer(model, steps_per_epoch, epochs):
    # the one change: plain SGD at the rate that lesson 3 uses once BatchNorm is in
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
