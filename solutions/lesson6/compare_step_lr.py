"""Lesson 6's comparison: the reference solution with a step decay in place of its OneCycleLR.

One change: SGD starts at OneCycle's peak, 0.1, and drops it tenfold at half and at three quarters of the run
(MultiStepLR, stepped once per epoch). Beside compare_constant_lr.py (a constant 0.01, a tenth of that peak),
it separates the schedule's shape from the learning rate's size.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 20
BATCH_SIZE = 128
AUGMENT = {"degrees": 20, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 5,
           "brightness": 0.2, "contrast": 0.2}


def block(c_in, c_out, kernel=3, padding=0, dropout=0.05):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=padding),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
        nn.Dropout(dropout),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            block(1, 16, dropout=0.07),    # 28 -> 26, RF 3
            block(16, 32, dropout=0.07),   # 26 -> 24, RF 5
            block(32, 10, kernel=1, dropout=0.07),  # 1x1: mix channels cheaply before pooling
            nn.MaxPool2d(2),               # 24 -> 12, RF 6
            block(10, 16),                 # 12 -> 10, RF 10
            block(16, 16),                 # 10 -> 8, RF 14
            block(16, 16),                 # 8 -> 6, RF 18
            block(16, 16, padding=1),      # 6 -> 6, RF 22
        )
        self.gap = nn.AdaptiveAvgPool2d(1)  # RF 32: every pixel of the 6x6 map
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.head(self.gap(self.features(x)))
        return F.log_softmax(x.view(-1, 10), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    # the one change: a step decay from OneCycle's peak; the grader steps a MultiStepLR once per epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[epochs // 2, 3 * epochs // 4], gamma=0.1)
    return optimizer, scheduler
