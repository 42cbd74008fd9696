"""The course content: seven lessons in order, stubs that fail, solutions that pass, READMEs that do not lie."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from grader.authoring.trusted import report_course_file
from grader.course.lesson import CRITERION_NAMES, get_lesson, lesson_ids
from grader.course.verdict import judge
from grader.errors import SubmissionError
from grader.walls.policy import check_source
from grader.worker.submission import load

ROOT = Path(__file__).resolve().parent.parent
LESSONS = [f"lesson{n}" for n in range(1, 8)]
MARKER = re.compile(r"<!--\s*value:\s*(?P<key>\S+)\s+(?P<source>\S+)\s*-->(?P<text>.*?)<!--\s*/value\s*-->", re.S)


@cache
def _measured(path: Path) -> dict:
    return report_course_file(path)


def _readme(lesson_id: str) -> str:
    return (ROOT / "lessons" / lesson_id / "README.md").read_text(encoding="utf-8")


def test_seven_lessons_in_course_order():
    assert lesson_ids() == LESSONS


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_lesson_folder_is_complete(lesson_id):
    lesson = get_lesson(lesson_id)
    for path in (lesson.readme, lesson.path / "lesson.toml", lesson.stub, ROOT / "solutions" / lesson_id / "model.py"):
        assert path.is_file(), f"{path} is missing"
    assert lesson.objectives and lesson.hints and lesson.criteria.accuracy is not None
    # The README opens with the lesson's number and its manifest title, so the two cannot drift apart.
    number = int(lesson_id.removeprefix("lesson"))
    assert _readme(lesson_id).splitlines()[0] == f"# Lesson {number} — {lesson.title}"
    # A parameter budget named in a title (lesson 7's "under 8,000 parameters") is the manifest's own.
    for budget in re.findall(r"(\d{1,3}(?:,\d{3})+) parameters", lesson.title):
        assert int(budget.replace(",", "")) == lesson.criteria.max_params, lesson.title


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_every_criterion_the_lesson_sets_has_a_hint(lesson_id):
    lesson = get_lesson(lesson_id)
    c = lesson.criteria
    set_criteria = {
        "max_params": c.max_params is not None,
        "min_receptive_field": c.min_receptive_field is not None,
        "required_layers": bool(c.required_layers),
        "forbidden_layers": bool(c.forbidden_layers),
        "bn_after_every_3x3": c.bn_after_every_3x3,
        "max_dropout": c.max_dropout is not None,
        "accuracy": c.accuracy is not None,
    }
    assert set(set_criteria) == set(CRITERION_NAMES)
    hinted = {h.criterion for h in lesson.hints}
    missing = [name for name, is_set in set_criteria.items() if is_set and name not in hinted]
    assert not missing, f"{lesson_id}: no hint answers {missing}"
    assert any(h.criterion is None for h in lesson.hints), "a general hint comes first"


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_solution_passes_the_static_checks_with_a_margin(lesson_id):
    criteria = get_lesson(lesson_id).criteria
    report = _measured(ROOT / "solutions" / lesson_id / "model.py")
    verdict = judge(criteria, report)
    assert verdict.status == "passed", verdict.message
    if criteria.max_params:
        assert report["params"] <= 0.99 * criteria.max_params, "a solution at the very edge of the budget"
    if criteria.min_receptive_field:
        assert report["rf"]["rf_before_global_pool"] >= criteria.min_receptive_field + 2


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_stub_fails_the_contract_or_the_static_checks(lesson_id):
    lesson = get_lesson(lesson_id)
    sub = load(lesson.stub)  # every stub imports
    try:
        report = _measured(lesson.stub)
    except SubmissionError as exc:
        # An unfinished stub says what to do, not just that something broke.
        assert "TODO" in str(exc), str(exc)
        return
    verdict = judge(lesson.criteria, report)
    assert verdict.status == "failed", f"the untouched {lesson_id} stub passes its static checks"
    assert "TODO" in sub.path.read_text(encoding="utf-8")


def test_course_files_pass_the_submission_policy():
    """Stubs, solutions and examples are held to the same static policy as a student's file."""
    files = [*ROOT.glob("lessons/*/model.py"), *ROOT.glob("lessons/*/examples/*.py"), *ROOT.glob("solutions/*/model.py")]
    assert len(files) >= 14
    refused = {str(f.relative_to(ROOT)): findings for f in files if (findings := check_source(f.read_bytes()))}
    assert not refused


# ------------------------------------------------------------------------------------ hand-written arithmetic

_LHS_CHARS = set("0123456789,·×*+−-() ")
_RHS = re.compile(r"\s*(\d[\d,]*)")


def hand_arithmetic(text: str) -> list[tuple[str, int, int]]:
    """(expression, written result, true result) for every `1·1·16·10 + 10 = 170`-style claim in the text."""
    found = []
    for eq in re.finditer(r"=", text):
        rhs = _RHS.match(text, eq.end())
        start = eq.start()
        while start > 0 and text[start - 1] in _LHS_CHARS:
            start -= 1
        expr = re.sub(r"^[^\d(]+", "", text[start : eq.start()]).strip()  # list dashes, commas
        if not rhs or not re.search(r"\d\s*[·×*+−\-]\s*\(?\d", expr) or expr.count("(") != expr.count(")"):
            continue
        python = re.sub(r"(?<=\d),(?=\d{3})", "", expr).replace("·", "*").replace("×", "*").replace("−", "-")
        found.append((expr, int(rhs.group(1).replace(",", "")), eval(python, {"__builtins__": {}})))  # noqa: S307 - digits and operators only
    return found


def test_the_arithmetic_finder_catches_a_wrong_sum():
    claims = hand_arithmetic("- 3·3·16·32 + 32 = 4,640; the head adds (6 − 1)·2 = 11, and k·k·c_in = N")
    assert [(w, t) for _, w, t in claims] == [(4640, 4640), (11, 10)]


def test_hand_written_arithmetic_in_lessons_is_right():
    claims = []
    for lesson_id in LESSONS:
        texts = [_readme(lesson_id)] + [h.text for h in get_lesson(lesson_id).hints]
        claims += [(lesson_id, *c) for text in texts for c in hand_arithmetic(text)]
    wrong = [c for c in claims if c[2] != c[3]]
    assert not wrong, f"wrong arithmetic: {wrong}"
    assert len(claims) >= 20, "the lessons lost their worked parameter counts"


# ------------------------------------------------------------------------------------------- value markers


def _outside_markers(text: str) -> str:
    return MARKER.sub(" ", text)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_markers_name_real_sources(lesson_id):
    text = _readme(lesson_id)
    markers = list(MARKER.finditer(text))
    assert markers, f"{lesson_id}: no value markers"
    assert text.count("<!-- value:") == len(markers), "a marker is not closed"
    for m in markers:
        source = ROOT / m["source"]
        if m["key"].startswith("criterion:"):
            assert (source / "lesson.toml").is_file(), m.group(0)
        else:
            assert source.is_file(), m.group(0)


def test_no_measured_total_is_typed_by_hand():
    """A model's parameter total may appear in a README only inside a marker, where the tool writes it."""
    models = sorted({ROOT / m["source"] for lesson_id in LESSONS for m in MARKER.finditer(_readme(lesson_id))
                     if (ROOT / m["source"]).is_file()})
    assert len(models) >= 8
    for lesson_id in LESSONS:
        prose = _outside_markers(_readme(lesson_id))
        for model in models:
            total = f"{_measured(model)['params']:,}"
            assert not re.search(rf"(?<![\d,]){re.escape(total)}(?![\d,])", prose), (
                f"{lesson_id} types the parameter total of {model.relative_to(ROOT)} ({total}) outside a marker"
            )
