"""DropConnect on the head's weights: dropout of a Parameter, which the cheaper mask draw leaves to torch's kernel."""
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH_SIZE = 64


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.bn2 = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.05)
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.bn1(F.relu(self.conv1(x))), 2)
        x = self.drop(F.max_pool2d(self.bn2(F.relu(self.conv2(x))), 2))
        weight = F.dropout(self.head.weight, 0.1, self.training)  # DropConnect
        return F.log_softmax(F.conv2d(x, weight, self.head.bias).mean((2, 3)), dim=1)


def make_optimizer(model, steps_per_epoch, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.2, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.2
    )
    return optimizer, scheduler
