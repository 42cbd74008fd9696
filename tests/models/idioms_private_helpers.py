"""Student idioms the policy must accept: private helpers of the model's own class (`self._make_layer`,
`self._block`, `self._init_weights()`), and `m.__class__.__name__` read in an init loop."""

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self._stem = self._block(1, 8)  # 28 -> 14
        self.features = self._make_layer(8, 16, blocks=2)  # 14 -> 7 -> 3
        self._head = nn.Linear(16, 10)
        self._init_weights()

    def _block(self, c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                             nn.MaxPool2d(2))

    def _make_layer(self, c_in, c_out, blocks):
        layers = [self._block(c_in, c_out)]
        for _ in range(blocks - 1):
            layers.append(self._block(c_out, c_out))
        return nn.Sequential(*layers)

    def _init_weights(self):
        for m in self.modules():
            name = m.__class__.__name__
            if name.find("Conv") != -1:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif name.find("BatchNorm") != -1:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(self._stem(x))
        return self._head(torch.flatten(x.mean((2, 3), keepdim=True), 1))
