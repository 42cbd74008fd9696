"""Loads weights trained elsewhere from a file next to the submission."""
import torch
import torch.nn as nn

STATE = torch.load("weights.pt")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
