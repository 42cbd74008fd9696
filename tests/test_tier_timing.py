"""The tier timings the README quotes: pytest's own measurement of a whole tier, written only when the whole
tier ran and passed."""

import json

import pytest

from tests import tier_timing

pytest_plugins = ["pytester"]

SUITE = """
def test_one():
    assert True

def test_two():
    assert True
"""


@pytest.fixture
def suite(pytester, tmp_path, monkeypatch):
    """A two-test suite run in-process with the timing plugin, writing to a results file of its own."""
    record = tmp_path / "test-tiers.json"
    record.write_text(json.dumps({"slow": {"seconds": 150.0}}))
    monkeypatch.setattr(tier_timing, "RECORD", record)
    pytester.makeini("[pytest]\ntestpaths = suite\n")
    pytester.mkpydir("suite").joinpath("test_suite.py").write_text(SUITE)
    return pytester, record


def test_a_whole_passing_tier_is_recorded_beside_the_other_tiers(suite):
    pytester, record = suite
    pytester.runpytest_inprocess("-p", "tests.tier_timing", "--record-time", "fast").assert_outcomes(passed=2)
    tiers = json.loads(record.read_text())
    assert tiers["slow"] == {"seconds": 150.0}  # the other tier's entry is kept
    fast = tiers["fast"]
    assert fast["tests"]["passed"] == 2 and fast["command"] == "python -m pytest -q"
    assert 0 <= fast["seconds"] < 60 and fast["minutes"] == round(fast["seconds"] / 60, 1)  # two empty tests
    assert fast["cpu_seconds"] > 0 and fast["cores"] >= 1


@pytest.mark.parametrize("narrowing, why", [
    (["-k", "one"], "narrowed"), (["suite/test_suite.py"], "narrowed"), (["-x"], "stopped early")])
def test_a_narrowed_run_is_not_the_tier_s_time(suite, narrowing, why):
    pytester, record = suite
    result = pytester.runpytest_inprocess("-p", "tests.tier_timing", "--record-time", "fast", *narrowing)
    result.stdout.fnmatch_lines([f"*not recorded*{why}*"])
    assert "fast" not in json.loads(record.read_text())


def test_a_failing_run_is_not_recorded(suite):
    pytester, record = suite
    pytester.path.joinpath("suite", "test_suite.py").write_text(SUITE + "\ndef test_three():\n    assert False\n")
    result = pytester.runpytest_inprocess("-p", "tests.tier_timing", "--record-time", "fast")
    result.stdout.fnmatch_lines(["*not recorded*did not pass*"])
    assert "fast" not in json.loads(record.read_text())


def test_every_tier_the_readme_quotes_was_recorded_whole_and_passing():
    """The README's test times come from `--record-time` runs of a whole tier that passed, never from a hand."""
    import re

    readme = (tier_timing.RECORD.parents[2] / "README.md").read_text(encoding="utf-8")
    quoted = set(re.findall(r"<!-- value: json:(\w+)\.\S* benchmarks/results/test-tiers\.json -->", readme))
    tiers = json.loads(tier_timing.RECORD.read_text()) if quoted else {}
    expressions = {"fast": "not slow", "slow": "slow"}  # pyproject.toml's tiers
    for tier in quoted:
        entry = tiers[tier]
        assert entry["marker_expression"] == expressions[tier], (tier, entry["marker_expression"])
        assert entry["seconds"] > 0 and entry["tests"]["passed"] > 0
