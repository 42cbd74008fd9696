"""`course check --brief` (grader/views/brief.py): only what fails, one `FILE:LINE: ...` line each."""

import json
import re

from click.testing import CliRunner

from course import cli
from grader.views import brief
from tests.conftest import SUBMISSIONS
from tests.test_github import BIG

LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): (?P<label>[^:]+): "
                  r"measured (?P<measured>.+), needs (?P<needs>.+)$")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_each_failed_criterion_is_one_line_at_the_net_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(BIG)
    result = invoke("check", "model.py", "--lesson", "lesson6", "--brief")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    failed = [c for c in json.loads(invoke("check", "model.py", "--lesson", "lesson6", "--json").output)
              ["verdict"]["criteria"] if c["passed"] is False]
    assert len(lines) == len(failed) >= 2  # failed criteria only: the passing rows are left out
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    assert {m["file"] for m in found} == {"model.py"} and {m["line"] for m in found} == {"4"}  # `class Net` is line 4
    assert "model.py:4: Parameters: measured 23,860, needs < 20,000" in lines
    assert all("\x1b" not in line and len(line) < 120 for line in lines)


def test_a_file_that_passes_prints_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text((SUBMISSIONS / "tiny.py").read_text())
    result = invoke("check", "model.py", "--lesson", "lesson1", "--brief")
    assert result.exit_code == 0 and result.output == ""


def test_refused_and_unreadable_files_are_their_located_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "model.py").write_text("class Net(:\n")
    (tmp_path / "b" / "model.py").write_text(BIG)
    result = invoke("check", "a/model.py", "b/model.py", "--brief")
    assert result.exit_code == 2  # one file could not be checked
    lines = result.output.splitlines()
    assert lines[0].startswith("a/model.py:1:") and "syntax error" in lines[0]
    assert lines[1:] == ["b/model.py:4: Parameters: measured 23,860, needs < 20,000"]

    result = invoke("check", "a/model.py", "--brief")  # one file: the same line, through the command's error path
    assert result.exit_code == 2 and result.output.splitlines() == lines[:1]


def test_an_error_without_a_line_is_one_line_on_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert brief.error_lines("Net() failed:\n  needs an argument", tmp_path / "model.py") == [
        "model.py: Net() failed: needs an argument"]
    assert brief.error_lines("model.py:3:1: no\nmodel.py:5:2: nor this", "model.py") == [
        "model.py:3:1: no", "model.py:5:2: nor this"]
    result = invoke("check", tmp_path / "missing.py", "--brief")
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1 and "missing.py" in result.output
