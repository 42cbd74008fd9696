"""Seed architecture 000: 11,312 parameters, receptive field 22 before the GAP and 32 after."""

import torch.nn as nn
import torch.nn.functional as F


def block(c_in, c_out, padding=0, dropout=0.05):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(c_out),
        nn.Dropout(dropout),
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.convblock1 = block(1, 16)  # 28 -> 26, rf 3
        self.convblock2 = block(16, 16)  # 26 -> 24, rf 5
        self.convblock3 = nn.Sequential(nn.Conv2d(16, 10, 1, bias=False))  # rf 5
        self.pool1 = nn.MaxPool2d(2, 2)  # 24 -> 12, rf 6, jump 2
        self.convblock4 = block(10, 16)  # 12 -> 10, rf 10
        self.convblock5 = block(16, 16)  # 10 -> 8, rf 14
        self.convblock6 = block(16, 16)  # 8 -> 6, rf 18
        self.convblock7 = block(16, 16, padding=1)  # 6 -> 6, rf 22
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=6))  # 6 -> 1, rf 32
        self.convblock8 = nn.Sequential(nn.Conv2d(16, 10, 1, bias=False))

    def forward(self, x):
        x = self.convblock1(x)
        x = self.convblock2(x)
        x = self.convblock3(x)
        x = self.pool1(x)
        x = self.convblock4(x)
        x = self.convblock5(x)
        x = self.convblock6(x)
        x = self.convblock7(x)
        x = self.gap(x)
        x = self.convblock8(x)
        x = x.view(-1, 10)
        return F.log_softmax(x, dim=-1)
