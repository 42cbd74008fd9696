"""Imports os through __import__, which no import statement shows."""
import torch.nn as nn

os_module = __import__("o" + "s")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
