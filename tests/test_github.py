"""GitHub Actions: `--format github` annotations and job summary, and action.yml run step by step the way the
runner runs a composite action (inputs substituted, INPUT_* set, a fake $GITHUB_STEP_SUMMARY)."""

import os
import re
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from course import cli
from grader.views import github
from tests.conftest import ROOT, SUBMISSIONS

BIG = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        self.fc = nn.Linear(784, 30)\n        self.out = nn.Linear(30, 10)\n\n"
       "    def forward(self, x):\n        return self.out(self.fc(x.view(x.size(0), -1)))\n")
COMMAND = re.compile(r"^::(?P<kind>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")


def parse_command(line: str) -> tuple[str, dict, str]:
    """A workflow command read back the way the runner reads it (unescaping its properties and message)."""
    m = COMMAND.match(line)
    assert m, f"not a workflow command: {line!r}"
    def unescape(s: str) -> str:
        for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
            s = s.replace(code, char)
        return s

    props = dict(p.split("=", 1) for p in m.group("props").split(",")) if m.group("props") else {}
    return m.group("kind"), {k: unescape(v) for k, v in props.items()}, unescape(m.group("message"))


def test_escaping_follows_the_runners_rules():
    assert github.escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "line one\nline: two, 100%", file="dir,x/m:odel.py", line=3, col=None)
    assert line == "::error file=dir%2Cx/m%3Aodel.py,line=3::line one%0Aline: two, 100%25"
    assert parse_command(line) == ("error", {"file": "dir,x/m:odel.py", "line": "3"}, "line one\nline: two, 100%")


def run_cli(args, tmp_path, monkeypatch, summary=True):
    if summary:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    else:
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_a_failed_criterion_is_an_error_on_the_net_line_and_a_summary_table(tmp_path, monkeypatch):
    model = tmp_path / "model.py"
    model.write_text(BIG)
    result = run_cli(["check", model, "--format", "github"], tmp_path, monkeypatch)
    assert result.exit_code == 1  # the exit code is the same as without --format github
    kind, props, message = parse_command(result.output.strip())
    assert kind == "error" and props["file"] == "model.py" and props["line"] == "4"  # class Net is on line 4
    assert message == "Parameters: measured 23,860, needs < 20,000" and props["title"] == "course check: max_params"
    summary = (tmp_path / "summary.md").read_text()
    assert "### course check: `model.py` (the course target): failed" in summary
    assert "| Parameters | 23,860 | < 20,000 | ❌ fail |" in summary


def test_policy_findings_are_annotated_at_their_line_and_column(tmp_path, monkeypatch):
    model = tmp_path / "model.py"
    model.write_text("import os\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n\nx = input()\n")
    result = run_cli(["check", model, "--format", "github"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    found = [parse_command(line) for line in result.output.strip().splitlines()]
    assert [(p["file"], p["line"], p["col"]) for _, p, _ in found] == [("model.py", "1", "1"), ("model.py", "8", "5")]
    assert all(kind == "error" and p["title"] == "course check: refused" for kind, p, _ in found)
    assert "input()" in found[1][2]
    assert "could not be judged" in (tmp_path / "summary.md").read_text()


def test_a_skipped_import_is_a_warning_at_its_line_and_column(tmp_path, monkeypatch):
    model = tmp_path / "model.py"
    model.write_text("from tqdm import tqdm\n" + BIG + '\nif __name__ == "__main__":\n    print(open("x"))\n')
    result = run_cli(["check", model, "--format", "github"], tmp_path, monkeypatch)
    assert result.exit_code == 1  # the failed criterion decides, never the warning
    found = [parse_command(line) for line in result.output.strip().splitlines()]
    assert [kind for kind, _, _ in found] == ["error", "warning"]
    kind, props, message = found[1]
    assert (props["file"], props["line"], props["col"]) == ("model.py", "1", "1")
    assert props["title"] == "course check: warning"
    assert message.startswith("`from tqdm import tqdm` is not used by the model, so the grader skips it")


def test_a_pass_is_a_notice_and_no_summary_file_is_needed(tmp_path, monkeypatch):
    result = run_cli(["check", SUBMISSIONS / "tiny.py", "--lesson", "lesson1", "--format", "github"], tmp_path,
                     monkeypatch, summary=False)
    assert result.exit_code == 0, result.output
    kind, props, message = parse_command(result.output.strip())
    assert kind == "notice" and message == "passed every criterion" and props["line"] == "9"
    assert not (tmp_path / "summary.md").exists()


def test_grade_summary_has_the_criteria_and_every_epoch():
    from grader.api import GradeResult
    from grader.record import RunRecord
    from tests.gradebook_records import make_record

    record = RunRecord.from_dict(make_record("x", params=9_000, accs=(98.0, 99.45)))
    text = github.grade_summary(GradeResult(record, "lesson6"), SUBMISSIONS / "tiny.py")
    assert "course grade: " in text and ": passed" in text
    assert "| Best test accuracy within 20 epochs | 99.45 % | >= 99.4 % | ✅ pass |" in text
    assert "| 2 | " in text and "| 99.45 |" in text
    lines = github.verdict_annotations(record.verdict, SUBMISSIONS / "tiny.py", "grade")
    assert [parse_command(line)[0] for line in lines] == ["notice"]


# --------------------------------------------------------------------------------- action.yml, as the runner


def _expression(text: str, inputs: dict) -> str:
    """The few ${{ }} expressions action.yml uses; anything else fails the test, so it cannot go unproven."""

    def value(m):
        expr = m.group(1).strip()
        eq = re.fullmatch(r"inputs\.([\w-]+) == '([^']*)'", expr)
        if eq:
            return "true" if inputs[eq.group(1)] == eq.group(2) else "false"
        if re.fullmatch(r"inputs\.[\w-]+", expr):
            return inputs[expr[len("inputs."):]]
        if expr == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"the test runner does not know the expression {expr!r}")

    return re.sub(r"\$\{\{(.*?)\}\}", value, str(text))


def run_action(tmp_path, **given) -> tuple[list[tuple[str, subprocess.CompletedProcess]], str]:
    """Run action.yml's `run:` steps in order, as the runner would; stop at the first failing step."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    inputs.update(given)
    bin_dir = tmp_path / "bin"  # `course` is this checkout, as `pip install "$GITHUB_ACTION_PATH"` would make it
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "course").write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'course.py'} \"$@\"\n")
    (bin_dir / "course").chmod(0o755)
    summary = tmp_path / "step_summary.md"
    base = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary), "CI": "true",
            **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    ran = []
    for step in action["runs"]["steps"]:
        if "uses" in step or step.get("id") in ("install", "cache-key"):
            continue  # the runner's own actions and the install (network, pip's cache: test_packaging.py) are left out
        assert step["shell"] == "bash"
        condition = step.get("if")
        if condition is not None and _expression(condition, inputs) != "true":
            continue
        env = {**base, **{k: _expression(v, inputs) for k, v in (step.get("env") or {}).items()}}
        assert "${{" not in step["run"], "inputs go through env:, never into the script"
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        ran.append((step["id"], done))
        if done.returncode != 0:
            break
    return ran, summary.read_text() if summary.exists() else ""


@pytest.mark.slow  # the slow tier (pyproject.toml): the action's steps in bash, graded cold
def test_the_action_checks_and_smoke_grades_a_passing_file(tmp_path):
    (tmp_path / "model.py").write_text((SUBMISSIONS / "tiny.py").read_text())
    ran, summary = run_action(tmp_path, lesson="lesson1", **{"quick-grade": "true"})
    assert [step for step, _ in ran] == ["check", "grade"]
    for _, done in ran:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "\x1b" not in done.stdout  # a runner's log is no terminal
    notices = [parse_command(line) for line in ran[1][1].stdout.splitlines() if line.startswith("::")]
    assert notices and notices[0][0] == "notice" and "smoke run" in notices[0][2]
    assert "epoch 1/1: step" in ran[1][1].stdout  # the progress shows in the log as plain lines
    assert "### course check: `model.py` (lesson 1): passed" in summary
    assert "### course grade: `model.py` (lesson 1): smoke" in summary and "| 1 | " in summary


@pytest.mark.slow  # the slow tier (pyproject.toml): the action's steps in bash, checked cold
def test_the_action_fails_the_job_on_a_failed_criterion_and_skips_the_grade(tmp_path):
    (tmp_path / "model.py").write_text(BIG)
    ran, summary = run_action(tmp_path, **{"quick-grade": "true"})
    assert [step for step, _ in ran] == ["check"]
    done = ran[0][1]
    assert done.returncode == 1
    kind, props, _ = parse_command(done.stdout.strip())
    assert kind == "error" and props["file"] == "model.py"
    assert "❌ fail" in summary


def test_the_quick_grade_step_is_off_by_default():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    grade = next(s for s in action["runs"]["steps"] if s.get("id") == "grade")
    assert _expression(grade["if"], {"quick-grade": action["inputs"]["quick-grade"]["default"]}) == "false"
    assert set(action["inputs"]) >= {"file", "lesson", "quick-grade"}


@pytest.mark.parametrize("readme_snippet", ["uses: actions/checkout@v4", "quick-grade: true"])
def test_readme_documents_the_workflow(readme_snippet):
    assert readme_snippet in (ROOT / "README.md").read_text()


def test_the_summary_says_where_the_receptive_field_is_measured(tmp_path):
    """A model with no global pooling has its receptive field at the output, and the summary says so."""
    from types import SimpleNamespace

    from grader.course.verdict import PASSED, Verdict

    rf = {"rf_before_global_pool": 6, "rf_final": 6, "where": "at the output (no global pooling)"}
    result = SimpleNamespace(report={"params": 1_234, "rf": rf}, lesson="lesson1",
                             verdict=Verdict(PASSED, [], message="passed every static criterion"))
    summary = github.check_summary(result, tmp_path / "model.py")
    assert "receptive field 6 at the output (no global pooling)." in summary and "global pooling, " not in summary
    assert "(lesson 1)" in summary
