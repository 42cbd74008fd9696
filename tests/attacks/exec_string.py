"""Hides an import inside a string run by exec()."""
import torch.nn as nn

exec("imp" + "ort os; os.system(\"id\")")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
