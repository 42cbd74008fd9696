"""Lesson 7 reference solution: fewer parameters than the smallest public claim, and >= 99.4 % in each of the
last 3 of 15 epochs on every seed it was trained on.

The plain design the hints describe is solutions/lesson7/hint_path.py. This one spends its parameters differently
(benchmarks/lesson7_search.py found it as solutions/lesson7/candidates/dw22a_p15_d16.py):
- Plain bias-free 3x3 convs where the image is large (1 -> 8 -> 12), a max-pool, then four depthwise-separable
  blocks on the 12x12 map: a depthwise 3x3 (groups=c, one filter per channel: 9c parameters) and a 1x1 that mixes
  the channels (c_in c_out), where a full 3x3 conv would cost 9 c_in c_out. RF 22 before the GAP.
- No BatchNorm scale and shift (affine=False) where what follows does their job. A block's last BatchNorm feeds
  the next depthwise 3x3, whose filter (one per channel, no padding) absorbs a scale, and the BatchNorm after
  that filter subtracts the constant a shift becomes; the last block's BatchNorm feeds GAP and the 1x1 head,
  whose weights and bias take both. The BatchNorm after each depthwise 3x3 feeds a 1x1 with a bias, which covers
  any shift it could make. The BatchNorm before the max-pool keeps its affine: a negative scale would turn the
  max into a min. The network can compute everything it could with those scales and shifts, for fewer
  parameters, which buy width 22.
- The 3x3 convs are bias-free: a trade, not a free saving, in these conv -> ReLU -> BatchNorm blocks (a bias
  would set where the ReLU cuts, and the BatchNorm after the ReLU cannot undo that; lesson 3).
- No dropout (the search never tried this network with it). Rotations of up to 16 degrees, twice the lesson's
  default of 8: in the search, widening the range from 8 to 12 and then 16 degrees was the one change that made
  every seed pass. A hot OneCycle (max_lr
  0.4) with a short warm-up (pct_start 0.15): its long cosine tail keeps the last epochs steady.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 15
BATCH_SIZE = 128
AUGMENT = {"degrees": 16, "translate": (0.05, 0.05)}


def conv_bn(c_in, c_out, padding=0):
    """Bias-free 3x3 conv, ReLU, BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
    )


def separable(c_in, c_out):
    """Depthwise 3x3 + BatchNorm without affine, a 1x1 with bias mixing channels, ReLU, BatchNorm without affine."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in, affine=False),
        nn.Conv2d(c_in, c_out, 1),
        nn.ReLU(),
        nn.BatchNorm2d(c_out, affine=False),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)       # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 12)      # 26 -> 24, RF 5; max-pool 24 -> 12, RF 6
        self.block3 = separable(12, 22)   # 12 -> 10, RF 10
        self.block4 = separable(22, 22)   # 10 -> 8, RF 14
        self.block5 = separable(22, 22)   # 8 -> 6, RF 18
        self.block6 = separable(22, 22)   # 6 -> 4, RF 22
        self.head = nn.Conv2d(22, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.block2(self.block1(x)), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        return F.log_softmax(self.head(x).flatten(1), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.4, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.15, div_factor=10, final_div_factor=100,
    )
    return optimizer, scheduler
