"""Reaches torch's C internals through an underscore attribute."""
import torch
import torch.nn as nn

torch._C._set_grad_enabled(False)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
