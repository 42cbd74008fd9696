"""A two-lesson course written into a tmp folder, so workflow tests control every stub, hint and solution."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SUBMISSIONS

TINY = (SUBMISSIONS / "tiny.py").read_text(encoding="utf-8")  # 3,818 params; trains in seconds

# 784*64 + 64 + 64*10 + 10 = 50,890 parameters: builds and runs, but breaks lesson1's budget.
BIG_STUB = '''"""Lesson 1 stub: a working but far too large model. TODO: make it smaller."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(self.fc1(x.flatten(1)).relu())
'''

TODO_STUB = '''"""Lesson 2 stub."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)

    def forward(self, x):
        raise NotImplementedError("TODO: finish forward")
'''

LESSON1 = '''title = "A first small net"
objectives = ["Build a net under the budget"]

[criteria]
max_params = 5000
max_epochs = 1
accuracy = { target = 90.0, rule = "best" }

[[hints]]
text = "Read the lesson once more: what does each layer cost?"

[[hints]]
text = "Count the parameters: `k*k*c_in*c_out + bias`. The Linear layer is the expensive one."
criterion = "max_params"

[[hints]]
text = "Train a little longer, or add BatchNorm."
criterion = "accuracy"
'''

LESSON2 = '''title = "Second lesson"

[criteria]
max_params = 4000
min_receptive_field = 5
max_epochs = 1
accuracy = { target = 95.0, rule = "last-1" }

[[hints]]
text = "Finish forward()."
'''

README1 = """# A first small net

The reference net has <!-- value: params solutions/lesson1/model.py -->0<!-- /value --> parameters, and the
budget is fewer than <!-- value: criterion:max_params lessons/lesson1 -->1<!-- /value -->.
Its receptive field is <!-- value: rf solutions/lesson1/model.py -->?<!-- /value --> before global pooling.

<!-- value: param_table solutions/lesson1/model.py -->
<!-- /value -->

The end.
"""


def make_course(root: Path, stub1: str = BIG_STUB, readme: bool = True) -> tuple[Path, Path]:
    """Write lessons/ and solutions/ under root; returns (lessons_root, solutions_root)."""
    lessons, solutions = root / "lessons", root / "solutions"
    for lesson_id, manifest, stub in (("lesson1", LESSON1, stub1), ("lesson2", LESSON2, TODO_STUB)):
        (lessons / lesson_id).mkdir(parents=True)
        (lessons / lesson_id / "lesson.toml").write_text(manifest, encoding="utf-8")
        (lessons / lesson_id / "model.py").write_text(stub, encoding="utf-8")
        (solutions / lesson_id).mkdir(parents=True)
        (solutions / lesson_id / "model.py").write_text(TINY, encoding="utf-8")
    if readme:
        (lessons / "lesson1" / "README.md").write_text(README1, encoding="utf-8")
    return lessons, solutions


def use_course(monkeypatch, lessons: Path, solutions: Path) -> None:
    """Make the CLI and grader.api see the tmp course instead of the repository's."""
    import grader.course.lesson
    import grader.paths

    monkeypatch.setattr(grader.paths, "lessons_dir", lambda: lessons)
    monkeypatch.setattr(grader.paths, "solutions_dir", lambda: solutions)
    monkeypatch.setattr(grader.course.lesson, "lessons_dir", lambda: lessons)
