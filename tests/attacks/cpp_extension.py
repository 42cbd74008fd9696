"""Compiles and loads native code with torch.utils.cpp_extension."""
from torch.utils.cpp_extension import load_inline

import torch.nn as nn

evil = load_inline("evil", cpp_sources="int x = system(\"id\");")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
