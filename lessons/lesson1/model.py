"""Lesson 1: your first model. Read the lesson first: `course show lesson1`.

Finish Net below, then:
    course check      # seconds: does it build, what shape does it return, how many parameters?
    course grade      # trains it with the grader's own loop and judges it
    course hint       # when you are stuck
"""

import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 1  # one pass over the training set; this lesson allows at most 2

TODO = "TODO (lesson 1): finish Net.forward so that it returns a (N, 10) tensor of class scores"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)  # 1 grey input channel -> 16 maps; 3x3 kernel: 28x28 -> 26x26
        # TODO: a second 3x3 conv (16 -> 32 channels: 26x26 -> 24x24),
        # TODO: an nn.Linear from the flattened map after a 2x2 max-pool to 10 classes.
        #       Its in_features is channels * height * width of that map: work it out.

    def forward(self, x):
        x = F.relu(self.conv1(x))
        # TODO: the second conv + ReLU, F.max_pool2d(x, 2), x.flatten(1), the Linear layer.
        # Return the Linear layer's output (logits): the grader applies the softmax in its loss.
        # Then delete the line below.
        raise NotImplementedError(TODO)
