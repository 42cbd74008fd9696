"""Lesson 7 candidate p10: plain 3x3 convs, widths 8-10-(pool)-10-10-10, 3,698 parameters, RF 18.

Today's reference narrowed to 10 channels and without its 1x1 transition (the pool reads the 10 channels
of block 2 directly): every 3x3 conv bias-free (BatchNorm follows it), GAP and a 1x1 head.
Recipe: the reference's (batch 128, SGD Nesterov, OneCycleLR max_lr 0.1, pct_start 0.25, 8 deg / +-1 px).
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


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)     # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 10)    # 26 -> 24, RF 5; max-pool 24 -> 12, RF 6
        self.block3 = conv_bn(10, 10)   # 12 -> 10, RF 10
        self.block4 = conv_bn(10, 10)   # 10 -> 8, RF 14
        self.block5 = conv_bn(10, 10)   # 8 -> 6, RF 18
        self.head = nn.Conv2d(10, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.block2(self.block1(x)), 2)
        x = self.block5(self.block4(self.block3(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return F.log_softmax(self.head(x).flatten(1), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25, div_factor=10, final_div_factor=100,
    )
    return optimizer, scheduler
