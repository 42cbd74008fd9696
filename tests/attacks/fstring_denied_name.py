"""Hides a refused attribute name in an f-string of literals, which a check of plain string literals would not
read: on the model's own self, f"compile" passed as a "computed" name with a literal prefix and ran
torch.compile in the worker."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        getattr(self, f"compile")()

    def forward(self, x):
        return self.fc(x.flatten(1))
