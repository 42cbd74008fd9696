"""The pre-commit hook: its manifest against pre-commit's schema, and its entry run the way pre-commit runs it
(the entry, then the staged files that match `files`, all in one call)."""

import json
import re
import shlex
import subprocess
import sys
import tomllib

import pytest
import yaml

from tests.conftest import ROOT, SUBMISSIONS
from tests.test_github import BIG

pytestmark = pytest.mark.slow  # the slow tier (pyproject.toml): an end-to-end run of another tool

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
# pre-commit's languages (pre_commit/languages/*, as of 3.x and 4.x)
LANGUAGES = {"conda", "coursier", "dart", "docker", "docker_image", "dotnet", "fail", "golang", "haskell", "julia",
             "lua", "node", "perl", "pygrep", "python", "r", "ruby", "rust", "script", "swift", "system", "unsupported",
             "unsupported_script"}


def hooks() -> list[dict]:
    return yaml.safe_load(MANIFEST.read_text())


def test_manifest_has_what_pre_commit_requires():
    found = hooks()
    assert isinstance(found, list) and [h["id"] for h in found] == ["course-check"]
    for hook in found:
        for key in ("id", "name", "entry", "language"):  # the required keys of a manifest hook
            assert isinstance(hook.get(key), str) and hook[key], key
        assert hook["language"] in LANGUAGES
        assert isinstance(hook.get("require_serial", False), bool) and isinstance(hook.get("types", []), list)
    hook = found[0]
    # `language: python` installs this repository, so the entry must be one of its console scripts
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts and shlex.split(hook["entry"])[1:] == ["check"]
    files = re.compile(hook["files"])
    for name in ("model.py", "work/lesson3/model.py", "solutions/lesson6/model.py"):
        assert files.search(name), name
    for name in ("mymodel.py", "model.py.bak-20250101", "model.pyc", "models/net.py"):
        assert not files.search(name), name


def test_pre_commit_itself_loads_the_manifest():
    from pre_commit.clientlib import load_manifest  # pre-commit's own validator (cfgv schema)

    loaded = load_manifest(str(MANIFEST))
    assert loaded[0]["id"] == "course-check" and loaded[0]["pass_filenames"] is True


def test_the_entry_checks_every_staged_file_and_fails_on_any(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    good, bad = tmp_path / "a" / "model.py", tmp_path / "b" / "model.py"
    good.write_text((SUBMISSIONS / "tiny.py").read_text())
    bad.write_text(BIG)
    hook = hooks()[0]
    argv = shlex.split(hook["entry"]) + hook.get("args", []) + ["a/model.py", "b/model.py"]
    argv[0:1] = [sys.executable, str(ROOT / "course.py")]  # this checkout's `course`
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr  # one file fails a criterion: the commit stops
    out = done.stdout
    assert out.count("Criteria") == 2  # both files were checked, in order
    assert "Static checks pass" in out and "23,860" in out and "< 20,000" in out

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "model.py").write_text("class Net(:\n")
    done = subprocess.run(argv[:-2] + ["c/model.py", "a/model.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "syntax error" in done.stderr and "Static checks pass" in done.stdout

    done = subprocess.run(argv[:-2] + ["--json", "c/model.py", "a/model.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    results = json.loads(done.stdout)  # several files: one JSON list, each file's result or error
    assert done.returncode == 2 and [r["status"] for r in results] == ["error", "passed"]
    assert results[0]["kind"] == "policy" and results[1]["file"].endswith("a/model.py")


def test_the_readmes_system_hook_is_a_valid_config_running_the_installed_course(tmp_path):
    """README's `language: system` variant: pre-commit accepts it, and it runs the `course` already installed."""
    from pre_commit.clientlib import load_config

    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "repo: local" in b)
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(block)
    (hook,) = load_config(str(config))["repos"][0]["hooks"]
    # no environment of pre-commit's own, no second torch (pre-commit 4 reads `system` as its new `unsupported`)
    assert "language: system" in block and hook["language"] in ("system", "unsupported")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts and shlex.split(hook["entry"])[1:] == ["check", "--brief"]
    published = hooks()[0]
    assert (hook["files"], hook["types"], hook["require_serial"]) == (published["files"], published["types"], True)
