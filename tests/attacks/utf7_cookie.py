# -*- coding: utf-7 -*-
"""Declares UTF-7 so Python decodes hidden code that a UTF-8 reader sees as a comment."""
import torch.nn as nn

# +AAo-import os


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
