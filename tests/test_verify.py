"""`course verify`: stubs fail and solutions pass statically; training writes and merges solutions/RESULTS.md."""

import json
import os

import pytest
from click.testing import CliRunner

from course import cli
from grader.authoring import results, trusted
from grader.authoring.verify import verify
from grader.course.options import GradeOptions
from grader.digest import code_sha256
from grader.errors import CourseError
from grader.events import EpochDone, VerifyRun
from tests.minicourse import TINY, make_course, use_course


@pytest.mark.slow  # the slow tier: the whole repository, or gradings end to end
def test_every_stub_fails_and_every_solution_passes_in_the_repository():
    report = verify()
    problems = [f"{r.lesson} {r.kind}: {r.status}: {r.message}" for r in report.static if not r.ok]
    assert not problems, "\n".join(problems)
    kinds = {(r.lesson, r.kind, r.file) for r in report.static}
    assert len(kinds) == len(report.static) >= 2 * 8  # eight lessons, a stub and a solution each, and extras
    assert {(r.lesson, r.kind) for r in report.static if r.kind != "extra"} == {
        (lesson, kind) for lesson in [*(f"lesson{n}" for n in range(1, 7)), "lesson6b", "lesson7"]
        for kind in ("stub", "solution")}
    assert not report.runs and report.exit_code == 0


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "course")


def test_a_stub_that_already_passes_fails_verify_with_exit_1(course, monkeypatch):
    lessons, solutions = course
    (lessons / "lesson1" / "model.py").write_text(TINY)
    use_course(monkeypatch, lessons, solutions)
    result = CliRunner().invoke(cli, ["verify", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    bad = [r for r in data["static"] if not r["ok"]]
    assert [(r["lesson"], r["kind"], r["status"]) for r in bad] == [("lesson1", "stub", "passed")]


def test_missing_files_and_failing_solutions_are_reported(course):
    lessons, solutions = course
    (lessons / "lesson2" / "model.py").unlink()
    (solutions / "lesson1" / "model.py").write_text((lessons / "lesson1" / "model.py").read_text())  # too big
    report = verify(lessons_root=lessons, solutions_root=solutions)
    bad = {(r.lesson, r.kind): r for r in report.static if not r.ok}
    assert set(bad) == {("lesson1", "solution"), ("lesson2", "stub")}
    assert bad[("lesson1", "solution")].status == "failed" and "Parameters" in bad[("lesson1", "solution")].message
    assert bad[("lesson2", "stub")].status == "missing"
    assert report.exit_code == 1


def fake_grade(monkeypatch, accs_by_seed, device_name="CPU (test)"):
    """grader.api.grade answering with records shaped like the worker's (the real path is tested in test_cli.py)."""
    import grader.api
    from grader.api import GradeResult
    from grader.course.verdict import judge

    calls = []

    def grade(request, on_event=None, launch=None):
        from grader.course.lesson import get_lesson
        from grader.record import EpochRecord, RunRecord

        options = request.options
        assert options.train_anyway  # how verify asks: a request that trains even a static failure
        path, lesson_id, seed, device, quick = request.file, request.lesson, options.seed, options.device, options.quick
        calls.append((lesson_id, seed, device))
        accs = accs_by_seed[seed]
        lesson = get_lesson(lesson_id)
        report = trusted.report_course_file(path)
        for epoch, acc in enumerate(accs, start=1):
            if on_event is not None:  # concurrent trainings report no live progress
                on_event(EpochDone(epoch, 0.1, 97.0, 0.1, acc, 0.01, 1.0))
        record = RunRecord(
            file=str(path), sha256=report["sha256"], seed=seed, quick=quick, lesson=lesson_id,
            params=report["params"], rf=report["rf"]["rf_before_global_pool"], device_name=device_name,
            duration=12.0, versions={"torch": "2.x"}, report=report,
            epochs=[EpochRecord(i, 0.1, 97.0, 0.1, a, 0.01, 1.0) for i, a in enumerate(accs, start=1)],
            measured_on="validation" if options.validate else "test",
            verdict=judge(lesson.criteria, report, accs, validate=options.validate))
        return GradeResult(record, lesson_id)

    monkeypatch.setattr(grader.api, "grade", grade)
    return calls


def test_training_writes_results_and_a_rerun_of_one_lesson_keeps_the_others(course, tmp_path, monkeypatch):
    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)
    calls = fake_grade(monkeypatch, {0: [85.0, 96.0], 1: [95.5, 97.0]})
    path = tmp_path / "RESULTS.md"
    events = []
    report = verify(None, train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=path,
                    on_event=events.append)
    assert report.ok, report.to_dict()
    assert calls == [("lesson1", 0, "cpu"), ("lesson1", 1, "cpu"), ("lesson2", 0, "cpu"), ("lesson2", 1, "cpu")]
    runs = [e for e in events if isinstance(e, VerifyRun)]
    assert [(e.lesson, e.seed, e.index, e.total) for e in runs][:2] == [
        ("lesson1", 0, 1, 4), ("lesson1", 1, 2, 4)]
    rows = results.read(path)
    assert [r.lesson for r in rows] == ["lesson1", "lesson2"]
    one = rows[0]
    assert one.file == "solutions/lesson1/model.py" and one.params == 3818 and one.seeds == [0, 1]
    assert one.best == [96.0, 97.0] and one.last == [96.0, 97.0] and one.epochs_to_target == [2, 1]
    assert one.max_epochs_to_target == 2 and one.passed == [True, True] and one.device == "CPU (test)"
    solution = solutions / "lesson1" / "model.py"
    assert one.code_sha256 == code_sha256(solution.read_text()) and one.describes(solution)
    assert "`course verify --train --seeds 2 --device cpu`" in path.read_text()

    # lesson2 again, on two seeds where one misses its target: only lesson2's row changes, and verify fails
    fake_grade(monkeypatch, {0: [96.0], 1: [94.0]})
    report = verify("lesson2", train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=path)
    assert report.exit_code == 1 and [r.ok for r in report.runs] == [True, False]
    rows = results.read(path)
    assert rows[0] == one and rows[1].best == [96.0, 94.0] and rows[1].passed == [True, False]
    assert "--lesson lesson2" in rows[1].command

    # another device adds a row instead of replacing one
    fake_grade(monkeypatch, {0: [96.0]}, device_name="NVIDIA H100")
    verify("lesson2", train=True, seeds=1, options=GradeOptions(device="cuda"), results_path=path)
    assert [(r.lesson, r.device) for r in results.read(path)] == [
        ("lesson1", "CPU (test)"), ("lesson2", "CPU (test)"), ("lesson2", "NVIDIA H100")]


def test_a_seed_that_cannot_be_graded_fails_verify_and_writes_no_partial_row(course, tmp_path, monkeypatch):
    import grader.api
    from grader.errors import TrainingError

    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)

    def diverges(*args, **kwargs):
        raise TrainingError("loss became NaN in epoch 1")

    monkeypatch.setattr(grader.api, "grade", diverges)
    path = tmp_path / "RESULTS.md"
    report = verify("lesson1", train=True, seeds=1, results_path=path)
    assert report.exit_code == 1 and report.runs[0].status == "error" and "NaN" in report.runs[0].message
    assert not path.exists()


def test_results_round_trip_through_the_markdown_file(tmp_path):
    row = results.ResultRow(
        lesson="lesson10", file="solutions/lesson10/model.py", sha256="ab", device="NVIDIA H100 80GB HBM3",
        params=7_584, rf=18, seeds=[0, 1], best=[99.5, 99.48], last=[99.45, 99.41], epochs_to_target=[9, None],
        epochs=[15, 15], passed=[True, False], seconds=[61.2, 60.1], when="2026-01-01T00:00:00+00:00",
        command="course verify --train --seeds 2 --device cuda --lesson lesson10",  # "--" inside an HTML comment
    )
    lesson2 = results.ResultRow(**{**row.__dict__, "lesson": "lesson2", "file": "solutions/lesson2/model.py"})
    path = tmp_path / "RESULTS.md"
    results.write(path, results.merge([], [row, lesson2]), row.command, row.when)
    text = path.read_text()
    assert "| lesson2 |" in text and "99.49" in text and "9, -" in text and "1/2" in text
    data = text[text.index(results.DATA_OPEN):]
    assert "--train" not in data  # escaped, so the comment holding the data stays a valid comment
    back = results.read(path)
    assert [r.lesson for r in back] == ["lesson2", "lesson10"]  # lesson order, not string order
    assert back[1] == row and back[1].max_epochs_to_target is None
    assert results.pick(back, "solutions/lesson10/model.py") == row


def test_a_damaged_results_file_is_an_error(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# hand-written table\n")
    with pytest.raises(results.ResultsError, match="course verify --train"):
        results.read(path)


def _with_extras(lessons, solutions):
    """lesson1 lists a hint path that must pass, a narrow model its text says fails, and a measured comparison."""
    (solutions / "lesson1" / "hint_path.py").write_text(TINY)
    (solutions / "lesson1" / "narrow.py").write_text(TINY + "\n# narrow\n")
    (solutions / "lesson1" / "compare.py").write_text(TINY + "\n# compare\n")
    manifest = lessons / "lesson1" / "lesson.toml"
    manifest.write_text(manifest.read_text() + """
[verify]
extra = [
    { file = "solutions/lesson1/hint_path.py", expect = "pass" },
    { file = "solutions/lesson1/narrow.py", expect = "fail", note = "the text calls it too narrow" },
    { file = "solutions/lesson1/compare.py", expect = "measure" },
]
""")


def test_a_compared_file_trains_with_its_own_recipe_and_the_solution_with_the_lessons(course, tmp_path, monkeypatch):
    """Lesson 2 fixes the optimizer, and its SGD comparison exists to change it: an extra's request asks for its own
    recipe (the lesson's fixed names aside); the solution's does not."""
    import grader.api

    lessons, solutions = course
    _with_extras(lessons, solutions)
    use_course(monkeypatch, lessons, solutions)
    fake_grade(monkeypatch, {0: [85.0, 96.0]})
    graded, asked = grader.api.grade, {}

    def grade(request, on_event=None, launch=None):
        asked[request.file.name] = request.own_recipe
        return graded(request, on_event, launch)

    monkeypatch.setattr(grader.api, "grade", grade)
    verify("lesson1", train=True, seeds=1, options=GradeOptions(device="cpu"), results_path=tmp_path / "R.md")
    assert asked == {"model.py": False, "hint_path.py": True, "narrow.py": True, "compare.py": True}


@pytest.mark.slow  # two real (--quick) gradings
def test_own_recipe_lets_a_compared_file_change_what_its_lesson_fixes():
    from grader import api
    from grader.record import GradeRequest
    from tests.conftest import ROOT

    sgd = ROOT / "solutions" / "lesson2" / "compare_sgd.py"
    options = GradeOptions(device="cpu", quick=True)
    as_student = api.grade(GradeRequest(sgd, "lesson2", options)).record.recipe  # the recipe as the record keeps it
    assert as_student["ignored"] == ["make_optimizer"] and as_student["sources"]["optimizer"] == "lesson"
    as_compared = api.grade(GradeRequest(sgd, "lesson2", options, own_recipe=True)).record.recipe
    assert as_compared["ignored"] == [] and as_compared["sources"]["optimizer"] == "submission"


def test_extras_are_checked_trained_and_written_as_rows_of_their_own(course, tmp_path, monkeypatch):
    lessons, solutions = course
    _with_extras(lessons, solutions)
    use_course(monkeypatch, lessons, solutions)
    report = verify("lesson1")
    extras = [r for r in report.static if r.kind == "extra"]
    assert [(r.file.name, r.expect, r.ok) for r in extras] == [
        ("hint_path.py", "pass", True), ("narrow.py", "fail", True), ("compare.py", "measure", True)]

    calls = fake_grade(monkeypatch, {0: [85.0, 96.0]})
    path = tmp_path / "RESULTS.md"
    report = verify("lesson1", train=True, seeds=1, options=GradeOptions(device="cpu"), results_path=path)
    # every file passes with 96 %: the narrow one does not go the way the text says, so verify fails on it alone
    assert [(r.file, r.ok) for r in report.runs] == [
        ("solutions/lesson1/model.py", True), ("solutions/lesson1/hint_path.py", True),
        ("solutions/lesson1/narrow.py", False), ("solutions/lesson1/compare.py", True)]
    assert report.exit_code == 1 and len(calls) == 4
    rows = results.read(path)
    assert [(r.label, r.expect) for r in rows] == [
        ("lesson1", "pass"), ("lesson1: compare.py", "measure"), ("lesson1: hint_path.py", "pass"),
        ("lesson1: narrow.py", "fail")]
    text = path.read_text()
    assert "| lesson1: narrow.py |" in text and "1/1 (expected to fail: DID NOT)" in text
    assert "1/1 (measured only)" in text

    # only the extras again, now the narrow one misses the target: the solution's row is not touched
    solution_row = rows[0]
    fake_grade(monkeypatch, {0: [85.0, 89.0]})
    report = verify("lesson1", train=True, seeds=1, options=GradeOptions(device="cpu"), results_path=path,
                    only="extras")
    assert [r.file for r in report.runs] == [
        "solutions/lesson1/hint_path.py", "solutions/lesson1/narrow.py", "solutions/lesson1/compare.py"]
    assert [r.ok for r in report.runs] == [False, True, True]  # the hint path must pass: 89 % misses the 90 % target
    rows = results.read(path)
    assert rows[0] == solution_row and len(rows) == 4
    narrow = next(r for r in rows if r.file.endswith("narrow.py"))
    assert narrow.passed == [False] and narrow.as_expected and "(expected to fail)" in path.read_text()
    assert "--only extras" in narrow.command


def test_an_extra_that_is_missing_or_must_pass_statically_fails_verify(course, monkeypatch):
    lessons, solutions = course
    _with_extras(lessons, solutions)
    (solutions / "lesson1" / "narrow.py").unlink()
    (solutions / "lesson1" / "hint_path.py").write_text((lessons / "lesson1" / "model.py").read_text())  # too big
    report = verify("lesson1", lessons_root=lessons, solutions_root=solutions)
    bad = {r.file.name: r for r in report.static if not r.ok}
    assert set(bad) == {"narrow.py", "hint_path.py"}
    assert bad["narrow.py"].status == "missing" and bad["hint_path.py"].status == "failed"
    assert report.exit_code == 1


def test_the_cli_trains_only_the_extras_when_asked(course, tmp_path, monkeypatch):
    lessons, solutions = course
    _with_extras(lessons, solutions)
    use_course(monkeypatch, lessons, solutions)
    calls = fake_grade(monkeypatch, {0: [85.0, 89.0]})
    import grader.authoring.verify

    monkeypatch.setattr(grader.authoring.verify, "RESULTS_NAME", "../RESULTS-test.md")
    result = CliRunner().invoke(cli, ["verify", "--train", "--seeds", "1", "--lesson", "lesson1", "--only", "extras",
                                      "--device", "cpu", "--json"])
    data = json.loads(result.output)
    assert [r["file"] for r in data["runs"]] == [
        "solutions/lesson1/hint_path.py", "solutions/lesson1/narrow.py", "solutions/lesson1/compare.py"]
    assert len(calls) == 3 and result.exit_code == 1  # the hint path misses the target


def test_jobs_train_several_at_a_time_and_write_the_same_rows(course, tmp_path, monkeypatch):
    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)
    calls = fake_grade(monkeypatch, {0: [85.0, 96.0], 1: [95.5, 97.0]})
    monkeypatch.setattr("grader.host.zygote.warm_launcher", lambda: None)  # the fake grade starts no children
    one, many = tmp_path / "one.md", tmp_path / "many.md"
    verify(None, train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=one)
    events = []
    report = verify(None, train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=many, jobs=3,
                    on_event=events.append)
    assert report.ok and len(calls) == 8
    strip = lambda rows: [(r.lesson, r.file, r.seeds, r.best, r.last, r.passed) for r in rows]
    assert strip(results.read(one)) == strip(results.read(many))
    assert sorted(e.index for e in events if isinstance(e, VerifyRun)) == [1, 2, 3, 4]
    assert "--jobs 3" in many.read_text()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every share of it is the whole of it")
def test_parallel_cpu_trainings_share_the_cores_instead_of_each_taking_all(course, monkeypatch):
    """A real --quick training with --jobs 2, through the warm zygote: the worker reports its torch threads (one
    training is enough: its share is set by the jobs asked for, not by how many happen to run)."""
    from grader.batch.local_pool import cpu_threads

    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    report = verify("lesson1", train=True, seeds=1, options=GradeOptions(device="cpu", quick=True), jobs=2)
    share = cpu_threads("cpu", ["cpu", "cpu"])
    assert len(report.runs) == 1 and all(r.status == "smoke" for r in report.runs), report.runs
    assert {r.device.split(", ")[-1] for r in report.runs} == {f"{share} threads)"}


@pytest.mark.parametrize("devices", [["CPU (x86_64, 1 threads)"] * 3, ["CPU (x86_64, 1 threads)"] * 2 + ["cuda: H100"]])
@pytest.mark.parametrize("file", ["solutions/lesson7/hint_path.py", "solutions/lesson6/compare_default_onecycle.py"])
def test_the_trained_table_fits_80_columns_with_every_figure_whole(devices, file):
    from rich.console import Console

    from grader.authoring.verify import SeedRun, VerifyReport
    from grader.views.author import show_verify

    report = VerifyReport(runs=[
        SeedRun("lesson7", seed, "passed", "", params=3712, rf=44, best=99.53, last=99.45, epochs_to_target=9,
                epochs=15, device=device, seconds=11843, ok=True, file=file,
                expect="pass") for seed, device in enumerate(devices)])
    out = Console(width=80, record=True, force_terminal=False)
    show_verify(report, out)
    text = out.export_text()
    rows = [line for line in text.splitlines() if line.lstrip().startswith("lesson7")]
    assert len(rows) == 3
    assert all(len(line.rstrip()) <= 80 for line in text.splitlines())
    for row in rows:
        for figure in ("3,712", "99.53", "99.45", "11843s", "pass"):
            assert figure in row
    # the name, whole or folded over lines of its own, for each run
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("lesson") and "seed" in line)
    width = lines[header].index("seed")
    names, name = [], ""
    for line in lines[header + 2:]:
        if line.lstrip().startswith("lesson7") and name:
            names.append(name)
            name = ""
        if not line.strip() or line.startswith(("Devices", "Verified")):
            break
        name += line[:width].replace(" ", "")
    names.append(name)
    assert names == [f"lesson7:{file.rsplit('/', 1)[-1]}"] * 3
    for device in set(devices):
        assert device in text  # each device in full: in the title, or below the table when they differ


def _seed_0_row(course, tmp_path, monkeypatch, accs_by_seed=None):
    """RESULTS.md with lesson1's solution trained on seeds 0.. (fake grades; seed 0 alone by default): the test-set
    row that --extend, --first-seed and --validate rows sit beside or join."""
    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)
    path = tmp_path / "RESULTS.md"
    accs_by_seed = accs_by_seed or {0: [96.0]}
    fake_grade(monkeypatch, accs_by_seed)
    verify("lesson1", train=True, seeds=len(accs_by_seed), options=GradeOptions(device="cpu"), results_path=path)
    return path


def test_fresh_seeds_confirm_beside_the_seed_0_row_and_never_replace_it(course, tmp_path, monkeypatch):
    path = _seed_0_row(course, tmp_path, monkeypatch, {0: [96.0], 1: [97.0]})
    calls = fake_grade(monkeypatch, {5: [96.5], 6: [50.0], 7: [97.5]})
    report = verify("lesson1", train=True, seeds=3, first_seed=5, options=GradeOptions(device="cpu"),
                    results_path=path)
    assert calls == [("lesson1", 5, "cpu"), ("lesson1", 6, "cpu"), ("lesson1", 7, "cpu")]
    assert report.exit_code == 1  # seed 6 missed: a confirmation that fails says so
    rows = results.read(path)
    assert [(r.seeds, r.fresh) for r in rows] == [([0, 1], False), ([5, 6, 7], True)]
    assert "--seeds 3 --first-seed 5 --device cpu" in rows[1].command
    file = "solutions/lesson1/model.py"
    assert results.pick(rows, file).seeds == [0, 1] and results.pick(rows, file, fresh=True).seeds == [5, 6, 7]
    # the seed-0 run again replaces only its own row
    fake_grade(monkeypatch, {0: [96.0], 1: [97.0]})
    verify("lesson1", train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=path)
    assert [r.seeds for r in results.read(path)] == [[0, 1], [5, 6, 7]]


def test_extend_adds_seeds_to_the_seed_0_row_and_keeps_each_parts_command(course, tmp_path, monkeypatch):
    path = _seed_0_row(course, tmp_path, monkeypatch)
    calls = fake_grade(monkeypatch, {1: [97.0], 2: [85.0, 96.5]})
    report = verify("lesson1", train=True, seeds=2, first_seed=1, extend=True, options=GradeOptions(device="cpu"),
                    results_path=path)
    assert calls == [("lesson1", 1, "cpu"), ("lesson1", 2, "cpu")] and report.ok and not report.notes
    [row] = results.read(path)
    assert not row.fresh and row.seeds == [0, 1, 2] and row.best == [96.0, 97.0, 96.5]
    assert row.epochs_to_target == [1, 1, 2] and row.epochs == [1, 1, 2] and len(row.seconds) == 3
    assert row.mean_best == pytest.approx((96.0 + 97.0 + 96.5) / 3)
    assert [part.split(":")[0] for part in row.history] == ["seeds 0", "seeds 1, 2"]
    assert "--first-seed 1 --extend" in row.history[1] and "--first-seed" not in row.history[0]
    text = path.read_text()
    assert "in 2 parts:" in text and "  - seeds 1, 2: `course verify --train --seeds 2 --first-seed 1" in text
    # a third part keeps the first two lines as they were
    fake_grade(monkeypatch, {3: [96.2]})
    verify("lesson1", train=True, seeds=1, first_seed=3, extend=True, options=GradeOptions(device="cpu"),
           results_path=path)
    [row] = results.read(path)
    assert row.seeds == [0, 1, 2, 3] and [p.split(":")[0] for p in row.history] == ["seeds 0", "seeds 1, 2",
                                                                                    "seeds 3"]


def test_extend_refuses_before_training_when_no_row_continues(course, tmp_path, monkeypatch):
    lessons, solutions = course
    use_course(monkeypatch, lessons, solutions)
    path = tmp_path / "RESULTS.md"
    calls = fake_grade(monkeypatch, {0: [96.0], 1: [97.0], 5: [96.0]})
    options = GradeOptions(device="cpu")
    with pytest.raises(CourseError, match="no row of seeds 0..1"):  # nothing trained yet
        verify("lesson1", train=True, seeds=1, first_seed=2, extend=True, options=options, results_path=path)
    verify("lesson1", train=True, seeds=1, options=options, results_path=path)
    with pytest.raises(CourseError, match="no row of seeds 0..4"):  # a gap would break seeds 0..K-1
        verify("lesson1", train=True, seeds=1, first_seed=5, extend=True, options=options, results_path=path)
    with pytest.raises(CourseError, match="--first-seed N"):
        verify("lesson1", train=True, seeds=1, extend=True, options=options, results_path=path)
    solution = solutions / "lesson1" / "model.py"
    solution.write_text(solution.read_text().replace("nn.Conv2d(1, 8, 3)", "nn.Conv2d(1, 8, 3, padding=0)"))
    with pytest.raises(CourseError, match="describes the file as it is now"):  # the code changed since seed 0
        verify("lesson1", train=True, seeds=1, first_seed=1, extend=True, options=options, results_path=path)
    assert calls == [("lesson1", 0, "cpu")]


def test_extend_on_another_device_keeps_the_new_seeds_as_their_own_row(course, tmp_path, monkeypatch):
    path = _seed_0_row(course, tmp_path, monkeypatch)
    fake_grade(monkeypatch, {1: [97.0]}, device_name="cuda: H100")
    report = verify("lesson1", train=True, seeds=1, first_seed=1, extend=True, options=GradeOptions(device="cpu"),
                    results_path=path)
    assert [(r.seeds, r.device) for r in results.read(path)] == [([0], "CPU (test)"), ([1], "cuda: H100")]
    assert len(report.notes) == 1 and "row of their own" in report.notes[0]


def test_validate_rows_sit_beside_the_test_rows_and_are_never_judged(course, tmp_path, monkeypatch):
    path = _seed_0_row(course, tmp_path, monkeypatch, {0: [96.0], 1: [97.0]})
    fake_grade(monkeypatch, {0: [40.0], 1: [97.5], 2: [96.5]})  # 40 %: below the target, and still not a failure
    report = verify("lesson1", train=True, seeds=2, options=GradeOptions(device="cpu", validate=True),
                    results_path=path)
    assert report.ok and [r.status for r in report.runs] == ["smoke", "smoke"]
    rows = results.read(path)
    assert [(r.split, r.seeds, r.best) for r in rows] == [("test", [0, 1], [96.0, 97.0]),
                                                        ("validation", [0, 1], [40.0, 97.5])]
    held = rows[1]
    assert held.passed == [False, False] and held.as_expected and held.epochs_to_target == [None, None]
    assert "--device cpu --validate" in held.command and held.label == "lesson1 (validation)"
    assert results.pick(rows, held.file).split == "test"
    assert results.pick(rows, held.file, split="validation").best == held.best
    from rich.console import Console

    from grader.views.author import show_verify

    out = Console(width=80, record=True, force_terminal=False)
    show_verify(report, out)
    text = out.export_text()
    assert "validation split" in text and "smoke" not in text
    # --extend on the validation split joins the validation row, not the test one
    verify("lesson1", train=True, seeds=1, first_seed=2, extend=True,
           options=GradeOptions(device="cpu", validate=True), results_path=path)
    assert [(r.split, r.seeds) for r in results.read(path)] == [("test", [0, 1]), ("validation", [0, 1, 2])]


def test_results_extend_joins_only_continuing_seeds_of_one_file_and_device():
    base = results.ResultRow("lesson1", "f.py", "s", "cpu", 10, 5, [0], [96.0], [96.0], [1], [1], [True], [3.0],
                             "t0", "c0", train_last=[95.0])
    more = results.ResultRow("lesson1", "f.py", "s", "cpu", 10, 5, [1, 2], [97.0, 98.0], [97.0, 98.0], [1, 1],
                             [1, 1], [True, True], [3.0, 4.0], "t1", "c1", train_last=None)
    row = results.extend(base, more)
    assert row.seeds == [0, 1, 2] and row.train_last is None and row.when == "t1" and row.command == "c1"
    with pytest.raises(results.ResultsError, match="same file, device and split"):
        results.extend(base, results.ResultRow(**{**more.__dict__, "device": "gpu"}))
    with pytest.raises(results.ResultsError, match="do not continue"):
        results.extend(base, results.ResultRow(**{**more.__dict__, "seeds": [2, 3]}))


def test_the_cli_passes_first_seed_on_and_refuses_a_negative_one(monkeypatch):
    from click.testing import CliRunner

    from course import cli

    seen = {}

    def fake_verify(lesson, train, seeds, options, **kw):
        seen.update(kw, seeds=seeds)
        from grader.authoring.verify import VerifyReport
        return VerifyReport()

    monkeypatch.setattr("grader.authoring.verify.verify", fake_verify)
    result = CliRunner().invoke(cli, ["dev", "verify", "--train", "--seeds", "5", "--first-seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert seen["seeds"] == 5 and seen["first_seed"] == 5 and seen["extend"] is False
    result = CliRunner().invoke(cli, ["dev", "verify", "--train", "--first-seed", "1", "--extend", "--json"])
    assert result.exit_code == 0 and seen["extend"] is True, result.output
    bad = CliRunner().invoke(cli, ["dev", "verify", "--train", "--first-seed", "-1"])
    assert bad.exit_code == 2 and "--first-seed" in bad.output


def test_one_file_trains_alone_and_a_file_no_lesson_lists_is_a_clear_error(course, tmp_path, monkeypatch):
    lessons, solutions = course
    _with_extras(lessons, solutions)
    use_course(monkeypatch, lessons, solutions)
    path = tmp_path / "RESULTS.md"
    calls = fake_grade(monkeypatch, {0: [85.0, 96.0], 1: [85.0, 95.0]})
    report = verify("lesson1", train=True, seeds=2, options=GradeOptions(device="cpu"), results_path=path,
                    file="solutions/lesson1/compare.py")
    assert [r.file for r in report.runs] == ["solutions/lesson1/compare.py"] * 2 and len(calls) == 2
    (row,) = results.read(path)
    assert row.file == "solutions/lesson1/compare.py" and "--file solutions/lesson1/compare.py" in row.command
    with pytest.raises(CourseError, match="solutions/lesson1/nope.py is not a solution or .verify. extra of lesson1"):
        verify("lesson1", train=True, seeds=1, options=GradeOptions(device="cpu"), results_path=path,
               file="solutions/lesson1/nope.py")


@pytest.mark.parametrize("quick, validate", [(True, False), (False, True), (True, True)])
def test_an_unjudged_run_of_a_file_that_breaks_a_rule_on_purpose_still_went_as_expected(quick, validate):
    """--quick and --validate never judge accuracy (smoke); a comparison that breaks a rule (lesson 4's model without
    dropout) fails that rule whichever way it trains, and that is what its lesson expects of it."""
    from grader.authoring.verify import expected

    assert expected("smoke", "pass", quick, validate) and not expected("failed", "pass", quick, validate)
    for expect in ("measure", "fail"):
        assert expected("smoke", expect, quick, validate) and expected("failed", expect, quick, validate)
        assert not expected("error", expect, quick, validate)
    assert expected("failed", "measure") and not expected("smoke", "measure")  # a full run is judged
