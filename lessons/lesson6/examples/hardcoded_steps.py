"""Lesson 6's common mistake, on purpose: the reference solution with BATCH_SIZE = 256 and OneCycleLR's step
count hard-coded for batches of 128 (469 steps an epoch). Not a solution: `course docs` steps its schedule to
show where training stops (see the lesson); nothing trains it.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 20
BATCH_SIZE = 256  # changed from 128 ...
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
            block(1, 16, dropout=0.07),
            block(16, 32, dropout=0.07),
            block(32, 10, kernel=1, dropout=0.07),
            nn.MaxPool2d(2),
            block(10, 16),
            block(16, 16),
            block(16, 16),
            block(16, 16, padding=1),
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.head(self.gap(self.features(x)))
        return F.log_softmax(x.view(-1, 10), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=469,  # ... but not this
        pct_start=0.4, div_factor=10, final_div_factor=100,
    )
    return optimizer, scheduler
