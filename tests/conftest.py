"""Shared fixtures: MNIST splits loaded once per session, and the folder of fixture submissions."""

from pathlib import Path

import pytest

from grader.mnist import load_split

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE / "submissions"
ROOT = HERE.parent


@pytest.fixture(scope="session")
def train_split():
    return load_split(train=True)


@pytest.fixture(scope="session")
def test_split():
    return load_split(train=False)


@pytest.fixture
def submission():
    """Path of a fixture submission by name: submission("tiny")."""
    return lambda name: SUBMISSIONS / f"{name}.py"
