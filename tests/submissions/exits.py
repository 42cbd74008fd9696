"""Leaves the worker at import time: an error, never a pass."""
import sys

import torch.nn as nn

sys.exit(0)


class Net(nn.Module):
    pass
