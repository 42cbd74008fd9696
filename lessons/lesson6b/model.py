"""Lesson 6b: spending parameters well. Read the lesson first: `course show lesson6b`.

This is lesson 5's reference network, over this lesson's budget of 6,000 parameters. Make the 3x3 convs after
the max-pool depthwise-separable (a depthwise 3x3, then a 1x1 that mixes the channels), keep the receptive field
before the global pooling at 20 or more, and drop each bias and BatchNorm scale the next layer makes redundant.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 3  # the most this lesson allows
DROPOUT = 0.05


def conv_bn(c_in, c_out, padding=0):
    """3x3 conv, ReLU, BatchNorm, Dropout."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding), nn.ReLU(), nn.BatchNorm2d(c_out), nn.Dropout(DROPOUT)
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        # TODO: keep block1 and block2; make block3-block6 separable (see the lesson), without self.trans
        self.block1 = conv_bn(1, 8)     # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)
        self.block3 = conv_bn(8, 16)    # 12 -> 10, RF 10
        self.block4 = conv_bn(16, 16)   # 10 -> 8, RF 14
        self.block5 = conv_bn(16, 16)   # 8 -> 6, RF 18
        self.block6 = conv_bn(16, 16, padding=1)  # 6 -> 6, RF 22
        self.head = nn.Conv2d(16, 10, 1)  # 1x1: one score per class from the 16 pooled channels

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        x = F.adaptive_avg_pool2d(x, 1)  # global average pooling: 16 x 6 x 6 -> 16 x 1 x 1
        return self.head(x).flatten(1)
