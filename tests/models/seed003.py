"""Seed architecture 003: 13,960 parameters (torchsummary agrees), BatchNorm after every conv but the head."""

import torch.nn as nn
import torch.nn.functional as F


def block(c_in, c_out, kernel=3, padding=0, dropout=None):
    layers = [nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.ReLU(), nn.BatchNorm2d(c_out)]
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.convblock1 = block(1, 16, dropout=0.07)  # 28 -> 26, rf 3
        self.convblock2 = block(16, 32, dropout=0.07)  # 26 -> 24, rf 5
        self.convblock3 = block(32, 10, kernel=1)  # transition 1x1, rf 5
        self.pool1 = nn.MaxPool2d(2, 2)  # 24 -> 12, rf 6
        self.convblock4 = block(10, 16, dropout=0.07)  # 12 -> 10, rf 10
        self.convblock5 = block(16, 16, dropout=0.05)  # 10 -> 8, rf 14
        self.convblock6 = block(16, 16, dropout=0.05)  # 8 -> 6, rf 18
        self.convblock7 = block(16, 16, padding=1, dropout=0.05)  # 6 -> 6, rf 22
        self.gap = nn.AvgPool2d(kernel_size=6)  # rf 32
        self.head = nn.Conv2d(16, 10, 1)

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
        x = self.head(x)
        x = x.view(-1, 10)
        return F.log_softmax(x, dim=-1)
