"""Lesson 7's hints, followed literally: 3x3 convs 1->8->16 at full resolution, a 1x1 16->10 and a max-pool,
3x3 convs 10->16->16->16 on the 12x12 map, GAP and a 1x1 head with a bias, every other conv bias-free, a
BatchNorm after each 3x3; SGD with momentum 0.9 and nesterov=True, OneCycleLR with max_lr 0.1, pct_start 0.25,
div_factor 10 and final_div_factor 100; augmentation of 8 degrees and translate 0.05; no dropout. The hints name
every one of these (tests/test_lessons_content.py checks that they do).
Fewer than 8,000 parameters; it must pass the last-3 rule on every seed `course verify --train` runs.
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
        self.block2 = conv_bn(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 10, 1, bias=False)  # 1x1, then max-pool 24 -> 12, RF 6
        self.block3 = conv_bn(10, 16)   # 12 -> 10, RF 10
        self.block4 = conv_bn(16, 16)   # 10 -> 8, RF 14
        self.block5 = conv_bn(16, 16)   # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(self.trans(x), 2)
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
