"""Lesson 6b reference solution: lesson 5's network with its 3x3 convs on the 12x12 map made depthwise-separable.

- The two full 3x3 convs at full resolution stay: there a conv has 1 or 8 input channels, so a separable one
  would save little, and most of the multiply-adds are spent there whatever the trunk does later.
- After the max-pool, four separable blocks 16 -> 24 -> 24 -> 24 -> 24: a depthwise 3x3 (groups=c, one 3x3 filter
  per channel) that looks around, then a 1x1 that mixes and widens the channels. Each still adds 2 * jump to the
  receptive field, as a full 3x3 does: RF 22 before the global pooling.
- No bias on a conv that BatchNorm reads directly (the depthwise 3x3s): BatchNorm subtracts the batch mean,
  bias included. No BatchNorm scale and shift (affine=False) after a depthwise 3x3: the 1x1 conv after it, with
  its bias, takes any scale and shift into its own weights and bias.
- The plain convs keep conv -> ReLU -> BatchNorm with their BatchNorm's affine, and bias=False on the convs
  (a trade, lesson 3: the ReLU's cut point moves with a bias, and the BatchNorm after it cannot undo that).
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 3


def conv_bn(c_in, c_out):
    """Bias-free 3x3 conv, ReLU, BatchNorm."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(c_out))


def separable(c_in, c_out, padding=0):
    """Depthwise 3x3 (no bias), BatchNorm without affine, a 1x1 with bias that mixes channels, ReLU, BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=padding, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in, affine=False),
        nn.Conv2d(c_in, c_out, 1),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_bn(1, 8)      # 28 -> 26, RF 3
        self.block2 = conv_bn(8, 16)     # 26 -> 24, RF 5; max-pool 24 -> 12, RF 6
        self.block3 = separable(16, 24)  # 12 -> 10, RF 10
        self.block4 = separable(24, 24)  # 10 -> 8, RF 14
        self.block5 = separable(24, 24)  # 8 -> 6, RF 18
        self.block6 = separable(24, 24, padding=1)  # 6 -> 6, RF 22
        self.head = nn.Conv2d(24, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.block2(self.block1(x)), 2)
        x = self.block6(self.block5(self.block4(self.block3(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.head(x).flatten(1)
