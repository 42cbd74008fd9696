"""`course docs`: fill the value markers in the lessons' README.md files with numbers the tool computes.

A marker is `<!-- value: KEY SOURCE -->TEXT<!-- /value -->`: SOURCE is a repo-relative model file (for
params, rf, rf_final, param_table, rf_table, best_acc, last_acc, epochs_to_target) or a lesson folder
(for criterion:NAME) or solutions/RESULTS.md (for gradescope_fit, the table of which lessons fit Gradescope's
time limit); TEXT is replaced by the value. Tables use the block form, markers on their own lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from grader import atomic, paths
from grader.authoring import results, trusted
from grader.errors import CourseError

MARKER = re.compile(r"<!--\s*value:\s*(?P<key>\S+)\s+(?P<source>\S+)\s*-->(?P<text>.*?)<!--\s*/value\s*-->", re.S)
OPENING = re.compile(r"<!--\s*value:")
# Markdown code shows the marker syntax instead of using it: fenced blocks and `inline code` are skipped.
CODE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$|`[^`\n]+`", re.M | re.S)
MODEL_KEYS = ("params", "rf", "rf_final", "param_table", "rf_table")
RESULT_KEYS = ("best_acc", "last_acc", "epochs_to_target")
BLOCK_KEYS = ("param_table", "rf_table", "gradescope_fit")
RESULTS_KEYS = ("gradescope_fit",)  # SOURCE is solutions/RESULTS.md itself
CRITERION_PREFIX = "criterion:"


def strip_markers(text: str) -> str:
    """The text a reader should see: markers removed, their filled-in values kept.

    rich's Markdown drops an inline HTML comment together with the words around it, so prose shown in the
    terminal must lose the markers first.
    """
    return MARKER.sub(lambda m: m.group("text"), text)


class DocsError(CourseError):
    """Markers that cannot be filled: unknown key, missing source, a model that does not build."""

    kind = "docs"


class ResultsMissing(DocsError):
    """solutions/RESULTS.md has no (current) row for a solution: train it; the marker is left as it is."""


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


class Values:
    """Computes marker values, measuring each model file once."""

    def __init__(self, root: Path, results_path: Path):
        self.root = root
        self.results_path = results_path
        self._results: list[results.ResultRow] | None = None

    def value(self, key: str, source: str) -> str:
        """The text for one marker; raises DocsError with what is wrong (the caller adds file:line)."""
        path = self.root / source
        if key.startswith(CRITERION_PREFIX):
            return self._criterion(key[len(CRITERION_PREFIX):], path, source)
        if key in RESULTS_KEYS:
            from grader.gradebook.autograder import fit_table

            if not path.is_file():
                raise DocsError(f"{source} is not a file (gradescope_fit takes solutions/RESULTS.md)")
            return fit_table(results.read(path))
        if key not in MODEL_KEYS + RESULT_KEYS:
            known = ", ".join(MODEL_KEYS + RESULT_KEYS + RESULTS_KEYS + ("criterion:NAME",))
            raise DocsError(f"unknown key {key!r}; known: {known}")
        if not path.is_file():
            raise DocsError(f"{source} is not a file (SOURCE is a repo-relative path such as solutions/lesson2/model.py)")
        if key in RESULT_KEYS:
            return self._result(key, path, source)
        report = self._measure(path, source)
        if key == "params":
            return f"{report['params']:,}"
        if key == "rf":
            return str(report["rf"]["rf_before_global_pool"])
        if key == "rf_final":
            return str(report["rf"]["rf_final"])
        if key == "param_table":
            return param_table(report)
        return rf_table(report)

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

    def _result(self, key: str, path: Path, source: str) -> str:
        if self._results is None:
            self._results = results.read(self.results_path)
        row = results.pick(self._results, source)
        rel = _relative(self.results_path, self.root)
        if row is None:
            raise ResultsMissing(f"{rel} has no results for {source}; run `course verify --train --lesson {path.parent.name}`")
        if row.sha256 != _sha256(path):
            raise ResultsMissing(f"{source} changed since {rel} was written ({row.when}); its numbers are stale: run "
                            f"`course verify --train --lesson {row.lesson}`")
        if key == "best_acc":
            return f"{row.mean_best:.2f}"
        if key == "last_acc":
            return f"{row.mean_last:.2f}"
        slowest = row.max_epochs_to_target
        return "not reached" if slowest is None else str(slowest)


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
    return f"\n\n{value}\n\n" if key in BLOCK_KEYS else value


def _same(key: str, old: str, new: str) -> bool:
    return old.strip() == new.strip() if key in BLOCK_KEYS else old == new


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


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _number(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else 1_000_000
