import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return torch.log(self.fc(x.view(-1, 784)) * 0 - 1)  # log of a negative number
