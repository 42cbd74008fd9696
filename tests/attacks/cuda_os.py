"""Runs a shell command through torch.cuda.os, a module reached two attributes deep."""
import torch
import torch.nn as nn

torch.cuda.os.system("echo pwned > /tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
