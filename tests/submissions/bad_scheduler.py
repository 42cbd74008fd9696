"""OneCycleLR built for too few steps: stepping it past total_steps raises."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=5)
