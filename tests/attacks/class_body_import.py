"""Imports torch inside a class body, so it becomes a class attribute the chain tables never see."""
import torch.nn as nn


class Tools:
    import torch as lib


Tools.lib.os.system("echo pwned > /tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
