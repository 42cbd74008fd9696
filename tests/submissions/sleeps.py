"""Never finishes building: the wall-clock timeout must stop it."""
import time

import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        time.sleep(3600)
