"""Lesson 3: batch normalisation. Read the lesson first: `course show lesson3`.

This is a lesson-2 skeleton without any normalisation. Put an nn.BatchNorm2d after every 3x3 conv.
`course check` tells you how many of the convs have one.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 2  # the most this lesson allows


def conv_block(c_in, c_out):
    """A 3x3 conv and its ReLU."""
    # TODO: add nn.BatchNorm2d(c_out) after the ReLU. BatchNorm2d takes the number of channels it normalises.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_block(1, 8)     # 28 -> 26
        self.block2 = conv_block(8, 16)    # 26 -> 24
        self.trans = nn.Conv2d(16, 8, 1)   # 1x1 transition, then a 2x2 max-pool: 24 -> 12
        self.block3 = conv_block(8, 16)    # 12 -> 10
        self.block4 = conv_block(16, 16)   # 10 -> 8
        self.block5 = conv_block(16, 16)   # 8 -> 6
        self.head = nn.Conv2d(16, 10, 6)   # the big final kernel: 6 -> 1

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block5(self.block4(self.block3(x)))
        return self.head(x).flatten(1)
