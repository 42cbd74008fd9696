"""Writes a file outside the worker's directory with torch.save."""
import torch
import torch.nn as nn

torch.save({"pwned": 1}, "/tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
