"""Shared fixtures: MNIST splits loaded once per session, the folder of fixture submissions, and one warm zygote
that every grading in the session starts its children from, except in tests marked `cold`; the tier timings
(tests/tier_timing.py)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.mnist import load_split

pytest_plugins = ["tests.tier_timing"]  # --record-time: the README's tier timings

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


class SessionZygote:
    """One zygote for the whole session, warming up while pytest collects. Its children are the cold ones, forked
    instead of started: tests/test_zygote.py proves a warm grading's figures and walls are the cold one's.

    It starts before any test has run, so no test's temporary directory, working directory or environment
    becomes the zygote's; COURSE_ZYGOTE=off (or no fork) leaves every grading cold.
    """

    def __init__(self):
        from grader.host.zygote import KeptZygote

        self._kept = KeptZygote(name="session-zygote")

    def launch(self, module: str, **kwargs):
        """grader.channel.cold_start's shape: the child, forked from the session's zygote once it is up (started
        cold where it could not start)."""
        zygote = self._kept.wait()
        if zygote is None:
            from grader.channel import cold_start

            return cold_start(module, **kwargs)
        return zygote.launch(module, **kwargs)

    def borrowed(self):
        """What grader.host.zygote.warm_launcher returns in a test: this zygote, left up by the borrower's close()."""
        return SimpleNamespace(launch=self.launch, close=lambda: None)

    def close(self) -> None:
        self._kept.close()


_ZYGOTE = pytest.StashKey[SessionZygote]()


def pytest_sessionstart(session):
    if not session.config.option.collectonly:
        session.config.stash[_ZYGOTE] = SessionZygote()


def pytest_sessionfinish(session):
    if _ZYGOTE in session.config.stash:
        session.config.stash[_ZYGOTE].close()


@pytest.fixture(autouse=True)
def _warm_gradings(request, monkeypatch):
    """Every grading and check a test runs in this process starts its children from the session's zygote, unless
    the test is marked `cold` (it is about the cold path: a fresh interpreter per child, its startup, its walls).

    A grading's fixed cost is its children's startup (about 5.5 s cold, about 1 s warm on two cores): this is what
    keeps the fast tier short. An explicit `launch=` still wins: only the default is replaced. The batch pool,
    `course verify` and `course watch`, which start a zygote of their own, borrow the session's instead.
    """
    zygote = request.config.stash.get(_ZYGOTE, None)
    if request.node.get_closest_marker("cold") or zygote is None:
        return
    from grader.host import grading
    from grader.host import zygote as host_zygote

    for function in (grading.check, grading.grade):
        # A renamed or positional `launch` would leave every grading cold without a word: say so instead.
        assert "launch" in (function.__kwdefaults__ or {}), f"{function.__qualname__} lost its keyword `launch`"
        monkeypatch.setitem(function.__kwdefaults__, "launch", zygote.launch)
    monkeypatch.setattr(host_zygote, "warm_launcher", zygote.borrowed)
