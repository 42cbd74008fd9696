"""Hides torch in a dict, so the chain that reaches os no longer starts with an imported name."""
import torch
import torch.nn as nn

tools = {"t": torch}
tools["t"].os.system("echo pwned > /tmp/course-attack-canary")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
