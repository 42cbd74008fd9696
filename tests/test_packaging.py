"""A non-editable install (`pip install .`) must still find the lessons, solutions and data."""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    from grader.gradescope.autograder import build_isolation

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *build_isolation(), "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("course-*.whl")
    return path


def test_wheel_carries_every_lesson_solution_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "course.py" in names and "grader/trainer/train.py" in names
    for lesson in sorted((ROOT / "lessons").glob("lesson*/lesson.toml")):
        folder = lesson.parent.name
        for file in ("lesson.toml", "README.md", "model.py"):
            if (lesson.parent / file).exists():
                assert f"grader/_assets/lessons/{folder}/{file}" in names
    for solution in (ROOT / "solutions").glob("lesson*/model.py"):
        assert f"grader/_assets/solutions/{solution.parent.name}/model.py" in names
    for data in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "SHA256SUMS"):
        assert f"grader/_assets/data/MNIST/raw/{data}" in names


def test_installed_copy_resolves_its_own_assets(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    code = (
        "from grader.paths import lessons_dir, bundled_data_dir; from grader.course.lesson import lesson_ids; "
        "from grader.mnist import load_split; "
        "print(lessons_dir()); print(len(lesson_ids())); print(len(load_split(train=False)))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("COURSE_DATA_DIR", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lessons, count, test_images = proc.stdout.split()
    assert lessons.startswith(str(site)) and lessons.endswith("grader/_assets/lessons")
    assert int(count) == len(list((ROOT / "lessons").glob("lesson*/lesson.toml")))
    assert test_images == "10000"


# ------------------------------------------------------------------ action.yml: the install a runner does


def _action_steps() -> list[dict]:
    import yaml

    return yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]


def test_the_action_pins_torch_and_restores_pips_cache_before_installing():
    steps = _action_steps()
    ids = [s.get("id") or s.get("uses", "").split("@")[0] for s in steps]
    assert ids.index("cache-key") < ids.index("actions/cache") < ids.index("install")
    cache = steps[ids.index("actions/cache")]["with"]
    assert "steps.cache-key.outputs.dir" in cache["path"] and "steps.cache-key.outputs.hash" in cache["key"]
    install = steps[ids.index("install")]["run"]
    pins = install.count('"${pin[@]}"')
    assert 'pin=(-c "$GITHUB_ACTION_PATH/constraints.txt")' in install
    assert pins == install.count("pip install") == 2  # every pip install is pinned, torch's CPU build included
    assert "download.pytorch.org/whl/cpu torch torchvision" in install


def test_the_cache_key_step_names_pips_folder_and_hashes_the_pins(tmp_path):
    step = next(s for s in _action_steps() if s.get("id") == "cache-key")
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_OUTPUT": str(output)}
    bin_dir = tmp_path / "bin"  # `python` as setup-python leaves it on PATH: here, the interpreter running this
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["dir"] and len(outputs["hash"]) == 16 and int(outputs["hash"], 16) >= 0


def test_the_readmes_set_up_names_the_python_a_venv_and_the_pinned_cpu_torch():
    import tomllib

    setup = (ROOT / "README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    needs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert needs == ">=3.11" and "Python 3.11 or newer" in setup
    assert "python3 -m venv .venv" in setup
    assert "pip install -c constraints.txt torch torchvision --index-url https://download.pytorch.org/whl/cpu" in setup
    assert "pip install -c constraints.txt -e ." in setup and "GB" in setup  # the measured sizes
