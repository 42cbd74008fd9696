"""Lesson 3's comparison: the reference network with BatchNorm before the ReLU (conv -> BN -> ReLU, the
order of the BatchNorm paper) instead of the course's conv -> ReLU -> BN. One change: the order in the block.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 2


def bn_conv(c_in, c_out):
    """3x3 conv, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out), nn.ReLU())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = bn_conv(1, 8)     # 28 -> 26, RF 3
        self.block2 = bn_conv(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)
        self.block3 = bn_conv(8, 16)    # 12 -> 10, RF 10
        self.block4 = bn_conv(16, 16)   # 10 -> 8, RF 14
        self.block5 = bn_conv(16, 16)   # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 6)  # 6 -> 1, RF 28

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block5(self.block4(self.block3(x)))
        return self.head(x).flatten(1)
