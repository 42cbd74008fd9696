"""23.5 million parameters where the course allows 20,000: refused before any training starts."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 30_000)
        self.fc2 = nn.Linear(30_000, 10)

    def forward(self, x):
        return self.fc2(self.fc1(x.flatten(1)).relu())
