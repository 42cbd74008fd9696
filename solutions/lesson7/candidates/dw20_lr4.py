"""Lesson 7 candidate dw20_lr4: dw20_lr2 with OneCycleLR max_lr 0.4; 3,578 params.

Recipe: dw20_lr2's (3,578 params, depthwise-separable blocks; see dw20_lr2.py) with one change: max_lr 0.4 (0.1
passed 3 of 5 seeds, 0.2 and 0.3 4 of 5).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 15
BATCH_SIZE = 128
AUGMENT = {"degrees": 8, "translate": (0.05, 0.05)}


def conv_bn(c_in, c_out, padding=0):
    """Bias-free 3x3 conv, ReLU, BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
    )


def separable(c_in, c_out):
    """Depthwise 3x3 (one filter per channel) + BatchNorm, then a 1x1 mixing channels, ReLU, BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)       # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 12)      # 26 -> 24, RF 5; max-pool 24 -> 12, RF 6
        self.block3 = separable(12, 20)   # 12 -> 10, RF 10
        self.block4 = separable(20, 20)   # 10 -> 8, RF 14
        self.block5 = separable(20, 20)   # 8 -> 6, RF 18
        self.block6 = separable(20, 20)   # 6 -> 4, RF 22
        self.head = nn.Conv2d(20, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.block2(self.block1(x)), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        return F.log_softmax(self.head(x).flatten(1), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.4, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25, div_factor=10, final_div_factor=100,
    )
    return optimizer, scheduler
