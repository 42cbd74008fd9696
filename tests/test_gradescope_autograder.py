"""grader.gradescope.autograder: the zip run the way Gradescope runs it (a temporary /autograder with source/,
submission/, results/), and which lessons fit Gradescope's time limit."""

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SUBMISSIONS
from tests.test_gradescope_results import TOP_LEVEL, assert_gradescope_results

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each

# ------------------------------------------------------------------------------------------- autograder


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    """The zip `course autograder lesson1 --quick` builds (once: it runs `pip wheel`)."""
    from click.testing import CliRunner

    from course import cli

    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    result = CliRunner().invoke(cli, ["teach", "autograder", "lesson1", "--quick", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    return out


def test_the_zip_has_the_scripts_at_its_root_and_the_course_as_a_wheel(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder", "autograder.json", "constraints.txt"} <= set(names)  # at the root
        wheel = next(n for n in names if n.endswith(".whl"))
        mode = zf.getinfo("run_autograder").external_attr >> 16
        assert mode & 0o111, "run_autograder must be executable"
        config = json.loads(zf.read("autograder.json"))
        options = config["options"]
        assert config["lesson"] == "lesson1" and options["quick"] is True and options["timeout"] < 40 * 60
        assert options["device"] == "cpu"  # Gradescope has no GPU
        with zf.open(wheel) as fh, zipfile.ZipFile(fh) as whl:
            inside = set(whl.namelist())
    # the wheel carries the whole course: lessons, the bundled MNIST and the command
    assert "grader/_assets/lessons/lesson1/lesson.toml" in inside
    assert any(n.startswith("grader/_assets/data/MNIST/raw/") and n.endswith(".gz") for n in inside)
    assert "course.py" in inside and "grader/gradescope/autograder.py" in inside


def test_setup_updates_apt_first_pins_torch_and_installs_the_dependencies(autograder_zip):
    """What the offline run below cannot show: the image's package lists, the pinned pair, no bare --no-deps."""
    from grader.gradescope.autograder import SETUP_SH

    with zipfile.ZipFile(autograder_zip) as zf:
        assert zf.read("constraints.txt").decode() == (ROOT / "constraints.txt").read_text()
        assert zf.read("setup.sh").decode() == SETUP_SH
    lines = [line.strip() for line in SETUP_SH.splitlines() if not line.strip().startswith("#")]
    update = next(i for i, line in enumerate(lines) if line.startswith("apt-get update"))
    install = next(i for i, line in enumerate(lines) if line.startswith("apt-get install"))
    assert update < install
    assert '-c "$ROOT/source/constraints.txt"' in SETUP_SH and "--no-deps" not in SETUP_SH


def _gradescope_layout(tmp_path: Path, autograder_zip: Path, submission: Path | None) -> Path:
    """ROOT/source holds the extracted zip, ROOT/submission the student's upload, as Gradescope lays them out."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)  # zipfile does not restore modes; Gradescope's unzip does
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copy(submission, root / "submission" / "model.py")
    return root


def _venv_seeing_these_packages(root: Path) -> None:
    """ROOT/venv, made before setup.sh runs (which then reuses it), that sees the packages this interpreter sees.

    Not `--system-site-packages`: that shows the BASE interpreter's packages, which lack torch when the tests run
    in a virtual environment. A .pth line adds each of this interpreter's site folders (pip too) after the venv's
    own, so the course setup.sh installs there still comes first.
    """
    venv = root / "venv"
    # without its own pip and setuptools: an old bundled setuptools would come before ours, and torch needs a newer
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True,
                   timeout=300)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", where], check=True, capture_output=True,
                             text=True).stdout.strip()
    ours = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    (Path(purelib) / "course_test_parent_site.pth").write_text("\n".join(ours) + "\n")


@pytest.mark.slow  # the slow tier (pyproject.toml): builds a wheel and a venv, as Gradescope's setup does
def test_setup_installs_the_wheel_and_run_autograder_writes_results(autograder_zip, tmp_path):
    root = _gradescope_layout(tmp_path, autograder_zip, SUBMISSIONS / "tiny.py")
    # setup.sh as Gradescope runs it, minus the network: torch and the course's other dependencies come from the
    # interpreter running these tests (a venv or not), the course from the wheel alone (--no-index), so the
    # installed `course` is the wheel's, not this checkout.
    _venv_seeing_these_packages(root)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_SETUP_OFFLINE": "1", "PYTHONPATH": ""}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                           timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "course 0." in setup.stdout
    venv_python = root / "venv" / "bin" / "python"
    where = subprocess.run([str(venv_python), "-c", "import grader; print(grader.__file__)"], cwd=root,
                           env={**env, "PYTHONPATH": ""}, capture_output=True, text=True)
    assert str(root / "venv") in where.stdout, where.stdout + where.stderr

    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root,
                          env={**env, "PYTHONPATH": ""}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b" not in done.stdout  # Gradescope's stdout is a file: plain lines
    doc = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(doc)
    names = [t["name"] for t in doc["tests"]]
    assert names[0] == "Parameters" and names[-1].startswith("Best test accuracy")
    params, accuracy = doc["tests"]
    assert params["status"] == "passed" and params["output"] == "measured 3,818 (needs < 100,000)"
    # a --quick grading proves no accuracy: that test scores nothing and says why
    assert accuracy["score"] == 0 and "not judged" in accuracy["output"]
    assert doc["score"] == 1 and doc["extra_data"]["lesson"] == "lesson1" and doc["extra_data"]["quick"] is True
    board = {e["name"]: e["value"] for e in doc["leaderboard"]}
    assert board["Parameters"] == 3818 and 50 < board["Best test accuracy (%)"] <= 100
    assert doc["stdout_visibility"] == "hidden" and doc["execution_time"] >= 1


def test_a_broken_submission_still_gets_results(autograder_zip, tmp_path):
    root = _gradescope_layout(tmp_path, autograder_zip, SUBMISSIONS / "syntax_error.py")
    bin_dir = tmp_path / "bin"  # `course` on PATH is this checkout (setup.sh was proven above)
    bin_dir.mkdir()
    (bin_dir / "course").write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'course.py'} \"$@\"\n")
    (bin_dir / "course").chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(doc)
    assert doc["score"] == 0 and len(doc["tests"]) == 1
    assert "syntax error" in doc["tests"][0]["output"] and "model.py:4:" in doc["tests"][0]["output"]
    assert doc["tests"][0]["max_score"] == doc["extra_data"]["max_score"] == 2  # lesson1: parameters 1, accuracy 1

    (root / "submission" / "model.py").unlink()
    (root / "results" / "results.json").unlink()
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    doc = json.loads((root / "results" / "results.json").read_text())
    assert doc["score"] == 0 and "upload one file called model.py" in doc["tests"][0]["output"]


def test_run_autograder_leaves_results_even_when_the_course_cannot_start(autograder_zip, tmp_path):
    root = _gradescope_layout(tmp_path, autograder_zip, SUBMISSIONS / "tiny.py")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "course").write_text("#!/bin/sh\necho 'ImportError: no torch' >&2\nexit 1\n")
    (bin_dir / "course").chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True, timeout=60)
    doc = json.loads((root / "results" / "results.json").read_text())
    assert doc["score"] == 0 and "could not start" in doc["output"] and set(doc) <= TOP_LEVEL


def test_unknown_lesson_fails_before_building(tmp_path):
    from click.testing import CliRunner

    from course import cli

    result = CliRunner().invoke(cli, ["autograder", "lesson99", "-o", str(tmp_path / "a.zip")])
    assert result.exit_code == 2 and "no lesson called 'lesson99'" in result.output
    assert not (tmp_path / "a.zip").exists()


def test_which_lessons_fit_is_computed_from_one_thread_cpu_rows():
    from dataclasses import replace

    from grader.authoring.results import ResultRow
    from grader.gradescope.autograder import GRADESCOPE_BUDGET_S, fit_table, fits

    def row(lesson, seconds, device="CPU (x86_64, 1 threads)", quick=False):
        n = len(seconds)
        return ResultRow(lesson, f"solutions/{lesson}/model.py", "0" * 64, device, 1, 1, list(range(n)), [99.0] * n,
                         [99.0] * n, [1] * n, [3] * n, [True] * n, list(seconds), "now", "cmd", quick=quick)

    edge = GRADESCOPE_BUDGET_S / 2  # twice this is exactly the grading budget: still fits
    rows = [row("lesson1", [60, edge]), row("lesson2", [edge + 1]), row("lesson3", [10], device="NVIDIA H100"),
            row("lesson4", [10], quick=True), row("lesson5", [10], device="CPU (x86_64, 2 threads)")]
    rows.append(replace(row("lesson1", [9999]), file="solutions/lesson1/hint_path.py"))  # not the solution
    assert [(f.lesson, f.fits) for f in fits(rows)] == [("lesson1", True), ("lesson2", False)]
    table = fit_table(rows)
    assert "| lesson1 | 3 | 1m 00s, 17m 30s | 35m 00s | yes |" in table and "**no**: GPU box" in table


@pytest.mark.parametrize("timeout, words", [(30, "at least 60"), (40 * 60, "reaches Gradescope's limit")])
def test_a_timeout_gradescope_cannot_keep_is_refused_before_building(tmp_path, timeout, words):
    from grader.course.options import GradeOptions
    from grader.errors import UsageError
    from grader.gradescope.autograder import AutograderConfig, build

    with pytest.raises(UsageError, match=words):
        build(AutograderConfig("lesson1", GradeOptions(timeout=timeout)), tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()
