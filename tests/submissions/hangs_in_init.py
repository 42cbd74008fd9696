"""Net() never returns: `course check` must give up within seconds and say Net() hung."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        n = 1
        while n > 0:  # a loop that never ends
            n += 1
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
