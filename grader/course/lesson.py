"""Lesson manifests (lesson.toml): criteria, default recipe and hints, validated field by field."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.exercises import Exercise, parse_exercises
from grader.errors import ManifestError, UsageError
from grader.paths import lessons_dir

_RULE = re.compile(r"^(best|last-(\d+))$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Modules no lesson may allow: each one undoes the static policy (files, processes, code, the interpreter).
NEVER_IMPORTABLE = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "ctypes", "inspect", "gc", "socket", "pickle", "marshal",
    "io", "shutil", "pathlib", "tempfile", "multiprocessing", "threading", "signal", "runpy", "code", "codeop",
    "posix", "nt", "pty", "mmap", "types", "operator", "asyncio", "urllib", "http", "requests",
})


MODEL_FILE = "model.py"  # the one file a submission is: a lesson's stub, a student's work file, a batch's folders
COURSE_MAX_EPOCHS = 20  # the course target's epoch budget: the default max_epochs and a recipe's default EPOCHS


@dataclass(frozen=True)
class AccuracyRule:
    target: float  # percent, e.g. 99.4
    rule: str = "best"  # "best": best epoch reaches target; "last-K": each of the last K epochs does

    @property
    def last_k(self) -> int | None:
        m = _RULE.match(self.rule)
        return int(m.group(2)) if m and m.group(2) else None


@dataclass(frozen=True)
class Criteria:
    max_params: int | None = None  # strict: params < max_params ("fewer than 20,000")
    min_receptive_field: int | None = None  # RF before global pooling: what the convs themselves see
    required_layers: tuple[str, ...] = ()  # names from analysis.Structure.layer_types
    forbidden_layers: tuple[str, ...] = ()
    bn_after_every_3x3: bool = False  # lesson 3 onward: BatchNorm after each 3x3 conv
    max_dropout: float | None = None  # a rate above this hurts a tiny net more than it helps
    accuracy: AccuracyRule | None = None
    max_epochs: int = COURSE_MAX_EPOCHS  # caps the submission's EPOCHS
    # Points per row of the criteria table on Gradescope ([criteria.weights]); a criterion left out weighs 1, so
    # manifests written before weights existed score one point a row, as they always did.
    weights: tuple[tuple[str, float], ...] = ()

    def weight(self, name: str) -> float:
        """The points one row of criterion `name` is worth."""
        return dict(self.weights).get(name, 1.0)


@dataclass(frozen=True)
class Hint:
    text: str
    criterion: str | None = None  # shown first when this criterion was the one that failed


EXPECTATIONS = ("pass", "fail", "measure")


@dataclass(frozen=True)
class VerifyExtra:
    """A course file that `course verify --train` trains beside the solution: a hint path, a comparison."""

    file: str  # repo-relative, as value markers name files (lessons/lesson2/examples/walkthrough.py)
    expect: str  # "pass" or "fail" on every seed, as the lesson's text claims; "measure": only its figures count
    note: str = ""  # why it exists, for RESULTS.md readers


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    path: Path
    objectives: tuple[str, ...] = ()
    criteria: Criteria = field(default_factory=Criteria)
    recipe: dict = field(default_factory=dict)  # defaults for what the submission leaves out
    hints: tuple[Hint, ...] = ()
    may_change: tuple[str, ...] = ()  # the submission names a student may set; empty: all of them
    # seconds of wall clock for one grading, on the slowest machine we support; None: the course's
    # (grader.course.options.grading_timeout decides)
    timeout: int | None = None
    allowed_imports: tuple[str, ...] = ()  # modules (with their submodules) added to the policy's allowlist
    exercises: tuple[Exercise, ...] = ()  # find-the-error questions; answers stay hidden until asked
    verify_extras: tuple[VerifyExtra, ...] = ()  # models the text talks about, trained by `course verify --train`

    @property
    def stub(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def fixed_recipe(self) -> tuple[str, ...]:
        """Recipe names this lesson sets itself: a submission's own EPOCHS, AUGMENT ... is ignored with a warning."""
        return tuple(n for n in RECIPE_NAMES if n not in self.may_change) if self.may_change else ()

    @property
    def readme(self) -> Path:
        return self.path / "README.md"


RECIPE_NAMES = ("EPOCHS", "BATCH_SIZE", "AUGMENT", "make_optimizer")  # what a submission may set beside Net
CRITERION_NAMES = (
    "max_params",
    "min_receptive_field",
    "required_layers",
    "forbidden_layers",
    "bn_after_every_3x3",
    "max_dropout",
    "accuracy",
)

# The course's target, used when `course grade` is given no lesson.
DEFAULT_CRITERIA = Criteria(max_params=20_000, accuracy=AccuracyRule(99.4, "best"), max_epochs=COURSE_MAX_EPOCHS)

_RECIPE_KEYS = {"epochs", "batch_size", "optimizer", "scheduler", "augment"}


def _expect(value, types, where: str):
    if not isinstance(value, types) or isinstance(value, bool) and bool not in _as_tuple(types):
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise ManifestError(f"{where} must be {names}, got {value!r}")
    return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def parse_criteria(raw: dict, where: str) -> Criteria:
    """Validate a [criteria] table; every error names the offending field."""
    unknown = set(raw) - set(CRITERION_NAMES) - {"max_epochs", "weights"}
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}; "
                            f"known: {list(CRITERION_NAMES) + ['max_epochs', 'weights']}")
    kw: dict = {}
    if "weights" in raw:
        kw["weights"] = parse_weights(_expect(raw["weights"], dict, f"{where}.weights"), f"{where}.weights")
    for key in ("max_params", "min_receptive_field", "max_epochs"):
        if key in raw:
            kw[key] = _expect(raw[key], int, f"{where}.{key}")
            if kw[key] <= 0:
                raise ManifestError(f"{where}.{key} must be positive, got {kw[key]}")
    for key in ("required_layers", "forbidden_layers"):
        if key in raw:
            items = _expect(raw[key], list, f"{where}.{key}")
            kw[key] = tuple(_expect(v, str, f"{where}.{key}[{i}]") for i, v in enumerate(items))
    if "bn_after_every_3x3" in raw:
        kw["bn_after_every_3x3"] = _expect(raw["bn_after_every_3x3"], bool, f"{where}.bn_after_every_3x3")
    if "max_dropout" in raw:
        kw["max_dropout"] = float(_expect(raw["max_dropout"], (int, float), f"{where}.max_dropout"))
    if "accuracy" in raw:
        acc = _expect(raw["accuracy"], dict, f"{where}.accuracy")
        target = _expect(acc.get("target"), (int, float), f"{where}.accuracy.target")
        if not 0 < target <= 100:
            raise ManifestError(f"{where}.accuracy.target is a percentage in (0, 100], got {target}")
        rule = _expect(acc.get("rule", "best"), str, f"{where}.accuracy.rule")
        m = _RULE.match(rule)
        if not m or (m.group(2) and int(m.group(2)) < 1):
            raise ManifestError(f"{where}.accuracy.rule must be 'best' or 'last-K' (K >= 1), got {rule!r}")
        kw["accuracy"] = AccuracyRule(float(target), rule)
    return Criteria(**kw)


def parse_weights(raw: dict, where: str) -> tuple[tuple[str, float], ...]:
    """Validate [criteria.weights]: criterion names mapped to points (>= 0) per row of the criteria table."""
    out = []
    for name, value in raw.items():
        if name not in CRITERION_NAMES:
            raise ManifestError(f"{where}: {name!r} is not a criterion; weigh one of {list(CRITERION_NAMES)}")
        value = _expect(value, (int, float), f"{where}.{name}")
        if not 0 <= value < float("inf"):
            raise ManifestError(f"{where}.{name} must be a number of points >= 0, got {value}")
        out.append((name, float(value)))
    return tuple(sorted(out))


def parse_lesson(raw: dict, path: Path) -> Lesson:
    """Build a Lesson from a parsed lesson.toml; raises ManifestError naming the field."""
    where = f"{path / 'lesson.toml'}"
    title = _expect(raw.get("title"), str, f"{where}: title")
    criteria = parse_criteria(_expect(raw.get("criteria", {}), dict, f"{where}: criteria"), f"{where}: criteria")
    recipe = _expect(raw.get("recipe", {}), dict, f"{where}: recipe")
    unknown = set(recipe) - _RECIPE_KEYS
    if unknown:
        raise ManifestError(f"{where}: recipe has unknown field(s) {sorted(unknown)}; known: {sorted(_RECIPE_KEYS)}")
    hints = []
    for i, h in enumerate(_expect(raw.get("hints", []), list, f"{where}: hints")):
        h = _expect(h, dict, f"{where}: hints[{i}]")
        text = _expect(h.get("text"), str, f"{where}: hints[{i}].text")
        crit = h.get("criterion")
        if crit is not None and crit not in CRITERION_NAMES:
            raise ManifestError(f"{where}: hints[{i}].criterion must be one of {list(CRITERION_NAMES)}, got {crit!r}")
        hints.append(Hint(text, crit))
    objectives = tuple(
        _expect(o, str, f"{where}: objectives[{i}]")
        for i, o in enumerate(_expect(raw.get("objectives", []), list, f"{where}: objectives"))
    )
    may_change = tuple(_expect(raw.get("may_change", []), list, f"{where}: may_change"))
    unknown = set(may_change) - set(RECIPE_NAMES) - {"Net"}
    if unknown:
        raise ManifestError(f"{where}: may_change has unknown name(s) {sorted(unknown)}; "
                            f"known: Net, {', '.join(RECIPE_NAMES)}")
    timeout = _expect(raw["timeout"], int, f"{where}: timeout") if "timeout" in raw else None
    allowed_imports = parse_allowed_imports(raw.get("allowed_imports", []), f"{where}: allowed_imports")
    exercises = parse_exercises(raw.get("exercise", []), f"{where}: exercise")
    verify_extras = parse_verify(raw.get("verify", {}), f"{where}: verify")
    return Lesson(
        id=path.name,
        title=title,
        path=path,
        objectives=objectives,
        criteria=criteria,
        recipe=recipe,
        hints=tuple(hints),
        may_change=may_change,
        timeout=timeout,
        allowed_imports=allowed_imports,
        exercises=exercises,
        verify_extras=verify_extras,
    )


def parse_verify(raw, where: str) -> tuple[VerifyExtra, ...]:
    """Validate the `[verify]` table: `extra = [{file = "...", expect = "pass" | "fail" | "measure", note = "..."}]`."""
    raw = _expect(raw, dict, where)
    unknown = set(raw) - {"extra"}
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}; known: ['extra']")
    extras = []
    for i, entry in enumerate(_expect(raw.get("extra", []), list, f"{where}.extra")):
        at = f"{where}.extra[{i}]"
        entry = _expect(entry, dict, at)
        unknown = set(entry) - {"file", "expect", "note"}
        if unknown:
            raise ManifestError(f"{at}: unknown field(s) {sorted(unknown)}; known: ['expect', 'file', 'note']")
        file = _expect(entry.get("file"), str, f"{at}.file")
        if file.startswith("/") or ".." in file.split("/") or not file.endswith(".py"):
            raise ManifestError(f"{at}.file must be a repo-relative .py path such as solutions/lesson6/hint_path.py, "
                                f"got {file!r}")
        expect = _expect(entry.get("expect"), str, f"{at}.expect")
        if expect not in EXPECTATIONS:
            raise ManifestError(f"{at}.expect must be one of {list(EXPECTATIONS)}, got {expect!r}")
        if any(e.file == file for e in extras):
            raise ManifestError(f"{at}.file {file!r} is listed twice")
        extras.append(VerifyExtra(file, expect, _expect(entry.get("note", ""), str, f"{at}.note")))
    return tuple(extras)


def parse_allowed_imports(raw, where: str) -> tuple[str, ...]:
    """Validate `allowed_imports`: dotted module names, none of which would undo the static policy."""
    names = []
    for i, name in enumerate(_expect(raw, list, where)):
        name = _expect(name, str, f"{where}[{i}]")
        if not _MODULE.match(name) or any(part.startswith("_") for part in name.split(".")):
            raise ManifestError(f"{where}[{i}] must be a dotted module name without private parts, got {name!r}")
        top = name.split(".")[0]
        if top in NEVER_IMPORTABLE or name.startswith(("torch.utils", "torch.hub", "torch.jit", "torch.multiprocessing",
                                                        "torch.distributed", "torch.library", "torch.ops")):
            raise ManifestError(f"{where}[{i}]: {name!r} reaches files, processes or native code; "
                                "no lesson may allow it")
        names.append(name)
    return tuple(names)


def load_lesson(path: Path) -> Lesson:
    """Read and validate one lesson folder's lesson.toml."""
    manifest = path / "lesson.toml"
    try:
        raw = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{manifest} is missing") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{manifest} is not valid TOML: {exc}") from exc
    return parse_lesson(raw, path)


# A lesson id: "lesson" and its place in the course, a number with an optional letter for a lesson inserted after
# that number's (lesson6b comes after lesson6 and before lesson7), so that later lessons keep their names.
LESSON_ID = re.compile(r"lesson(\d+)([a-z]?)")


def lesson_sort_key(name: str) -> tuple:
    """Course order of a lesson id: lesson2 before lesson10, lesson6 before lesson6b before lesson7; others last."""
    m = LESSON_ID.fullmatch(name)
    return (int(m.group(1)), m.group(2), name) if m else (1_000_000, "", name)


def _lesson_key(p: Path):
    return lesson_sort_key(p.name)


def lesson_ids(root: Path | None = None) -> list[str]:
    """Lesson folder names in course order (lesson1, lesson2, ... lesson10)."""
    root = root or lessons_dir()
    if not root.is_dir():
        return []
    return [p.name for p in sorted(root.iterdir(), key=_lesson_key) if (p / "lesson.toml").is_file()]


def get_lesson(lesson_id: str, root: Path | None = None) -> Lesson:
    """The lesson named `lesson_id`; "6" is accepted for "lesson6" (and "6b" for "lesson6b")."""
    root = root or lessons_dir()
    if re.fullmatch(r"\d+[a-z]?", lesson_id):  # "6" is lesson6, "6b" lesson6b
        lesson_id = f"lesson{lesson_id}"
    path = root / lesson_id
    if not (path / "lesson.toml").is_file():
        known = ", ".join(lesson_ids(root)) or "none"
        raise UsageError(f"no lesson called {lesson_id!r}; lessons: {known}")
    return load_lesson(path)
