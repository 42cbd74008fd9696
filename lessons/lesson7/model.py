"""Lesson 7: the challenge. Read the lesson first: `course show lesson7`.

Fewer than 8,000 parameters, and at least 99.4 % test accuracy in EACH of the last 3 epochs of at most
15. Everything from lessons 2-6 is allowed; the design is yours.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 15  # the most this lesson allows; the last 3 of the epochs you run are the ones judged
BATCH_SIZE = 128

# TODO: mild augmentation suits a net this small; see the lesson for why.
AUGMENT = {}

TODO = "TODO (lesson 7): design the network in Net.__init__ and Net.forward: fewer than 8,000 parameters"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        # TODO: your layers. Budget first: write down k*k*c_in*c_out for every conv before you code it.
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)

    def forward(self, x):
        # TODO: your forward pass; return (N, 10) scores. Then delete the line below.
        raise NotImplementedError(TODO)


def make_optimizer(model, steps_per_epoch, epochs):
    """Return (optimizer, scheduler); OneCycleLR is stepped after every batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # TODO: a OneCycleLR whose low-LR tail covers the last epochs (those are the ones judged).
    return optimizer
