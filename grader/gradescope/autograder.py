"""`course` as a Gradescope autograder: build the zip for one lesson, and run it on one submission.

The zip holds the course as a wheel (`pip wheel --no-deps`, so the course itself installs offline), a
`setup.sh` that Gradescope runs once when it builds the image, a `run_autograder` it runs for every
submission, `constraints.txt` (the torch/torchvision pair setup.sh installs) and `autograder.json` with what the
instructor chose (lesson, quick/epochs, time limit, visibility). Both scripts honour $AUTOGRADER_ROOT (default
/autograder) so that the layout can be tested in a temporary folder exactly as Gradescope lays it out:
ROOT/source (the zip), ROOT/submission, ROOT/results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from grader import atomic, paths
from grader.course.options import GradeOptions
from grader.errors import CourseError, UsageError
from grader.events import Shown
from grader.gradescope import results as gradescope
from grader.record import GradeRequest

CONFIG = "autograder.json"
CONSTRAINTS = "constraints.txt"  # the torch/torchvision pair, as in the checkout
SUBMISSION_NAME = "model.py"
# Gradescope stops an autograder at 40 minutes at most; the grading gets less so results.json is always written.
GRADESCOPE_LIMIT_S = 40 * 60
GRADESCOPE_BUDGET_S = 35 * 60  # a grading's timeout on Gradescope when --timeout names none
MIN_TIMEOUT_S = 60  # less cannot even start the three processes of a grading on half a CPU
# What a checkout must have for its wheel to carry the whole course (setup.py maps the assets into the wheel).
_TREE = ("course.py", "setup.py", "pyproject.toml", "README.md", "grader", "lessons", "solutions", "data")
_CHECKOUT = (*_TREE, CONSTRAINTS)


@dataclass(frozen=True)
class AutograderConfig:
    """What the autograder does with each submission; written into the zip as autograder.json."""

    lesson: str
    # Gradescope has no GPU, and its budget is under its 40 minutes: build() settles both (on_gradescope). --quick
    # there is for trying the setup out, never for marks; --epochs for lessons too slow for half a CPU.
    options: GradeOptions = GradeOptions(device="cpu", timeout=GRADESCOPE_BUDGET_S)
    visibility: str = "visible"  # of the tests (Gradescope's words: visible, hidden, after_due_date, after_published)
    stdout_visibility: str = "hidden"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> AutograderConfig:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(**{**raw, "options": GradeOptions.from_dict(raw.get("options"))})
        except FileNotFoundError as exc:
            raise UsageError(f"{path} is missing: the autograder zip was not built by "
                             "`course teach autograder`") from exc
        except (json.JSONDecodeError, TypeError) as exc:
            raise UsageError(f"{path} is damaged ({exc}); build the zip again with "
                             "`course teach autograder`") from exc

    def shown(self) -> gradescope.Visibility:
        """The visibilities as Gradescope takes them (raises UsageError on a word it does not know)."""
        return gradescope.Visibility(self.visibility, self.stdout_visibility)


@dataclass
class Built:
    zip: Path
    wheel: str  # its file name inside the zip
    config: AutograderConfig
    members: list[str] = field(default_factory=list)


SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (written by `course teach autograder`).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${COURSE_SETUP_PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    # the course needs Python 3.11+; Gradescope's Ubuntu 22.04 image has 3.10 and packages 3.11
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
    PY=python3.11
fi
if [ ! -x "$ROOT/venv/bin/python" ]; then  # an environment already there (an image built again) is reused
    "$PY" -m venv "$ROOT/venv"
fi
# torch and torchvision pinned to the pair the course was tested with (constraints.txt, in the zip)
PIP=("$ROOT/venv/bin/python" -m pip install -q -c "$ROOT/source/constraints.txt")
if [ -z "${COURSE_SETUP_OFFLINE:-}" ]; then
    # torch's CPU build: Gradescope has no GPU, and PyPI's Linux wheel brings gigabytes of CUDA libraries
    "${PIP[@]}" --index-url https://download.pytorch.org/whl/cpu torch torchvision
    "${PIP[@]}" "$ROOT"/source/course-*.whl
else
    # nothing fetched: the course from the wheel in the zip, its dependencies (torch, click, rich ...) from what
    # the environment already has; pip stops here, naming any that is missing, rather than `course` later
    "${PIP[@]}" --no-index "$ROOT"/source/course-*.whl
fi
"$ROOT/venv/bin/course" --version
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission; it must leave results/results.json whatever happens.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
COURSE="$ROOT/venv/bin/course"
[ -x "$COURSE" ] || COURSE=course
export OMP_NUM_THREADS=1  # half a CPU: a second thread only contends
mkdir -p "$ROOT/results"
cd "$ROOT"
"$COURSE" teach run-autograder --root "$ROOT"
if [ ! -s "$ROOT/results/results.json" ]; then
    # the course itself failed to start: say so to the student instead of leaving Gradescope without results
    printf '%s\n' '{"score": 0, "tests": [], "output": "The autograder could not start; its log says why."}' \
        >"$ROOT/results/results.json"
fi
"""


def on_gradescope(options: GradeOptions) -> GradeOptions:
    """The options as Gradescope grades with them: on its CPU, within GRADESCOPE_BUDGET_S unless --timeout says."""
    return replace(options, device="cpu", timeout=gradescope_timeout(options))


def gradescope_timeout(options: GradeOptions) -> float:
    """A grading's wall-clock budget on Gradescope: --timeout, else GRADESCOPE_BUDGET_S."""
    return options.timeout or GRADESCOPE_BUDGET_S


def checkout_root() -> Path:
    """The source checkout this course runs from; a wheel can only be built from one."""
    root = paths.lessons_dir().parent
    missing = [name for name in _CHECKOUT if not (root / name).exists()]
    if missing:
        raise UsageError(f"`course teach autograder` builds the course's wheel from its source checkout, and {root} "
                         f"lacks {', '.join(missing)}; run it from a clone installed with `pip install -e .`")
    return root


def build_isolation() -> list[str]:
    """pip's flag to build with this environment's setuptools (offline) when it can make a wheel, else none.

    setuptools makes wheels itself from 70.1 on, and with the `wheel` package before; a fresh venv's bundled
    setuptools (65 on Python 3.11) has neither, and pip then fetches a current one into an isolated build.
    """
    from importlib import metadata
    from importlib.util import find_spec

    try:
        major, minor = (int(part) for part in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation"] if (major, minor) >= (70, 1) or find_spec("wheel") else []


def build_wheel(root: Path, out_dir: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy of the checkout (no build/ or egg-info left in the tree)."""
    with tempfile.TemporaryDirectory(prefix="course-wheel-") as tmp:
        tree = Path(tmp) / "course"
        tree.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*_curves.png")
        for name in _TREE:
            src = root / name
            (shutil.copytree(src, tree / name, ignore=ignore) if src.is_dir() else shutil.copy2(src, tree / name))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *build_isolation(), "-q", "-w", str(out_dir),
               str(tree)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise UsageError(f"`pip wheel` could not build the course ({' '.join(cmd[2:5])}):\n"
                             f"{(done.stderr or done.stdout).strip()[-2000:]}")
    wheels = sorted(out_dir.glob("course-*.whl"))
    if not wheels:
        raise UsageError(f"`pip wheel` wrote no course wheel into {out_dir}")
    return wheels[-1]


def build(config: AutograderConfig, out: Path) -> Built:
    """Write the autograder zip for `config.lesson` to `out`: setup.sh, run_autograder, the wheel, the config."""
    from grader.course.lesson import get_lesson

    lesson = get_lesson(config.lesson)  # an unknown lesson fails here, before the wheel is built
    config = replace(config, lesson=lesson.id, options=on_gradescope(config.options))
    config.shown()
    timeout = gradescope_timeout(config.options)
    if timeout >= GRADESCOPE_LIMIT_S:
        raise UsageError(f"--timeout {timeout:g} s reaches Gradescope's limit of {GRADESCOPE_LIMIT_S} s; leave "
                         "time to write the results")
    if timeout < MIN_TIMEOUT_S:
        raise UsageError(f"--timeout {timeout:g} s is too short for a grading on Gradescope; give it at least "
                         f"{MIN_TIMEOUT_S} s")
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"{out} is a folder; name the zip to write, e.g. -o autograder.zip")
    with tempfile.TemporaryDirectory(prefix="course-autograder-") as tmp:
        root = checkout_root()
        wheel = build_wheel(root, Path(tmp))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        members = []
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            # files at the root of the archive, executable scripts (Gradescope copies run_autograder as it is)
            for name, text, mode in (("setup.sh", SETUP_SH, 0o755), ("run_autograder", RUN_AUTOGRADER, 0o755),
                                     (CONFIG, config.to_json(), 0o644)):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, text)
                members.append(name)
            zf.write(wheel, wheel.name)
            members.append(wheel.name)
            zf.write(root / CONSTRAINTS, CONSTRAINTS)  # setup.sh installs the torch pair it pins
            members.append(CONSTRAINTS)
        partial.replace(out)
    return Built(out, wheel.name, config, members)


# -------------------------------------------------------------------------------------- on Gradescope


@dataclass
class AutograderRun:
    results: dict  # what was written to results.json
    path: Path
    submission: Path | None
    status: str  # the verdict's status, or "error"


def find_submission(folder: Path) -> Path:
    """ROOT/submission/model.py, or the one .py file the student uploaded under another name."""
    exact = folder / SUBMISSION_NAME
    if exact.is_file():
        return exact
    found = sorted(p for p in folder.rglob("*.py") if p.is_file()) if folder.is_dir() else []
    if len(found) == 1:
        return found[0]
    named = ", ".join(p.name for p in found[:5]) or "nothing"
    raise UsageError(f"upload one file called {SUBMISSION_NAME} (your submission had {named})")


def run(root: Path, check, grade, on_event: Callable[[Shown], None] | None = None) -> AutograderRun:
    """Grade ROOT/submission's model.py by ROOT/source/autograder.json; always write ROOT/results/results.json.

    `check` and `grade` are grader.api's (passed in: the facade calls this module, never the other way round).
    """
    root = Path(root)
    config = AutograderConfig.read(root / "source" / CONFIG)
    visibility = config.shown()
    out = root / "results" / "results.json"
    started = time.monotonic()
    checked = None
    file = None
    try:
        file = find_submission(root / "submission")
        request = GradeRequest(file, config.lesson, config.options)
        checked = check(request)
        graded = grade(request, on_event)
    except CourseError as exc:
        doc = gradescope.from_error(config.lesson, str(exc), checked, visibility, time.monotonic() - started)
        status = "error"
    else:
        doc = gradescope.from_record(graded.record, visibility, time.monotonic() - started)
        status = graded.verdict.status
    atomic.write_text(out, json.dumps(doc, indent=2) + "\n")
    return AutograderRun(doc, out, file, status)


# ------------------------------------------------------------------------- which lessons fit Gradescope


HALF_CPU_FACTOR = 2.0  # Gradescope's default autograder gets half a CPU: about twice the time of one full thread


@dataclass
class Fit:
    lesson: str
    epochs: int
    seconds: list[float]  # per seed, one CPU thread, from solutions/RESULTS.md
    device: str

    @property
    def on_half_cpu(self) -> float:
        """The slowest seed's time, scaled to half a CPU."""
        return max(self.seconds) * HALF_CPU_FACTOR

    @property
    def fits(self) -> bool:
        return self.on_half_cpu <= GRADESCOPE_BUDGET_S


def fits(rows) -> list[Fit]:
    """One Fit per lesson with a one-thread CPU row in RESULTS.md (grader.authoring.results rows)."""
    found: dict[str, Fit] = {}
    for row in rows:
        if row.quick or not row.device.startswith("CPU") or "(x86_64, 1 threads)" not in row.device:
            continue
        if row.file != f"solutions/{row.lesson}/model.py":  # a lesson's comparison files are not its solution
            continue
        if row.lesson not in found or len(row.seeds) > len(found[row.lesson].seconds):
            found[row.lesson] = Fit(row.lesson, max(row.epochs), list(row.seconds), row.device)
    return list(found.values())


def fit_table(rows) -> str:
    """Markdown: each lesson's measured CPU time, scaled to Gradescope's half a CPU, against its time limit."""
    lines = ["| lesson | epochs | per run on 1 CPU thread (each seed) | slowest, on half a CPU | "
             f"fits {GRADESCOPE_BUDGET_S // 60} min? |", "|---|---:|---|---:|---|"]
    for fit in fits(rows):
        per_seed = ", ".join(_minutes(s) for s in fit.seconds)
        lines.append(f"| {fit.lesson} | {fit.epochs} | {per_seed} | {_minutes(fit.on_half_cpu)} | "
                     f"{'yes' if fit.fits else '**no**: GPU box'} |")
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s"
