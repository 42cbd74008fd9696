"""Every export parsed back and checked against the gradebook it came from."""

import csv
import io
import json
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

import course
from grader.course.lesson import get_lesson
from grader.course.verdict import expected_rows
from grader.gradebook import export, leaderboard, store
from tests.gradebook_records import make_record

# Gradescope's autograder specification, "Output format": the top-level fields of results.json
GRADESCOPE_TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                        "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}


@pytest.fixture
def db(tmp_path):
    """A gradebook with two lessons, a pass, a fail, a student with two runs, an error and awkward names."""
    path = tmp_path / "class.sqlite"
    bad = tmp_path / "erin.py"
    bad.write_text("class Net(:\n")
    with store.opened(path) as c:
        store.record_run(c, make_record("alice1", params=9_000, accs=(98.0, 99.1)), student="alice")
        store.record_run(c, make_record("alice2", params=9_500, accs=(98.5, 99.42)), student="alice")
        store.record_run(c, make_record("bob", params=25_000, accs=(99.5,)), student="bob, the | third")
        store.record_run(c, make_record("carol", params=4_000, accs=(97.0, 98.0, 99.41), lesson="lesson2"),
                         student='carol "<b>"')
        store.record_error(c, file=bad, lesson="lesson6", seed=0, message="syntax error | line 1", student="erin")
    return path


@pytest.fixture
def truth(db):
    """What the exports must say: the gradebook's runs and epochs, read with plain SQL."""
    with store.opened(db) as c:
        rows = leaderboard.build(c)
        epochs = {r.run_id: [e["test_acc"] for e in store.epochs(c, r.run_id)] for r in rows}
        runs = {r["id"]: r for r in store.runs(c)}
    return rows, epochs, runs


def test_csv_has_every_figure_and_the_provenance(truth):
    rows, epochs, runs = truth
    parsed = list(csv.DictReader(io.StringIO(export.to_csv(rows))))
    assert len(parsed) == len(rows) == 4
    for got, row in zip(parsed, rows):
        run = runs[int(got["run_id"])]
        assert got["student"] == run["student"] and got["sha256"] == run["sha256"] and got["status"] == run["status"]
        assert (got["params"] or None) == (None if run["params"] is None else str(run["params"]))
        assert [float(a) for a in got["curve"].split()] == epochs[row.run_id]
        if run["best_acc"] is not None:
            assert float(got["best_acc"]) == run["best_acc"]
        for col in ("grader_version", "torch_version", "torchvision_version", "device_name", "submitted_at", "source"):
            assert got[col] == (run[col] or ""), col
    alice = next(p for p in parsed if p["student"] == "alice")
    assert alice["attempts"] == "2" and float(alice["best_acc"]) == 99.42  # the passing run stands


def test_json_round_trips(truth):
    rows, epochs, runs = truth
    data = json.loads(export.to_json(rows))
    assert [r["student"] for r in data["rows"]] == [r.student for r in rows]
    for got in data["rows"]:
        run = runs[got["run_id"]]
        assert (got["params"], got["best_acc"], got["status"], got["seed"]) == (
            run["params"], run["best_acc"], run["status"], run["seed"])
        assert got["curve"] == epochs[got["run_id"]]
        assert [c["name"] for c in got["criteria"]] == [c["name"] for c in (run["verdict"] or {}).get("criteria", [])]


def test_markdown_table(truth):
    rows, _, _ = truth
    lines = export.to_markdown(rows).splitlines()
    assert lines[0].startswith("| rank | student |") and set(lines[1]) <= set("|-:")
    assert len(lines) == 2 + len(rows)
    for line, row in zip(lines[2:], rows):
        cells = [c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")]
        assert len(cells) == 13
        assert unmarkdown(cells[1].replace("\0", "|")) == row.student
        assert cells[4] == (f"{row.params:,}" if row.params is not None else "")
        assert unmarkdown(cells[12].replace("\0", "|")) == row.reason
    assert "syntax error | line 1" in [r.reason for r in rows]  # erin's reason, pipe and all


def unmarkdown(cell: str) -> str:
    """What a Markdown renderer shows for a cell export.md_cell wrote."""
    import html
    import re

    return html.unescape(re.sub(r"\\(.)", r"\1", cell))


class Cells(HTMLParser):
    """The table body's data-value attributes, row by row, and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.rows, self.urls, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        if tag == "td" and "data-value" in attrs:
            self.rows[-1].append(attrs["data-value"])
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "xlink:href") and v]


def test_html_is_self_contained_and_holds_the_gradebook(truth):
    rows, _, _ = truth
    page = export.to_html(rows, title="Leaderboard <lesson6>")
    parser = Cells()
    parser.feed(page)
    assert parser.urls == [] and not {"link", "img", "iframe"} & parser.tags  # nothing fetched
    assert "<script src" not in page and "@import" not in page and "url(" not in page
    assert "carol &quot;&lt;b&gt;&quot;" in page and "<b>" not in page  # names are escaped
    body = [r for r in parser.rows if r]
    names = [c[html_column("student")] for c in body]
    params = [c[html_column("params")] for c in body]
    assert names == [r.student for r in rows]
    assert params == ["" if r.params is None else str(r.params) for r in rows]
    assert page.count("<svg") == sum(1 for r in rows if r.curve)


def html_column(name: str) -> int:
    """The index among a row's data-value cells (the curve cell has none)."""
    return [h for h, *_ in export._COLUMNS].index(name)


def test_html_escapes_names():
    conn = store.connect(":memory:")
    store.record_run(conn, make_record("x"), student="<script>alert(1)</script>")
    page = export.to_html(leaderboard.build(conn))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_gradescope_results_per_student(truth, tmp_path):
    rows, _, runs = truth
    written = export.write(rows, "gradescope", tmp_path / "gs")
    assert len(written) == len(rows)
    for path, row in zip(written, rows):
        data = json.loads(path.read_text())
        assert path.parent.parent.name == export._folder_name(row.student)
        assert set(data) <= GRADESCOPE_TOP_LEVEL  # nothing Gradescope's specification does not name
        weights = get_lesson(row.lesson).criteria
        total = sum(weights.weight(n) for n in expected_rows(weights))
        assert data["extra_data"]["max_score"] == total
        run = runs[row.run_id]
        if row.status == "error":
            assert data["score"] == 0 and data["tests"][0]["status"] == "failed"
            assert data["tests"][0]["max_score"] == total  # an error still counts against every point
            assert "syntax error" in data["tests"][0]["output"]
            continue
        criteria = run["verdict"]["criteria"]
        # partial credit: each passed row earns its criterion's weight in the lesson's manifest
        assert data["score"] == sum(weights.weight(c["name"]) for c in criteria if c["passed"] is True)
        assert [t["max_score"] for t in data["tests"]] == [weights.weight(c["name"]) for c in criteria]
        assert all(t["visibility"] == "visible" for t in data["tests"])
        board = {e["name"]: (e["value"], e["order"]) for e in data["leaderboard"]}
        assert board["Parameters"] == (run["params"], "asc")
        assert board["Best test accuracy (%)"] == (run["best_acc"], "desc")
    alice = json.loads(written[[r.student for r in rows].index("alice")].read_text())
    assert alice["score"] == 1 + 5  # lesson6: parameters (1) and accuracy (5), both passed


def test_cli_writes_each_format_atomically(db, tmp_path):
    runner = CliRunner()
    for fmt in ("csv", "json", "md", "html"):
        out = tmp_path / f"board.{fmt}"
        result = runner.invoke(course.cli, ["leaderboard", "--db", str(db), "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text() and not list(tmp_path.glob(f".board.{fmt}.*"))  # no temp file left behind
    shown = runner.invoke(course.cli, ["leaderboard", "--db", str(db), "--lesson", "lesson2", "--format", "json"])
    assert [r["student"] for r in json.loads(shown.output)["rows"]] == ['carol "<b>"']
    anon = runner.invoke(course.cli, ["leaderboard", "--db", str(db), "--format", "csv", "--anonymize"])
    assert "alice" not in anon.output and "erin.py" not in anon.output and anon.output.count("anon-") == 4


def test_cli_errors_say_what_to_do(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(course.cli, ["leaderboard", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "no gradebook at" in missing.output
    with store.opened(tmp_path / "g.sqlite"):
        pass
    gs = runner.invoke(course.cli, ["leaderboard", "--db", str(tmp_path / "g.sqlite"), "--format", "gradescope"])
    assert gs.exit_code == 2 and "-o FOLDER" in gs.output


HOSTILE_NAMES = ['=HYPERLINK("http:evil")+cmd', "+SUM(A1:A9)", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", "\tTAB", "\rCR",
                 "<img src=x onerror=alert(1)>", "a | b", "[click](javascript:alert(1))", "../../etc/passwd"]
HOSTILE_MESSAGES = ['=HYPERLINK("http:evil","x")', "<script>alert(1)</script>", "| broken | row |\nsecond line"]


@pytest.fixture
def hostile(tmp_path):
    """A class folder is student-named: every name and message below is something a file name can carry."""
    conn = store.connect(":memory:")
    for i, name in enumerate(HOSTILE_NAMES):
        store.record_run(conn, make_record(f"h{i}", params=9_000 + i), student=name)
    for i, message in enumerate(HOSTILE_MESSAGES):
        bad = tmp_path / f"bad{i}.py"
        bad.write_text(f"# {i}\n")
        store.record_error(conn, file=bad, lesson="lesson6", seed=0, message=message, kind="policy",
                           student=f"{message[:12]}{i}")
    return leaderboard.build(conn)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_hostile_names_and_messages_are_inert_in_every_format(hostile, tmp_path):
    rows = hostile
    # CSV: no text cell a spreadsheet would run; the name is still there after the quote
    parsed = list(csv.reader(io.StringIO(export.to_csv(rows))))
    header, body = parsed[0], parsed[1:]
    for line in body:
        for cell in line:
            assert _is_number(cell) or not cell.startswith(export.FORMULA_START), cell
    names = [line[header.index("student")] for line in body]
    assert "'" + HOSTILE_NAMES[0] in names and "a | b" in names
    assert {line[header.index("message")] for line in body} >= {"'" + HOSTILE_MESSAGES[0]}

    # JSON: data, not a document: every name comes back exactly
    assert {r["student"] for r in json.loads(export.to_json(rows))["rows"]} == {r.student for r in rows}

    # Markdown: no raw HTML, no link, and every row keeps its 13 cells
    md = export.to_markdown(rows)
    assert "<img" not in md and "<script" not in md and "[click](" not in md  # \[click\] is no link
    for line, row in zip(md.splitlines()[2:], rows):
        cells = [c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")]
        assert len(cells) == 13 and unmarkdown(cells[1].replace("\0", "|")) == " ".join(row.student.split())

    # HTML: escaped text; the page's own script is the only one, and no image, link or handler appears
    page = export.to_html(rows)
    parser = Cells()
    parser.feed(page)
    assert parser.urls == [] and not {"img", "a", "iframe"} & parser.tags
    assert page.count("<script") == 1 and "onerror=" not in page.replace("onerror=alert(1)&gt;", "")

    # Gradescope: one folder per student inside the output folder, whatever the name says
    out = tmp_path / "gs"
    written = export.write(rows, "gradescope", out)
    assert len(written) == len(rows)
    for path in written:
        assert path.resolve().is_relative_to(out.resolve())
        doc = json.loads(path.read_text())
        assert doc["output_format"] == "text"
