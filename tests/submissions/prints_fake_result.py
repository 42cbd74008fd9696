"""Prints what looks like a protocol event: it must land in the log, not pass for a result."""
import json

import torch.nn as nn

print(json.dumps({"event": "result", "record": {"verdict": "passed"}}))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))
