"""Reads the test labels through the grader's own loader at import, as a submission past the policy would: the
worker's walls must not let it read the MNIST folder (the parent hands it the training split only)."""
import torch.nn as nn

from grader.mnist import load_split

TEST_LABELS = load_split(train=False).labels  # would let forward() look answers up


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
