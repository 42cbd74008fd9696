"""Reaches into the worker and trains fewer epochs than its recipe says, hoping the short run is graded.

The worker no longer trains (the trainer, which never imports this file, does): there is no fit to reach."""
import torch.nn as nn

import grader.worker.session as session

_fit = session.fit


def _short_fit(model, recipe, *args, **kwargs):
    result = _fit(model, recipe, *args, **kwargs)
    result.epochs = result.epochs[:-1]
    return result


session.fit = _short_fit


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
