"""Lesson 6's hints, followed literally: the lesson-5 network ("start from your lesson-5 network") with the
lesson's AUGMENT and OneCycleLR examples (the reference recipe) and 20 epochs. One change from the reference
solution: the network (lesson 5's, narrower than write-up 003's).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 20
BATCH_SIZE = 128
AUGMENT = {"degrees": 20, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 5,
           "brightness": 0.2, "contrast": 0.2}
DROPOUT = 0.05


def conv_bn(c_in, c_out, padding=0):
    """3x3 conv, ReLU, BatchNorm, Dropout: lesson 5's block."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding), nn.ReLU(), nn.BatchNorm2d(c_out), nn.Dropout(DROPOUT)
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)     # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 16)    # 26 -> 24, RF 5
        self.trans = nn.Conv2d(16, 8, 1)
        self.block3 = conv_bn(8, 16)    # 12 -> 10, RF 10
        self.block4 = conv_bn(16, 16)   # 10 -> 8, RF 14
        self.block5 = conv_bn(16, 16)   # 8 -> 6, RF 18
        self.block6 = conv_bn(16, 16, padding=1)  # 6 -> 6, RF 22
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = F.max_pool2d(F.relu(self.trans(x)), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.head(x).flatten(1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.4, div_factor=10, final_div_factor=100,
    )
    return optimizer, scheduler
