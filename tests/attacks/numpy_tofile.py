"""Writes a file through numpy, which a torch tensor hands out."""
import torch
import torch.nn as nn

torch.zeros(3).numpy().tofile("/tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
