"""Lesson 2's worked example: a deliberately narrow skeleton whose parameters and receptive field the
lesson walks through layer by layer. Not a solution: too narrow to reach the lesson's accuracy target.
"""

import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)    # 28 -> 26
        self.conv2 = nn.Conv2d(4, 8, 3)    # 26 -> 24
        self.trans = nn.Conv2d(8, 4, 1)    # 24 -> 24, then max-pool 24 -> 12
        self.conv3 = nn.Conv2d(4, 8, 3)    # 12 -> 10
        self.conv4 = nn.Conv2d(8, 8, 3)    # 10 -> 8
        self.conv5 = nn.Conv2d(8, 8, 3)    # 8 -> 6
        self.head = nn.Conv2d(8, 10, 6)    # 6 -> 1

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(x))))))
        return self.head(x).flatten(1)
