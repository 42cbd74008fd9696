"""Lesson 2 reference solution: a light skeleton of 3x3 convs, a 1x1 + max-pool transition, a big final kernel.

No BatchNorm yet (lesson 3); the lesson's recipe trains it with Adam.
"""

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
