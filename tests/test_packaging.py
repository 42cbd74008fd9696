"""A non-editable install (`pip install .`) must still find the lessons, solutions and data."""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    from grader.gradebook.autograder import build_isolation

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
