"""A chain of 480 cheap operations on a 4x upsampled input: 6 M numbers computed per image. The grader sizes the
program from its declared shapes before it runs a batch (the evaluator, and the trainer) and refuses it."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        big = F.interpolate(x, scale_factor=4)
        for _ in range(480):
            big = torch.tanh(big)
        return out + big.mean((1, 2, 3))[:, None]
