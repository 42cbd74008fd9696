"""course's grading library: measure, train and judge one MNIST submission."""

__version__ = "0.1.0"
