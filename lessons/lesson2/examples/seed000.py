"""The network of the first seed write-up (000), rebuilt from its torchsummary table, for the lessons'
"find the error" exercises: its receptive-field table (lesson 2) and its parameter total (lesson 3).

Its convolutions have no bias (the table's 144 for the first conv is 3*3*1*16), BatchNorm follows every
3x3 conv, and a 6x6 average pool and a 1x1 conv make the head.
"""

import torch.nn as nn
import torch.nn.functional as F


def block(c_in, c_out, padding=0):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
        nn.Dropout(0.05),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = block(1, 16)                        # 28 -> 26
        self.block2 = block(16, 16)                       # 26 -> 24
        self.trans = nn.Conv2d(16, 10, 1, bias=False)     # 24 -> 24, then max-pool 24 -> 12
        self.block3 = block(10, 16)                       # 12 -> 10
        self.block4 = block(16, 16)                       # 10 -> 8
        self.block5 = block(16, 16)                       # 8 -> 6
        self.block6 = block(16, 16, padding=1)            # 6 -> 6
        self.gap = nn.AvgPool2d(6)                        # 6 -> 1
        self.head = nn.Conv2d(16, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(self.trans(x), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        return F.log_softmax(self.head(self.gap(x)).flatten(1), dim=1)
