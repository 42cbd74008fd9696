import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)[:, :10]
