"""Student idioms the policy must accept: `type(m) == nn.Conv2d`, `type(m) is nn.Linear` and
`type(m).__name__` (a one-argument type() in a comparison or for a name), and a module-level init function."""

import torch.nn as nn
import torch.nn.functional as F


def init_weights(m):
    if type(m) == nn.Conv2d:  # noqa: E721 - a common student idiom this model exists to show the policy accepts
        nn.init.xavier_uniform_(m.weight)
    elif type(m) is nn.Linear:
        nn.init.normal_(m.weight, std=0.01)
        nn.init.zeros_(m.bias)
    elif type(m) in (nn.BatchNorm2d, nn.GroupNorm) and type(m).__name__ != "Identity":
        nn.init.constant_(m.weight, 1.0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)
        self.apply(init_weights)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.log_softmax(self.fc(x.flatten(1)), dim=1)
