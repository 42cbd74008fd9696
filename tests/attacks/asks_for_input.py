"""Waits for keyboard input, hanging the grading."""
import torch.nn as nn

ANSWER = input("label? ")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
