"""`course docs`: fill the value markers in the lessons' README.md files with numbers the tool computes.

A marker is `<!-- value: KEY SOURCE -->TEXT<!-- /value -->`; TEXT is replaced by the value. Tables use the block
form, markers on their own lines. SOURCE is, by key:

- a repo-relative model file: params, multiply_adds (per image), rf, rf_final, param_table, rf_table,
  rf_row:FIELD:LAYER (one cell of the
  receptive-field walk), bias_saving (what the bias-free convs would cost with a bias), translate_px (the
  largest whole-pixel shift its AUGMENT's translate can draw on a 28-pixel image), schedule:FIELD,
  onecycle:ARG and lr_levers (its learning-rate schedule, built and stepped as the grader does);
- a model file with trained rows in solutions/RESULTS.md: best_acc, last_acc, epochs_to_target, passed, seeds,
  best_range, last_range, min_last, best_last_gap, train_acc, margin_images, and train_row_last_acc (the
  mean last test accuracy of the row train_acc quotes, so that the two figures come from the same runs),
  seed_list ("0 to 4"); each also as fresh:KEY, read off the file's confirmation row (seeds from
  `--first-seed N` > 0) instead of its seeds-from-0 row;
- a lesson folder: criterion:NAME, binomial_se and binomial_se_images (the standard error of a test accuracy
  at the lesson's target), translate_px (of the lesson's default recipe), compare_table (the solution beside
  the files its lesson.toml `[verify]` table lists, on the seeds and device they share);
- data/MNIST/raw: testset:images, testset:image_pct, testset:count_D and testset:pct_D (images of digit D),
  and the training split's testset:train_images, testset:fit_images, testset:validation_images (--validate);
- torch: default:CLASS.ARG, a torch.optim.lr_scheduler class's default argument (default:OneCycleLR.pct_start).
- a JSON file a script wrote (benchmarks/results/*.json): json:DOTTED.PATH, or json:DOTTED.PATH:FORMAT with a
  Python format spec (json:candidates.dw20.min_last_k_min:.2f);
- solutions/RESULTS.md itself: gradescope_fit (which lessons fit Gradescope's time on half a CPU);
- a lesson folder: noise:FIELD:FILE, the solution against one [verify] extra with mean ± spread and what the
  noise allows ("within noise", "ahead by N standard errors"; grader.authoring.noise), FIELD best or last;
- validation:compare_table and validation:noise:FIELD:FILE: the same from the rows `course verify --validate`
  wrote (accuracies on the held-out validation split, the split the lessons choose designs on).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from grader import atomic, paths
from grader.authoring import noise, results, trusted
from grader.authoring.schedule import Schedule, lr_levers, lr_schedule, onecycle_arg, plain, schedule_field
from grader.errors import CourseError, DocsError

MARKER = re.compile(r"<!--\s*value:\s*(?P<key>\S+)\s+(?P<source>\S+)\s*-->(?P<text>.*?)<!--\s*/value\s*-->", re.S)
OPENING = re.compile(r"<!--\s*value:")
# Markdown code shows the marker syntax instead of using it: fenced blocks and `inline code` are skipped.
CODE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$|`[^`\n]+`", re.M | re.S)
IMAGE_SIZE = 28  # MNIST's width and height, what RandomAffine's translate fractions multiply


def strip_markers(text: str) -> str:
    """The text a reader should see: markers removed, their filled-in values kept.

    rich's Markdown drops an inline HTML comment together with the words around it, so prose shown in the
    terminal must lose the markers first.
    """
    return MARKER.sub(lambda m: m.group("text"), text)


class ResultsMissing(DocsError):
    """solutions/RESULTS.md has no (current) row for a solution: train it; the marker is left as it is."""


class ResultsAwaiting(ResultsMissing):
    """A file `course verify --train` trains (a lesson's `[verify]` extra) has no row yet, or no row records the
    figure: nothing is stale, the training simply has not run; the marker is left as it is."""


@dataclass
class Change:
    file: Path
    where: str  # repo-relative path, as messages name it
    line: int
    key: str
    source: str
    old: str
    new: str


@dataclass
class DocsReport:
    changes: list[Change] = field(default_factory=list)
    markers: int = 0
    documents: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # files rewritten (empty with check)
    missing: list[str] = field(default_factory=list)  # "file:line: why" for result markers with no current results
    # "file:line: why" for result markers of files that `course verify --train` trains but has not trained yet
    # (a new hint path or comparison, or a figure older rows do not record): not stale, but not filled either
    awaiting: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        """Some marker does not show the tool's number: it changed, or its results are missing."""
        return bool(self.changes or self.missing)


def documents(root: Path) -> list[Path]:
    """The files `course docs` owns: the top README.md and every lessons/*/README.md."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    lessons = root / "lessons"
    if lessons.is_dir():
        found += sorted(lessons.glob("*/README.md"), key=lambda p: (_number(p.parent.name), p.parent.name))
    return found


def json_figure(path: Path, key: str, source: str) -> str:
    """A figure from a results file a script wrote (benchmarks/results/*.json): `json:lesson6.wall_s`.

    An optional format spec after a colon says how to print it (`json:summary.best:.2f`); without one, integers
    get thousands separators and floats lose their decimals from 10 up (seconds, not accuracies)."""
    import json

    dotted, _, spec = key.partition(":")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocsError(f"{source} cannot be read as JSON ({exc})") from exc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DocsError(f"{source} has no {dotted!r}")
        value = value[part]
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as exc:
            raise DocsError(f"{dotted!r} in {source} ({value!r}) cannot be formatted as {spec!r}: {exc}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2f}"


class Values:
    """Computes marker values, measuring each model file once."""

    def __init__(self, root: Path, results_path: Path):
        self.root = root
        self.results_path = results_path
        self._results: list[results.ResultRow] | None = None
        self._schedules: dict[Path, Schedule] = {}
        self._counts: dict = {}
        self._extras: dict[str, str] | None = None  # extra file -> the lesson whose [verify] lists it

    def value(self, key: str, source: str) -> str:
        """The text for one marker; raises DocsError with what is wrong (the caller adds file:line)."""
        entry, argument = lookup(key)
        path = self.root / source
        if entry.takes_file and not path.is_file():
            raise DocsError(f"{source} is not a file "
                            "(SOURCE is a repo-relative path such as solutions/lesson2/model.py)")
        return entry.value(self, argument, path, source)

    def _translate_px(self, path: Path, source: str) -> str:
        """Of a lesson folder's default recipe, or of a model file's own AUGMENT over its lesson's recipe."""
        if path.is_dir():
            return self._lesson_stat("translate_px", path, source)
        if not path.is_file():
            raise DocsError(f"{source} is neither a lesson folder nor a model file")
        return translate_px(self._lesson_of(path, source), self._submission(path, source).recipe_overrides())

    def _gradescope_fit(self, path: Path, source: str) -> str:
        from grader.gradescope.autograder import fit_table

        if not path.is_file():
            raise DocsError(f"{source} is not a file (gradescope_fit takes solutions/RESULTS.md)")
        return fit_table(results.read(path))

    def _submission(self, path: Path, source: str):
        from grader.worker.submission import load

        try:
            return load(path)
        except CourseError as exc:
            raise DocsError(f"{source} cannot be loaded: {exc}") from exc

    def _lesson_of(self, path: Path, source: str):
        """The lesson a course file belongs to: the lessonN folder on its path (solutions/lesson6/hint_path.py)."""
        from grader.course.lesson import load_lesson

        for part in Path(source).parts:
            if re.fullmatch(r"lesson\d+[a-z]?", part) and (self.root / "lessons" / part / "lesson.toml").is_file():
                return load_lesson(self.root / "lessons" / part)
        raise DocsError(f"{source} is not inside a lesson's folder (lessons/lessonN or solutions/lessonN), so its "
                        "recipe defaults are unknown")

    def _schedule(self, path: Path, source: str) -> Schedule:
        if path not in self._schedules:
            self._schedules[path] = lr_schedule(self._submission(path, source), self._lesson_of(path, source),
                                                self._test_counts(source, train=True)["images"], source)
        return self._schedules[path]

    def _test_counts(self, source: str, train: bool = False, data_dir: Path | None = None) -> dict:
        """{"images": n, "digits": [count of 0s, 1s, ...]} of the bundled test (or training) labels."""
        key = (train, data_dir)
        if key not in self._counts:
            from grader.mnist import read_idx, resolve_data_dir

            try:
                labels = read_idx(data_dir or resolve_data_dir(), f"{'train' if train else 't10k'}-labels-idx1-ubyte")
            except CourseError as exc:
                raise DocsError(f"{source}: {exc}") from exc
            self._counts[key] = {"images": len(labels), "digits": [int((labels == d).sum()) for d in range(10)]}
        return self._counts[key]

    def _testset(self, name: str, path: Path, source: str) -> str:
        if not path.is_dir():
            raise DocsError(f"{source} is not a folder (testset keys take data/MNIST/raw)")
        counts = self._test_counts(source, data_dir=path)
        n = counts["images"]
        m = re.fullmatch(r"(count|pct)_(\d)", name)
        if name == "images":
            return f"{n:,}"
        if name == "image_pct":
            return f"{100 / n:g}"
        if name in ("train_images", "fit_images", "validation_images"):  # `course grade --validate`'s split
            from grader.mnist import part_range

            total = self._test_counts(source, train=True, data_dir=path)["images"]
            start, stop = part_range(total, {"train_images": "all", "fit_images": "fit"}.get(name, "validation"))
            return f"{stop - start:,}"
        if m:
            count = counts["digits"][int(m.group(2))]
            return f"{count:,}" if m.group(1) == "count" else f"{100 * count / n:.2f}"
        raise DocsError(f"unknown testset field {name!r}; known: images, image_pct, count_D, pct_D (D a digit), "
                        "train_images, fit_images, validation_images")

    def _lesson_stat(self, key: str, path: Path, source: str) -> str:
        from grader.course.lesson import load_lesson

        if not (path / "lesson.toml").is_file():
            raise DocsError(f"{source} is not a lesson folder ({key} takes e.g. lessons/lesson6)")
        lesson = load_lesson(path)
        if key == "translate_px":
            return translate_px(lesson, {})
        if lesson.criteria.accuracy is None:
            raise DocsError(f"{source} sets no accuracy target")
        n = self._test_counts(source)["images"]
        se = binomial_se(lesson.criteria.accuracy.target, n)
        return f"{se:.2g}" if key == "binomial_se" else f"{se * n / 100:.2g}"

    def _measure(self, path: Path, source: str) -> dict:
        try:
            return trusted.report_course_file(path)
        except CourseError as exc:
            raise DocsError(f"{source} cannot be measured: {exc}") from exc

    def _criterion(self, name: str, path: Path, source: str) -> str:
        from grader.course.lesson import load_lesson

        if not (path / "lesson.toml").is_file():
            raise DocsError(f"{source} is not a lesson folder (criterion keys take e.g. lessons/lesson6)")
        criteria = load_lesson(path).criteria
        acc = criteria.accuracy
        special = {
            "accuracy.target": lambda: f"{acc.target:g}",
            "accuracy.rule": lambda: acc.rule,
            "accuracy.last_k": lambda: str(acc.last_k),
        }
        if name in special:
            if acc is None or (name == "accuracy.last_k" and acc.last_k is None):
                raise DocsError(f"{source} sets no {name}")
            return special[name]()
        if name not in {f.name for f in fields(criteria)} or name == "accuracy":
            raise DocsError(f"unknown criterion {name!r}; use a lesson.toml [criteria] field or accuracy.target / "
                            "accuracy.rule / accuracy.last_k")
        value = getattr(criteria, name)
        if value is None or value == ():
            raise DocsError(f"{source} sets no criterion {name}")
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, tuple):
            return ", ".join(value)
        return str(value)

    def _result(self, key: str, path: Path, source: str, fresh: bool = False) -> str:
        if self._results is None:
            self._results = results.read(self.results_path)
        need = (lambda r: bool(r.train_last)) if key in ("train_acc", "train_row_last_acc") else None
        row = results.pick(self._results, source, need, fresh)
        rel = _relative(self.results_path, self.root)
        extra_of = self._extra_of(source)
        lesson_id = extra_of or path.parent.name
        run = f"`course verify --train --lesson {lesson_id}{' --first-seed N' if fresh else ''}`"
        if row is None:
            if extra_of or fresh or (need and results.pick(self._results, source)):
                raise ResultsAwaiting(f"{rel} has no {'training-accuracy ' if need else ''}results for {source} yet; "
                                      f"{run} trains it")
            raise ResultsMissing(f"{rel} has no results for {source}; run {run}")
        if not row.describes(path):
            raise ResultsMissing(f"{source} changed since {rel} was written ({row.when}); its numbers are stale: run "
                                 f"`course verify --train --lesson {row.lesson}`")
        return result_value(key, row, self._target(row.lesson), self._test_counts(source)["images"])

    def _fresh(self, key: str, path: Path, source: str) -> str:
        if key not in RESULT_KEYS:
            raise DocsError(f"fresh:{key} is not a result figure (one of {', '.join(RESULT_KEYS)})")
        return self._result(key, path, source, fresh=True)

    def comparison(self, path: Path, source: str, only: str | None = None, split: str = "test") -> list[Compared]:
        """The solution and each extra of a lesson (or only the extra `only`), restricted to one device and the
        seeds they all have, from the rows measured on `split` (test or validation)."""
        from grader.course.lesson import load_lesson

        if not (path / "lesson.toml").is_file():
            raise DocsError(f"{source} is not a lesson folder (compare_table takes e.g. lessons/lesson3)")
        if self._results is None:
            self._results = results.read(self.results_path)
        lesson = load_lesson(path)
        files = [(f"solutions/{lesson.id}/model.py", "the lesson's solution")]
        files += [(e.file, e.note or e.expect) for e in lesson.verify_extras if only in (None, e.file)]
        if len(files) == 1 and only is not None:
            raise DocsError(f"{only} is not in {lesson.id}'s comparison ([verify] extras: "
                            f"{', '.join(e.file for e in lesson.verify_extras) or 'none'})")
        if len(files) == 1:
            raise DocsError(f"{source} lists no [verify] extra files to compare with its solution")
        current: dict[str, list[results.ResultRow]] = {}
        for file, _ in files:
            target = self.root / file
            # comparisons are on the calibration seeds (from 0); fresh-seed confirmations are quoted on their own
            current[file] = [r for r in self._results if r.file == file and not r.quick and not r.fresh
                             and r.split == split and r.describes(target)]
        devices = set.intersection(*({r.device for r in rows} for rows in current.values()))
        run = f"`course verify --train --lesson {lesson.id}{' --validate' if split != 'test' else ''}`"
        if not devices:
            untrained = [f for f, rows in current.items() if not rows]
            raise ResultsAwaiting(f"no device has current results for every file of {lesson.id}'s comparison "
                                  f"(none yet: {', '.join(untrained) or 'each on another device'}); {run} trains them")

        def seeds_on(device):
            return set.intersection(*(set(next(r for r in rows if r.device == device).seeds)
                                      for rows in current.values()))

        device = max(sorted(devices), key=lambda d: (len(seeds_on(d)), max(r.when for rows in current.values()
                                                                          for r in rows if r.device == d)))
        seeds = sorted(seeds_on(device))
        if not seeds:
            raise ResultsAwaiting(f"{lesson.id}'s files share no seed on {device}; {run} trains them on the same seeds")
        compared = []
        for file, change in files:
            row = next(r for r in current[file] if r.device == device)
            pos = [row.seeds.index(seed) for seed in seeds]
            train = [row.train_last[i] for i in pos] if row.train_last else None
            compared.append(Compared(file, change, row.expect, device, seeds, [row.best[i] for i in pos],
                                     [row.last[i] for i in pos], train, [row.passed[i] for i in pos], split))
        return compared

    def _noise(self, spec: str, path: Path, source: str, split: str = "test") -> str:
        """The solution against one extra, on the seeds those two share (an untrained third file waits alone)."""
        only = spec.partition(":")[2] or None
        try:
            return noise.marker(self.comparison(path, source, only, split), spec, self._split_images(source, split))
        except ValueError as exc:
            raise DocsError(str(exc)) from exc

    def _split_images(self, source: str, split: str) -> int:
        """How many images a row of `split` was measured on: the test set, or the held-out training images."""
        if split == "test":
            return self._test_counts(source)["images"]
        from grader.mnist import VALIDATION_SIZE

        return VALIDATION_SIZE

    def _validation(self, key: str, path: Path, source: str) -> str:
        """validation:compare_table or validation:noise:FIELD:FILE, read off the --validate rows."""
        if key == "compare_table":
            return compare_table(self.comparison(path, source, split="validation"))
        if key.startswith("noise:"):
            return self._noise(key.partition(":")[2], path, source, split="validation")
        raise DocsError(f"validation:{key} is not a comparison key (validation:compare_table or "
                        "validation:noise:FIELD:FILE)")

    def _extra_of(self, source: str) -> str | None:
        """The lesson whose `[verify]` table lists this file, if one does."""
        from grader.course.lesson import lesson_ids, load_lesson

        if self._extras is None:
            lessons = self.root / "lessons"
            self._extras = {e.file: lesson_id for lesson_id in lesson_ids(lessons)
                            for e in load_lesson(lessons / lesson_id).verify_extras}
        return self._extras.get(source)

    def _target(self, lesson_id: str) -> float | None:
        from grader.course.lesson import load_lesson

        folder = self.root / "lessons" / lesson_id
        if not (folder / "lesson.toml").is_file():
            return None
        acc = load_lesson(folder).criteria.accuracy
        return acc.target if acc else None


@dataclass(frozen=True)
class Key:
    """One marker key: how it is written and how its value is computed."""

    form: str  # as the unknown-key message lists it: the key, or PREFIX:ARGUMENT for a prefixed one
    value: Callable[[Values, str, Path, str], str]  # (values, the argument after PREFIX:, path, source) -> text
    takes_file: bool = False  # SOURCE must be a file (a model file): checked before `value` runs
    block: bool = False  # a Markdown table: on lines of its own, blank lines around it


def _model_key(figure: Callable[[dict], str], block: bool = False) -> Key:
    """A key read off the model file's report (trusted.report_course_file)."""
    return Key("", lambda v, _, path, source: figure(v._measure(path, source)), takes_file=True, block=block)


RESULT_KEYS = ("best_acc", "last_acc", "epochs_to_target", "passed", "seeds", "best_range", "last_range", "min_last",
               "best_last_gap", "train_acc", "train_row_last_acc", "margin_images", "seed_list")


def _result_key(key: str) -> Key:
    """A key read off the model file's rows in solutions/RESULTS.md."""
    return Key(key, lambda v, _, path, source: v._result(key, path, source), takes_file=True)


def _lesson_key(key: str) -> Key:
    return Key(key, lambda v, _, path, source: v._lesson_stat(key, path, source))


# Every key `course docs` knows, the one place that names them; a key ending in ":" takes an argument after it.
KEYS: dict[str, Key] = {
    "params": _model_key(lambda r: f"{r['params']:,}"),
    "rf": _model_key(lambda r: str(r["rf"]["rf_before_global_pool"])),
    "rf_final": _model_key(lambda r: str(r["rf"]["rf_final"])),
    "param_table": _model_key(lambda r: param_table(r), block=True),
    "rf_table": _model_key(lambda r: rf_table(r), block=True),
    "bias_saving": _model_key(lambda r: f"{bias_saving(r):,}"),
    "multiply_adds": _model_key(lambda r: f"{r['structure']['multiply_adds']:,}"),
    "rf_row:": Key("rf_row:FIELD:LAYER", lambda v, spec, path, source: rf_row(v._measure(path, source), spec, source),
                   takes_file=True),
    **{key: _result_key(key) for key in RESULT_KEYS},
    "schedule:": Key("schedule:FIELD", lambda v, name, path, source: schedule_field(v._schedule(path, source), name),
                     takes_file=True),
    "onecycle:": Key("onecycle:ARG", lambda v, name, path, source: onecycle_arg(v._schedule(path, source), name),
                     takes_file=True),
    "lr_levers": Key("lr_levers", lambda v, _, path, source: lr_levers(v._schedule(path, source)), takes_file=True,
                     block=True),
    "translate_px": Key("translate_px", lambda v, _, path, source: v._translate_px(path, source)),
    "binomial_se": _lesson_key("binomial_se"),
    "binomial_se_images": _lesson_key("binomial_se_images"),
    "compare_table": Key("compare_table", lambda v, _, path, source: compare_table(v.comparison(path, source)),
                         block=True),
    "noise:": Key("noise:FIELD:FILE", lambda v, spec, path, source: v._noise(spec, path, source)),
    # the comparison read off the --validate rows: `validation:compare_table`, `validation:noise:last:FILE`
    "validation:": Key("validation:KEY", lambda v, key, path, source: v._validation(key, path, source)),
    # a figure of the confirmation row (seeds from --first-seed N > 0): `fresh:passed`, `fresh:seeds`, ...
    "fresh:": Key("fresh:KEY", lambda v, key, path, source: v._fresh(key, path, source), takes_file=True),
    "criterion:": Key("criterion:NAME", lambda v, name, path, source: v._criterion(name, path, source)),
    "testset:": Key("testset:FIELD", lambda v, name, path, source: v._testset(name, path, source)),
    "default:": Key("default:CLASS.ARG", lambda v, spec, path, source: torch_default(spec, source)),
    "json:": Key("json:DOTTED.PATH[:FORMAT]", lambda v, spec, path, source: json_figure(path, spec, source)),
    # SOURCE is solutions/RESULTS.md itself
    "gradescope_fit": Key("gradescope_fit", lambda v, _, path, source: v._gradescope_fit(path, source), block=True),
}


def lookup(key: str) -> tuple[Key, str]:
    """The registry's entry for a marker key and the argument after its prefix ("" for a plain key)."""
    if key in KEYS:
        return KEYS[key], ""
    prefix, colon, argument = key.partition(":")
    if colon and prefix + ":" in KEYS:
        return KEYS[prefix + ":"], argument
    known = ", ".join(entry.form or name for name, entry in KEYS.items())
    raise DocsError(f"unknown key {key!r}; known: {known}")


@dataclass
class Compared:
    """One file of a lesson's comparison, on the seeds the whole comparison shares."""

    file: str
    change: str  # what it changes from the solution (its [verify] note)
    expect: str
    device: str
    seeds: list[int]
    best: list[float]
    last: list[float]
    train_last: list[float] | None
    passed: list[bool]
    split: str = "test"  # what best and last measured: the test set, or the validation split (--validate rows)

    @property
    def mean_best(self) -> float:
        return sum(self.best) / len(self.best)

    @property
    def mean_last(self) -> float:
        return sum(self.last) / len(self.last)

    @property
    def mean_train(self) -> float | None:
        return sum(self.train_last) / len(self.train_last) if self.train_last else None

    def learned(self) -> Compared:
        """Only the seeds whose runs learned (noise.NEVER_LEARNED): what the table's means are taken over."""
        keep = noise.learned(self.last)
        train = [self.train_last[i] for i in keep] if self.train_last else None
        return replace(self, seeds=[self.seeds[i] for i in keep], best=[self.best[i] for i in keep],
                       last=[self.last[i] for i in keep], train_last=train, passed=[self.passed[i] for i in keep])


def compare_table(compared: list[Compared]) -> str:
    """Markdown: the solution and its one-change variants, the same seeds on the same device."""
    seeds = ", ".join(map(str, compared[0].seeds))
    # short headers: at 80 columns the file names must fit whole (the caption says what the figures are)
    judged = compared[0].split == "test"  # a validation run is never judged: no passed column
    lines = ["| model | change | best | last | train |" + (" passed |" if judged else ""),
             "|---|---|---:|---:|---:|" + ("---|" if judged else "")]
    failed = []
    for c in compared:
        name = "solution" if results.is_solution_file(c.file) else f"`{c.file.rsplit('/', 1)[-1]}`"
        ok = c.learned()  # a run that never learned is counted apart (noise.NEVER_LEARNED)
        if len(ok.seeds) < len(c.seeds):
            failed.append(f"{name} never learned on {len(c.seeds) - len(ok.seeds)} of {len(c.seeds)}")
        best = f"{ok.mean_best:.2f}" if ok.seeds else "-"
        train = "-" if not ok.seeds or ok.mean_train is None else f"{ok.mean_train:.2f}"
        # the spread on the last epoch only, the figure the noise markers compare: one more ± and the table
        # no longer fits 80 columns
        lines.append(f"| {name} | {c.change if name != 'solution' else '-'} | {best} | "
                     f"{noise.cell(c.last)} | {train} |" + (f" {sum(c.passed)} of {len(c.passed)} |" if judged else ""))
    noun = "seed" if len(compared[0].seeds) == 1 else "seeds"
    lines.append("")
    spread = " (the last ± the standard deviation between seeds)" if len(compared[0].seeds) > 1 else ""
    apart = (f" Runs that never learned (ending at {noise.NEVER_LEARNED:g} % or less) are left out of the means: "
             f"{'; '.join(failed)} seeds." if failed else "")
    if judged:
        measured, rows = "Test accuracy", "`solutions/RESULTS.md`"
    else:
        from grader.mnist import VALIDATION_SIZE

        measured = (f"Validation accuracy (the last {VALIDATION_SIZE:,} training images, held out: "
                    "`course grade --validate`)")
        rows = "the (validation) rows of `solutions/RESULTS.md`"
    lines.append(f"{measured} in % at the best and the last epoch, and the last epoch's training accuracy; means"
                 f"{spread} over {noun} {seeds} on {compared[0].device}, from {rows}.{apart}")
    return "\n".join(lines)


def result_value(key: str, row: results.ResultRow, target: float | None, test_images: int) -> str:
    """One figure of a RESULTS.md row, as the lessons print it (percentages to two decimals)."""
    if key == "best_acc":
        return f"{row.mean_best:.2f}"
    if key in ("last_acc", "train_row_last_acc"):
        return f"{row.mean_last:.2f}"
    if key == "passed":
        return f"{sum(row.passed)} of {len(row.passed)}"
    if key == "seeds":
        return str(len(row.seeds))
    if key == "seed_list":  # "5 to 9", or "0, 2" when not consecutive
        consecutive = row.seeds == list(range(row.seeds[0], row.seeds[0] + len(row.seeds)))
        return f"{row.seeds[0]} to {row.seeds[-1]}" if consecutive and len(row.seeds) > 2 else ", ".join(
            map(str, row.seeds))
    if key == "best_range":
        return f"{min(row.best):.2f} to {max(row.best):.2f}"
    if key == "last_range":
        return f"{min(row.last):.2f} to {max(row.last):.2f}"
    if key == "min_last":
        return f"{min(row.last):.2f}"
    if key == "best_last_gap":  # from the rounded means, so that the prose's own subtraction agrees
        return f"{round(row.mean_best, 2) - round(row.mean_last, 2):.2f}"
    if key == "train_acc":
        return f"{row.mean_train_last:.2f}"
    if key == "margin_images":
        if target is None:
            raise DocsError(f"{row.lesson} has no accuracy target to measure a margin from")
        return f"{round((round(row.mean_best, 2) - target) * test_images / 100):,}"
    slowest = row.max_epochs_to_target
    return "not reached" if slowest is None else str(slowest)


def binomial_se(target_percent: float, n: int) -> float:
    """Standard error, in percentage points, of an accuracy measured on n images when the true one is the target."""
    p = target_percent / 100
    return 100 * math.sqrt(p * (1 - p) / n)


def bias_saving(report: dict) -> int:
    """Parameters the model's bias-free convs would add with a bias: one per output channel."""
    return sum(layer["detail"]["out_channels"] for layer in report["structure"]["layers"]
               if layer["type"] == "Conv2d" and "out_channels" in layer["detail"] and not layer["detail"].get("bias"))


def rf_row(report: dict, spec: str, source: str) -> str:
    """One cell of the receptive-field walk: spec is FIELD:LAYER, e.g. rf_out:features.3 or jump_out:gap."""
    field_name, _, layer = spec.partition(":")
    rows = report["rf"]["rows"]
    if not rows or field_name not in rows[0] or field_name == "layer":
        known = ", ".join(k for k in (rows[0] if rows else {}) if k != "layer")
        raise DocsError(f"unknown rf_row field {field_name!r}; known: {known}")
    for r in rows:
        if r["layer"].split(" (")[0] == layer:
            return str(r[field_name])
    names = ", ".join(r["layer"].split(" (")[0] for r in rows)
    raise DocsError(f"{source} has no receptive-field row {layer!r}; rows: {names}")


def translate_px(lesson, overrides: dict) -> str:
    """The largest shift RandomAffine's translate can draw, in whole pixels: it samples uniformly in
    [-f·28, f·28] and rounds half to even (Python's round), as torchvision's get_params does."""
    from grader.trainer.recipe import resolve

    recipe = resolve(overrides, lesson.recipe, lesson.criteria.max_epochs)
    if recipe.augment.translate is None:
        raise DocsError(f"{lesson.id}: this recipe does not translate")
    return str(max(round(f * IMAGE_SIZE) for f in recipe.augment.translate))


def torch_default(spec: str, source: str) -> str:
    """A torch.optim.lr_scheduler class's default for one argument ("required" when it has none)."""
    import inspect

    import torch

    if source != "torch":
        raise DocsError(f"default:CLASS.ARG takes the SOURCE torch, got {source!r}")
    cls_name, _, arg = spec.partition(".")
    cls = getattr(torch.optim.lr_scheduler, cls_name, None)
    if not inspect.isclass(cls):
        raise DocsError(f"torch.optim.lr_scheduler has no class {cls_name!r}")
    params = inspect.signature(cls).parameters
    if arg not in params:
        raise DocsError(f"{cls_name} has no argument {arg!r}; its arguments: {', '.join(params)}")
    default = params[arg].default
    if default is inspect.Parameter.empty:
        return "required"
    return plain(default)


def param_table(report: dict) -> str:
    """Markdown: every layer with weights, the formula that gives its count, and the total."""
    lines = ["| layer | type | parameters | count |", "|---|---|---|---:|"]
    for layer in report["structure"]["layers"]:
        if not layer["params"]:
            continue
        lines.append(f"| `{layer['name']}` | {layer['type']} | {_formula(layer)} | {layer['params']:,} |")
    lines.append(f"| **total** | | | **{report['params']:,}** |")
    return "\n".join(lines)


def _formula(layer: dict) -> str:
    d, n = layer["detail"], layer["params"]
    text = "-"
    if layer["type"] == "Conv2d" and "in_channels" in d:
        kh, kw = (d["kernel"], d["kernel"]) if isinstance(d["kernel"], int) else d["kernel"]
        c_in = d["in_channels"] // (d.get("groups") or 1)
        text = f"{kh}×{kw}×{c_in}×{d['out_channels']}" + (f" + {d['out_channels']}" if d.get("bias") else "")
    elif layer["type"].startswith("BatchNorm") and n % 2 == 0:
        text = f"2×{n // 2}"  # a scale and a shift per channel; running statistics are buffers, not parameters
    elif layer["type"] == "Linear" and "in" in d:
        text = f"{d['in']}×{d['out']} + {d['out']}"
        if _eval(text) != n:
            text = f"{d['in']}×{d['out']}"  # bias=False
    return text if text == "-" or _eval(text) == n else "-"  # never print a formula that does not give the count


def _eval(formula: str) -> int:
    total = 0
    for term in formula.split(" + "):
        product = 1
        for factor in term.split("×"):
            product *= int(factor)
        total += product
    return total


def rf_table(report: dict) -> str:
    """Markdown: the receptive-field walk, one geometry-changing layer per row."""
    lines = ["| layer | kernel | stride | padding | size | RF | jump |", "|---|---:|---:|---:|---|---|---|"]
    for r in report["rf"]["rows"]:
        lines.append(
            f"| `{r['layer']}` | {r['kernel']} | {r['stride']} | {r['padding']} | {r['size_in']}→{r['size_out']} | "
            f"{r['rf_in']}→{r['rf_out']} | {r['jump_in']}→{r['jump_out']} |"
        )
    return "\n".join(lines)


def render(key: str, value: str) -> str:
    """The TEXT between the markers: tables sit on lines of their own, with blank lines around them."""
    return f"\n\n{value}\n\n" if _is_block(key) else value


def _same(key: str, old: str, new: str) -> bool:
    return old.strip() == new.strip() if _is_block(key) else old == new


def _is_block(key: str) -> bool:
    if key.startswith("validation:"):  # the validation rows' comparison: a table or a sentence, as the test's
        key = key.partition(":")[2]
    return key in KEYS and KEYS[key].block


def run(root: Path | None = None, check: bool = False, results_path: Path | None = None,
        files: list[Path] | None = None) -> DocsReport:
    """Fill (or with check, only compare) every marker.

    A broken marker (unknown key, missing source, a model that does not build) raises DocsError and nothing is
    written; a result marker whose solution has no current row in RESULTS.md is left as it is and listed in
    report.missing.
    """
    root = Path(root) if root else paths.lessons_dir().parent
    results_path = Path(results_path) if results_path else root / "solutions" / "RESULTS.md"
    values = Values(root, results_path)
    report = DocsReport(documents=list(files) if files is not None else documents(root))
    errors: list[str] = []
    rewritten: dict[Path, tuple[str, str]] = {}  # doc -> (text as read, text to write)
    for doc in report.documents:
        text = doc.read_text(encoding="utf-8")
        rel = _relative(doc, root)
        pieces, pos = [], 0
        # scan a copy with code blanked out (same length, so positions match the real text)
        masked = CODE.sub(lambda c: re.sub(r"[^\n]", " ", c.group()), text)
        markers = list(MARKER.finditer(masked))
        spans = [(m.start(), m.end()) for m in markers]
        for m in markers:
            line = text.count("\n", 0, m.start()) + 1
            report.markers += 1
            key, source = m.group("key"), m.group("source")
            old = text[m.start("text"):m.end("text")]
            if OPENING.search(m.group("text")):
                errors.append(f"{rel}:{line}: marker `{key} {source}` is not closed before the next marker")
                continue
            try:
                new = render(key, values.value(key, source))
            except ResultsAwaiting as exc:  # a declared file not trained yet: fill the rest, say what to train
                report.awaiting.append(f"{rel}:{line}: {key} {source}: {exc}")
                continue
            except ResultsMissing as exc:  # the numbers do not exist yet: fill the rest, say what to train
                report.missing.append(f"{rel}:{line}: {key} {source}: {exc}")
                continue
            except DocsError as exc:
                errors.append(f"{rel}:{line}: {key} {source}: {exc}")
                continue
            if not _same(key, old, new):
                report.changes.append(Change(doc, rel, line, key, source, old.strip(), new.strip()))
                pieces += [text[pos:m.start("text")], new]
                pos = m.end("text")
        for m in OPENING.finditer(masked):
            if not _inside(m.start(), spans):
                errors.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: marker has no closing <!-- /value -->")
        if pos:
            rewritten[doc] = (text, "".join(pieces) + text[pos:])
    if errors:
        raise DocsError("cannot fill the value markers:\n" + "\n".join(errors))
    if not check:
        for doc, (read, new_text) in rewritten.items():
            if doc.read_text(encoding="utf-8") != read:  # measuring takes seconds: an author may have saved meanwhile
                raise DocsError(f"{_relative(doc, root)} changed while `course docs` ran; run it again")
            atomic.write_text(doc, new_text)
            report.written.append(doc)
    return report


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= pos < end for start, end in spans)


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _number(name: str) -> tuple:
    from grader.course.lesson import lesson_sort_key

    return lesson_sort_key(name)
