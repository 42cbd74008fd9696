"""Downloads a pretrained model with torch.hub."""
import torch
import torch.nn as nn

PRETRAINED = torch.hub.load("someone/mnist-models", "best")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
