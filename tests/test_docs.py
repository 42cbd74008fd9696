"""`course docs`: every value marker in the lessons is what the tool computes; stale and broken markers are caught."""

import hashlib

import pytest
from click.testing import CliRunner

from course import cli
from grader.authoring import docs, results
from grader.authoring.trusted import report_course_file
from tests.conftest import ROOT
from tests.minicourse import make_course, use_course


def test_every_marker_in_the_repository_is_up_to_date():
    """What keeps every number in the lessons true: run `course docs` after changing a model or a criterion."""
    report = docs.run(ROOT, check=True)
    stale = [f"{c.where}:{c.line}: {c.key} {c.source}: {c.old!r} -> {c.new!r}" for c in report.changes]
    assert not stale, "stale markers; run `course docs`:\n" + "\n".join(stale)
    assert not report.missing, "markers without trained results:\n" + "\n".join(report.missing)


@pytest.fixture
def repo(tmp_path):
    make_course(tmp_path)
    return tmp_path


def _readme(repo):
    return repo / "lessons" / "lesson1" / "README.md"


def test_check_lists_stale_markers_and_changes_nothing(repo):
    before = _readme(repo).read_text()
    report = docs.run(repo, check=True)
    assert _readme(repo).read_text() == before and not report.written
    found = {(c.line, c.key): (c.old, c.new) for c in report.changes}
    assert found[(3, "params")] == ("0", "3,818")  # tests/submissions/tiny.py's documented count
    assert found[(4, "criterion:max_params")] == ("1", "5,000")
    assert (5, "rf") in found and (7, "param_table") in found


def test_fill_rewrites_only_the_markers_then_check_is_clean(repo):
    report = docs.run(repo)
    assert report.written == [_readme(repo)]
    text = _readme(repo).read_text()
    measured = report_course_file(repo / "solutions" / "lesson1" / "model.py")
    assert f"-->{measured['params']:,}<!--" in text
    assert f"-->{measured['rf']['rf_before_global_pool']}<!--" in text
    assert text.startswith("# A first small net\n") and text.endswith("\nThe end.\n")
    assert docs.run(repo, check=True).changes == []
    assert not list(_readme(repo).parent.glob(".*.tmp"))  # written through a temp file, none left behind


def test_the_param_table_rows_add_up_and_each_formula_gives_its_count(repo):
    report = report_course_file(repo / "solutions" / "lesson1" / "model.py")
    table = docs.param_table(report)
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:-1]]
    counts = [int(r[3].replace(",", "")) for r in rows]
    assert sum(counts) == report["params"] and f"**{report['params']:,}**" in table.splitlines()[-1]
    for r, count in zip(rows, counts):
        formula = r[2].strip()
        if formula != "-":
            assert docs._eval(formula) == count, r


def test_a_table_in_the_block_form_ignores_surrounding_blank_lines(repo):
    docs.run(repo)
    text = _readme(repo).read_text()
    _readme(repo).write_text(text.replace("-->\n\n| layer", "-->\n| layer").replace("|\n\n<!-- /value", "|\n<!-- /value"))
    assert docs.run(repo, check=True).changes == []


@pytest.mark.parametrize("marker, message", [
    ("<!-- value: parms solutions/lesson1/model.py -->1<!-- /value -->", "unknown key 'parms'"),
    ("<!-- value: params solutions/lesson9/model.py -->1<!-- /value -->", "solutions/lesson9/model.py is not a file"),
    ("<!-- value: criterion:max_params lessons/lesson9 -->1<!-- /value -->", "not a lesson folder"),
    ("<!-- value: criterion:colour lessons/lesson1 -->1<!-- /value -->", "unknown criterion 'colour'"),
    ("<!-- value: params solutions/lesson1/model.py -->1", "no closing"),
])
def test_broken_markers_are_errors_naming_file_and_line(repo, marker, message):
    before = _readme(repo).read_text()
    line = before.count("\n") + 2
    _readme(repo).write_text(before + "\n" + marker + "\n")
    with pytest.raises(docs.DocsError) as err:
        docs.run(repo)
    assert f"lessons/lesson1/README.md:{line}:" in str(err.value) and message in str(err.value)
    assert _readme(repo).read_text() == before + "\n" + marker + "\n"  # nothing written: all or nothing


def _row(repo, **kw):
    solution = repo / "solutions" / "lesson1" / "model.py"
    base = dict(lesson="lesson1", file="solutions/lesson1/model.py",
                sha256=hashlib.sha256(solution.read_bytes()).hexdigest(), device="CPU (test)", params=3818, rf=18,
                seeds=[0, 1, 2], best=[99.41, 99.50, 99.47], last=[99.40, 99.38, 99.45], epochs_to_target=[7, 9, 8],
                epochs=[20, 20, 20], passed=[True, True, True], seconds=[10.0, 11.0, 12.0],
                when="2026-01-01T00:00:00+00:00", command="course verify --train --seeds 3 --device cpu")
    base.update(kw)
    return results.ResultRow(**base)


def test_result_keys_quote_solutions_results_and_notice_a_changed_solution(repo):
    path = repo / "solutions" / "RESULTS.md"
    results.write(path, [_row(repo)], "course verify --train", "2026-01-01")
    _readme(repo).write_text(
        "best <!-- value: best_acc solutions/lesson1/model.py -->?<!-- /value -->, "
        "last <!-- value: last_acc solutions/lesson1/model.py -->?<!-- /value -->, "
        "epochs <!-- value: epochs_to_target solutions/lesson1/model.py -->?<!-- /value -->\n"
    )
    docs.run(repo)
    assert _readme(repo).read_text().startswith(
        "best <!-- value: best_acc solutions/lesson1/model.py -->99.46<!-- /value -->, "
        "last <!-- value: last_acc solutions/lesson1/model.py -->99.41<!-- /value -->, "
        "epochs <!-- value: epochs_to_target solutions/lesson1/model.py -->9<!-- /value -->"
    )
    solution = repo / "solutions" / "lesson1" / "model.py"
    solution.write_text(solution.read_text() + "# edited\n")
    report = docs.run(repo, check=True)
    assert report.stale and len(report.missing) == 3
    assert "changed since solutions/RESULTS.md was written" in report.missing[0]


def test_a_result_marker_without_results_is_listed_and_the_rest_is_still_filled(repo):
    text = _readme(repo).read_text() + "\n<!-- value: best_acc solutions/lesson1/model.py -->?<!-- /value -->\n"
    _readme(repo).write_text(text)
    report = docs.run(repo)
    assert len(report.missing) == 1 and "run `course verify --train --lesson lesson1`" in report.missing[0]
    assert report.missing[0].startswith(f"lessons/lesson1/README.md:{text.count(chr(10))}:")
    filled = _readme(repo).read_text()
    assert "-->3,818<!--" in filled and "best_acc solutions/lesson1/model.py -->?<!--" in filled


def test_the_cli_exits_1_on_stale_markers_and_0_once_filled(repo, monkeypatch):
    use_course(monkeypatch, repo / "lessons", repo / "solutions")
    result = CliRunner().invoke(cli, ["docs", "--check"])
    assert result.exit_code == 1 and "lessons/lesson1/README.md:3: params" in result.output.replace("\n", "")
    assert "stale" in result.output
    result = CliRunner().invoke(cli, ["docs"])
    assert result.exit_code == 0 and "Updated 4 marker(s) in 1 file(s)" in result.output
    assert CliRunner().invoke(cli, ["docs", "--check"]).exit_code == 0
    _readme(repo).write_text("<!-- value: nope x -->1<!-- /value -->\n")
    result = CliRunner().invoke(cli, ["docs", "--check"])
    assert result.exit_code == 2 and "README.md:1:" in result.output and "Traceback" not in result.output


def test_markers_shown_as_code_are_left_alone(repo):
    example = ("Write `<!-- value: KEY SOURCE -->TEXT<!-- /value -->` in a lesson.\n\n"
               "```markdown\n<!-- value: params solutions/lesson1/model.py -->\n```\n")
    _readme(repo).write_text(example + "<!-- value: params solutions/lesson1/model.py -->0<!-- /value -->\n")
    report = docs.run(repo)
    assert report.markers == 1 and [c.line for c in report.changes] == [6]
    assert _readme(repo).read_text() == example + "<!-- value: params solutions/lesson1/model.py -->3,818<!-- /value -->\n"


def test_an_edit_made_while_docs_runs_is_never_overwritten(repo, monkeypatch):
    original = docs.Values.value

    def value_while_an_author_saves(self, key, source):
        _readme(repo).write_text("# rewritten by the author\n")
        return original(self, key, source)

    monkeypatch.setattr(docs.Values, "value", value_while_an_author_saves)
    with pytest.raises(docs.DocsError, match="changed while `course docs` ran"):
        docs.run(repo)
    assert _readme(repo).read_text() == "# rewritten by the author\n"
