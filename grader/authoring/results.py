"""solutions/RESULTS.md: the reference solutions' trained results, one row per (lesson, device).

The table is for people; the same rows ride along as JSON in an HTML comment at the end of the file, so
that `course verify --train` can merge a re-run into them and `course docs` can quote them without
parsing a table.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from statistics import mean

from grader import atomic
from grader.digest import code_sha256, file_sha256
from grader.errors import CourseError
from grader.mnist import VALIDATION_SIZE

DATA_OPEN = "<!-- course-verify-data"
_DATA = re.compile(re.escape(DATA_OPEN) + r"\n(.*?)\n-->", re.S)


class ResultsError(CourseError):
    """RESULTS.md exists but its data block cannot be read."""

    kind = "results"


@dataclass
class ResultRow:
    """One solution trained on K seeds on one device."""

    lesson: str
    file: str  # repo-relative path of the solution, as lesson markers name it
    sha256: str  # of the solution when it was trained: an edit makes these numbers stale, unless code_sha256 says
    # it touched only comments, docstrings or layout
    device: str  # device name (GPU model or CPU): with lesson, the key a re-run replaces
    params: int
    rf: int  # the receptive field before global pooling: what the lessons' criteria and `course check` call the RF
    seeds: list[int]
    best: list[float]  # best test accuracy per seed, percent
    last: list[float]  # last epoch's test accuracy per seed
    epochs_to_target: list[int | None]
    epochs: list[int]  # epochs actually trained per seed
    passed: list[bool]
    seconds: list[float]
    when: str
    command: str
    torch: str | None = None
    quick: bool = False  # smoke rows (tests only) never calibrate anything
    extra: dict = field(default_factory=dict)
    # "pass" for a solution; an extra file (a hint path, a comparison) says what the lesson claims of it:
    # "pass", "fail" (e.g. "too narrow to pass") or "measure" (only its figures are quoted).
    expect: str = "pass"
    train_last: list[float] | None = None  # last epoch's training accuracy per seed (None: rows from before)
    # digest.code_sha256 of the solution when it was trained. None: rows from before, only the bytes vouch for them
    code_sha256: str | None = None
    # how a row trained in parts came to be (`course verify --extend` added seeds to it): one line per training,
    # "seeds 1, 2: `command` (when, torch X)"; [] for a row trained in one go, whose command and when say it all
    history: list[str] = field(default_factory=list)
    # what the accuracies measured: "test", or "validation" (`course verify --validate`: the training set's last
    # images, held out; the run trained on the others). Such a row is never judged, and sits beside the test row.
    split: str = "test"

    @property
    def fresh(self) -> bool:
        """A confirmation row: trained on seeds from N > 0 (`--first-seed`), seeds the design was not chosen on. It
        sits beside the row from seed 0, which calibrates the lessons' figures and comparisons."""
        return bool(self.seeds) and self.seeds[0] > 0

    def describes(self, path: Path) -> bool:
        """Whether these numbers still describe the file at `path`: the same bytes, or the same code."""
        if not path.is_file():
            return False
        if self.sha256 == file_sha256(path):
            return True
        return self.code_sha256 is not None and self.code_sha256 == code_sha256(path.read_text(encoding="utf-8"))

    @property
    def label(self) -> str:
        """The row's name in the table: the lesson, plus the file for anything but its model.py."""
        label = self.lesson if self.solution else f"{self.lesson}: {self.file.rsplit('/', 1)[-1]}"
        return label if self.split == "test" else f"{label} ({self.split})"

    @property
    def solution(self) -> bool:
        """Whether the row is its lesson's solution (solutions/lessonN/model.py), not a file its text compares."""
        return is_solution_file(self.file)

    @property
    def as_expected(self) -> bool:
        """Every seed went the way the lesson says (measure-only rows: every seed was graded)."""
        if self.expect == "fail":
            return not any(self.passed)
        if self.expect == "measure" or self.split != "test":  # a validation run is never judged
            return True
        return all(self.passed)

    @property
    def mean_train_last(self) -> float | None:
        return mean(self.train_last) if self.train_last else None

    @property
    def mean_best(self) -> float:
        return mean(self.best)

    @property
    def mean_last(self) -> float:
        return mean(self.last)

    @property
    def max_epochs_to_target(self) -> int | None:
        """The slowest seed's epochs to target; None if any seed never reached it."""
        if not self.epochs_to_target or any(e is None for e in self.epochs_to_target):
            return None
        return max(self.epochs_to_target)


def is_solution_file(file: str) -> bool:
    """Whether a repo-relative course file is a lesson's solution (solutions/lessonN/model.py): tables name it
    "solution" or by its lesson, and any other file (a hint path, a comparison) by its own name."""
    return file.startswith("solutions/") and file.rsplit("/", 1)[-1] == "model.py"


def read(path: Path) -> list[ResultRow]:
    """The rows stored in RESULTS.md; [] when the file does not exist yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    m = _DATA.search(text)
    if not m:
        raise ResultsError(f"{path} has no `{DATA_OPEN}` block; regenerate it with `course verify --train`")
    try:
        names = {f.name for f in fields(ResultRow)}
        return [ResultRow(**{k: v for k, v in raw.items() if k in names}) for raw in json.loads(m.group(1))]
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ResultsError(f"{path}: the data block is damaged ({exc}); "
                           "regenerate it with `course verify --train`") from exc


def merge(old: list[ResultRow], new: list[ResultRow]) -> list[ResultRow]:
    """Old rows with every (lesson, file, device, fresh, split) that `new` has replaced; sorted by lesson, solution
    first, device, test before validation, seeds from 0 before fresh ones."""
    keys = {_key(r) for r in new}
    rows = [r for r in old if _key(r) not in keys] + list(new)
    return sorted(rows, key=lambda r: (_lesson_number(r.lesson), r.lesson, not r.solution, r.file, r.device,
                                       r.split != "test", r.fresh))


def extend(base: ResultRow, more: ResultRow) -> ResultRow:
    """`base` (seeds 0..N-1) with `more`'s seeds N.. appended: one row, each part's training kept in its history."""
    if (base.lesson, base.file, base.device, base.split) != (more.lesson, more.file, more.device, more.split):
        raise ResultsError(f"cannot add {more.label} on {more.device} to {base.label} on {base.device}: "
                           "seeds join only the row of the same file, device and split")
    if base.seeds != list(range(len(base.seeds))) or more.seeds != list(range(len(base.seeds),
                                                                               len(base.seeds) + len(more.seeds))):
        raise ResultsError(f"{base.label}: seeds {_seed_words(more.seeds)} do not continue seeds "
                           f"{_seed_words(base.seeds)} (the row must stay seeds 0..K-1)")
    joined = {name: getattr(base, name) + getattr(more, name)
              for name in ("seeds", "best", "last", "epochs_to_target", "epochs", "passed", "seconds")}
    train_last = None if base.train_last is None or more.train_last is None else base.train_last + more.train_last
    history = (base.history or [_part(base)]) + (more.history or [_part(more)])
    return ResultRow(**{**asdict(more), **joined, "train_last": train_last, "history": history})


def _part(row: ResultRow) -> str:
    return f"seeds {_seed_words(row.seeds)}: `{row.command}` ({row.when}, torch {row.torch or '?'})"


def _seed_words(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


def _key(row: ResultRow) -> tuple:
    return row.lesson, row.file, row.device, row.fresh, row.split


def pick(rows: list[ResultRow], file: str, need=None, fresh: bool = False, split: str = "test") -> ResultRow | None:
    """The row that speaks for a course file: most seeds, then the latest run; `need(row)` filters first
    (a figure only newer rows record, such as the training accuracy). fresh picks among confirmation rows, split
    among test or validation rows."""
    mine = [r for r in rows if r.file == file and not r.quick and r.fresh == fresh and r.split == split
            and (need is None or need(r))]
    return max(mine, key=lambda r: (len(r.seeds), r.when), default=None)


def remeasure(rows: list[ResultRow], root: Path, measure=None) -> list[ResultRow]:
    """The rows with their static columns (params, RF) measured again, by the current analysis, from every file a
    row still describes; the trained figures are kept as they are (they do not depend on how the RF is read).

    A row keeps the analysis of its day: rows written before the analysis read a head whose window covers the
    whole map as a global operation recorded the RF at the output (28 for lessons 2 to 4) where the lessons mean
    the RF before it (18). `measure(path)` returns a `course check` report (default: measured in this process).
    """
    if measure is None:
        from grader.authoring import trusted

        measure = trusted.report_course_file
    out = []
    for r in rows:
        path = Path(root) / r.file
        if r.quick or not r.describes(path):
            out.append(r)
            continue
        report = measure(path)
        out.append(ResultRow(**{**asdict(r), "params": report["params"], "rf": report["rf"]["rf_before_global_pool"]}))
    return out


def write(path: Path, rows: list[ResultRow], command: str, when: str) -> Path:
    """Render the rows as RESULTS.md and write it atomically."""
    return atomic.write_text(path, render(rows, command, when))


def render(rows: list[ResultRow], command: str, when: str) -> str:
    lines = [
        "# Reference solutions: trained results",
        "",
        f"Written by `course verify --train`: do not edit by hand. Last written by `{command}` on {when}.",
        "",
        "Each row is one solution trained from scratch on seeds 0..K-1 through the normal grading path",
        "(`course grade`'s loop and verdict), on one device. Re-running one lesson replaces only its row for",
        "that device. Accuracies are test accuracies in percent; \"epochs to target\" is the first epoch that",
        "reached the lesson's target, per seed. Rows named `lessonN: FILE` are the other models a lesson's text",
        "talks about (listed in its lesson.toml `[verify]` table): \"passed\" then says what the lesson expects",
        "of them (to pass, to fail, or only to be measured). Since 2026-11-28 the loop draws CPU dropout masks",
        "the cheaper way by default (grader/trainer/speed.py: the same Bernoulli distribution, other draws); rows",
        "written before drew them with torch's kernel, so re-running one whose model has dropout gives figures of",
        "the same spread, not the same digits (`course grade --torch-dropout` draws them as those rows did).",
        "A row whose seeds start above 0 confirms a design on fresh seeds (`course verify --first-seed N`) and",
        "is kept beside the seed-0 row; seeds added to a row later (`--first-seed N --extend`) join it, and",
        "\"Produced by\" lists each part's command. Rows marked (validation) come from `--validate`: their",
        f"accuracies are on the last {VALIDATION_SIZE:,} training images, held out (the runs trained on the others),",
        "the split the lessons compare designs on; such a run is never judged against the target.",
        "\"RF\" is the receptive field before global pooling (or before a head whose window covers the whole map),",
        "the figure the lessons' criteria and `course check` use; params and RF are measured from the file as it",
        "is, by the current analysis (`python -m grader.authoring.results --remeasure` refreshes them).",
        "",
        "| lesson | params | RF | device | seeds | best acc per seed | mean best | last acc per seed | mean last "
        "| epochs to target | passed | time per run | when |",
        "|---|---:|---:|---|---|---|---:|---|---:|---|---|---:|---|",
    ]
    for r in rows:
        to_target = ", ".join("-" if e is None else str(e) for e in r.epochs_to_target)
        lines.append(
            f"| {r.label}{' (quick)' if r.quick else ''} | {r.params:,} | {r.rf} | {r.device} | "
            f"{_seed_words(r.seeds)} | {', '.join(f'{a:.2f}' for a in r.best)} | {r.mean_best:.2f} | "
            f"{', '.join(f'{a:.2f}' for a in r.last)} | {r.mean_last:.2f} | {to_target} | "
            f"{_passed(r)} | {_duration(mean(r.seconds))} | {r.when} |"
        )
    lines += ["", "Produced by:", ""]
    for r in rows:
        if r.history:  # trained in parts: each part's command, one per line
            lines.append(f"- {r.label} on {r.device}, in {len(r.history)} parts:")
            lines += [f"  - {part}" for part in r.history]
        else:
            lines.append(f"- {r.label} on {r.device}: `{r.command}` ({r.when}, torch {r.torch or '?'})")
    data = "[\n" + ",\n".join(json.dumps(asdict(r)) for r in rows) + "\n]"  # a row per line: readable diffs
    # "--" may not appear inside an HTML comment; \u002d is the same "-" to a JSON parser.
    data = data.replace("--", "-\\u002d")
    lines += ["", DATA_OPEN, data, "-->", ""]
    return "\n".join(lines)


def _passed(r: ResultRow) -> str:
    if r.split != "test":
        return "- (not judged)"
    count = f"{sum(r.passed)}/{len(r.passed)}"
    if r.expect == "fail":
        return f"{count} (expected to fail{'' if r.as_expected else ': DID NOT'})"
    if r.expect == "measure":
        return f"{count} (measured only)"
    return count


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _lesson_number(lesson_id: str) -> tuple:
    from grader.course.lesson import lesson_sort_key

    return lesson_sort_key(lesson_id)


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.authoring.results --remeasure [RESULTS.md]`: refresh the static columns, train nothing."""
    import argparse

    from grader import paths
    from grader.gradebook.progress import now

    parser = argparse.ArgumentParser(prog="python -m grader.authoring.results", description=main.__doc__)
    parser.add_argument("--remeasure", action="store_true", required=True,
                        help="measure params and RF again from each file its row still describes")
    parser.add_argument("path", nargs="?", type=Path, help="RESULTS.md (default: solutions/RESULTS.md)")
    args = parser.parse_args(argv)
    path = args.path or paths.solutions_dir() / "RESULTS.md"
    rows = read(path)
    if not rows:
        parser.error(f"{path} has no rows")
    root = paths.solutions_dir().parent
    write(path, remeasure(rows, root), "python -m grader.authoring.results --remeasure", now())
    print(f"{path}: params and RF measured again for {len(rows)} row(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
