"""Lesson 4's comparison: the reference network without its dropout, trained with the same recipe for the same
3 epochs. One change: no dropout (it is lesson 3's network, run one epoch longer). It fails the lesson's
Dropout criterion by design; only its accuracies are quoted.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 3


def conv_bn(c_in, c_out):
    """3x3 conv, ReLU, BatchNorm: lesson 4's block without the Dropout."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.BatchNorm2d(c_out))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)     # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)
        self.block3 = conv_bn(8, 16)    # 12 -> 10, RF 10
        self.block4 = conv_bn(16, 16)   # 10 -> 8, RF 14
        self.block5 = conv_bn(16, 16)   # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 6)  # 6 -> 1, RF 28

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block5(self.block4(self.block3(x)))
        return self.head(x).flatten(1)
