"""Starts a process with a name imported from subprocess."""
from subprocess import run

import torch.nn as nn

run(["sh", "-c", "echo pwned > /tmp/course-attack-canary"])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
