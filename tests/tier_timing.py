"""How long a test tier takes, measured by pytest itself: `python -m pytest -q --record-time fast` writes the run's
wall time to benchmarks/results/test-tiers.json, which the README quotes through `course docs` markers.

Only a whole tier that passed is recorded: a run narrowed to some files or tests, or one that failed, would be
the time of something else. The tiers are pyproject.toml's: the default (`-m 'not slow'`) and `-m slow`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

RECORD = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "test-tiers.json"
_STARTED = pytest.StashKey[float]()


def pytest_addoption(parser):
    parser.addoption("--record-time", metavar="TIER", default=None,
                     help="write this whole run's wall time under TIER in benchmarks/results/test-tiers.json")


def pytest_sessionstart(session):
    session.stash[_STARTED] = time.monotonic()


@pytest.hookimpl(trylast=True)  # after tests/conftest.py has closed the zygote: its CPU time is then counted
def pytest_sessionfinish(session, exitstatus):
    tier = session.config.getoption("--record-time")
    if tier is None:
        return
    seconds = time.monotonic() - session.stash[_STARTED]
    why_not = unrecordable(session.config, exitstatus)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if why_not:
        if reporter is not None:
            reporter.write_line(f"--record-time: not recorded, {why_not}")
        return
    counts = {k: len(reporter.stats.get(k, [])) for k in ("passed", "skipped", "deselected")} if reporter else {}
    record(RECORD, tier, measurement(session.config, seconds, counts, cpu_seconds()))
    if reporter is not None:
        reporter.write_line(f"--record-time: {tier} took {seconds:.0f} s, written to {RECORD.name}")


def unrecordable(config, exitstatus) -> str | None:
    """Why this run's time is not the time of a tier, or None when it is."""
    if exitstatus != 0:
        return f"the run did not pass (exit status {int(exitstatus)})"
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS or config.getoption("keyword"):
        return "the run was narrowed to some files or tests (-k or paths)"
    if config.getoption("lf", default=False) or config.getoption("maxfail"):
        return "the run was narrowed by --lf or stopped early (-x/--maxfail)"
    return None


def cpu_seconds() -> float | None:
    """CPU time of this process and of every child it has waited for (and theirs): what others' work on a shared
    machine stretches least."""
    try:
        import resource
    except ImportError:
        return None
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measurement(config, seconds: float, counts: dict, cpu: float | None = None) -> dict:
    """What the README quotes (minutes, seconds) and what says where it was measured."""
    markexpr = config.getoption("markexpr")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "command": "python -m pytest -q" + (f" -m {markexpr!r}" if markexpr and markexpr != "not slow" else ""),
        "marker_expression": markexpr,
        "seconds": round(seconds, 1),
        "minutes": round(seconds / 60, 1),
        "cpu_seconds": round(cpu, 1) if cpu is not None else None,
        "tests": counts,
        "cores": cores,
        # Others' work slows a run down: the 1-minute load average as it ended says how busy the machine was.
        "load_average_at_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def record(path: Path, tier: str, entry: dict) -> None:
    """Put `entry` under `tier` in the results file, keeping the other tiers' entries."""
    try:
        tiers = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tiers = {}
    tiers[tier] = entry
    path.write_text(json.dumps(tiers, indent=2, sort_keys=True) + "\n", encoding="utf-8")
