"""Lesson 3's comparison: the reference network without its BatchNorm layers, trained with the same recipe
(SGD, lr 0.05, momentum 0.9, 2 epochs). One change: no BatchNorm. It fails the lesson's BatchNorm criterion
by design; only its accuracy is quoted.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 2


def conv_relu(c_in, c_out):
    """3x3 conv and ReLU: lesson 3's block with the BatchNorm taken out."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_relu(1, 8)     # 28 -> 26, RF 3
        self.block2 = conv_relu(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)
        self.block3 = conv_relu(8, 16)    # 12 -> 10, RF 10
        self.block4 = conv_relu(16, 16)   # 10 -> 8, RF 14
        self.block5 = conv_relu(16, 16)   # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 6)  # 6 -> 1, RF 28

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block5(self.block4(self.block3(x)))
        return self.head(x).flatten(1)
