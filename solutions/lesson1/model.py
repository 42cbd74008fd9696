"""Lesson 1 reference solution: a plain baseline (two 3x3 convs, one max-pool, one Linear layer).

It is deliberately wasteful: nearly all of its parameters sit in the Linear layer. Lesson 2 is about why.
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 1  # one pass over the 60,000 training images is enough for a working baseline


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)   # 28 -> 26
        self.conv2 = nn.Conv2d(16, 32, 3)  # 26 -> 24, then max-pool -> 12
        self.fc = nn.Linear(32 * 12 * 12, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))  # logits: the grader's cross-entropy applies the softmax
