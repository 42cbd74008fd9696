"""The workflow library over a tmp course and workspace: start, reset, hints, solution, progress, status, targets.

check/grade results are faked here (the real worker runs in test_cli_workflow.py) so that the state logic is
exercised in milliseconds.
"""

import pytest

import grader.api
from grader.api import CheckResult, GradeResult
from grader.course.verdict import CriterionResult, Verdict
from grader.digest import file_sha256
from grader.errors import ManifestError, SubmissionError, UsageError
from grader.gradebook.progress import State
from grader.workflow import IN_PROGRESS, NOT_STARTED, PASSED, Workflow
from tests.minicourse import BIG_STUB, TINY, make_course


@pytest.fixture
def course(tmp_path, monkeypatch):
    lessons, solutions = make_course(tmp_path / "course")
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "work"))  # as a student would set it: not echoed
    return lambda workspace=None: Workflow(workspace, lessons, solutions)


def _verdict(status, failed=()):
    criteria = [CriterionResult(name, name, "x", "y", False) for name in failed]
    return Verdict(status, criteria, message=f"{status}: " + ", ".join(failed))


def fake_check(monkeypatch, status, failed=(), params=50_890):
    def check(request, launch=None):
        report = {"params": params, "sha256": file_sha256(request.file)}
        return CheckResult(report, _verdict(status, failed), request.lesson)

    monkeypatch.setattr(grader.api, "check", check)


def fake_grade(monkeypatch, status, accs, failed=()):
    """api.grade answering with a record (and no curves to save); the workflow records it as it does a real one."""
    from grader.record import EpochRecord, RunRecord

    def grade(request, on_event=None, launch=None):
        options = request.options
        record = RunRecord(file=str(request.file), sha256=file_sha256(request.file), seed=options.seed,
                           quick=options.quick, lesson=request.lesson, params=3818,
                           epochs=[EpochRecord(i, 0.1, 97.0, 0.1, a, 0.01, 1.0) for i, a in enumerate(accs, 1)],
                           verdict=_verdict(status, failed))
        return GradeResult(record, request.lesson)

    monkeypatch.setattr(grader.api, "grade", grade)
    monkeypatch.setattr(grader.api, "with_plot", lambda result: result)


def test_start_copies_the_stub_and_never_overwrites_work(course):
    flow = course()
    started = flow.start("1")  # "1" means lesson1
    assert started.created and started.lesson.id == "lesson1"
    assert started.file == flow.root / "lesson1" / "model.py" and started.file.read_text() == BIG_STUB
    assert started.next_command == "course check"
    started.file.write_text("# my work\n")
    again = flow.start("lesson1")
    assert not again.created and again.file.read_text() == "# my work\n"
    assert flow.state().current == "lesson1"


def test_start_names_unpassed_earlier_lessons_and_unknown_lessons_are_usage_errors(course):
    assert course().start("lesson2").earlier_unpassed == ["lesson1"]
    with pytest.raises(UsageError, match="lesson1, lesson2"):
        course().start("lesson9")


def test_a_lesson_without_a_stub_is_a_manifest_error(course):
    flow = course()
    (flow.lessons_root / "lesson2" / "model.py").unlink()
    with pytest.raises(ManifestError, match="model.py is missing"):
        flow.start("lesson2")


def test_reset_backs_up_the_students_file_then_restores_the_stub(course):
    flow = course()
    file = flow.start("lesson1").file
    file.write_text("# attempt 1\n")
    first = flow.reset("lesson1")
    assert first.backup.read_text() == "# attempt 1\n" and first.backup.name.startswith("model.py.bak-")
    assert file.read_text() == BIG_STUB
    file.write_text("# attempt 2\n")
    second = flow.reset("lesson1")  # within the same second: a distinct backup, nothing overwritten
    assert second.backup != first.backup and second.backup.read_text() == "# attempt 2\n"
    assert first.backup.read_text() == "# attempt 1\n"


def test_reset_forgets_the_last_verdict(course, monkeypatch):
    flow = course()
    flow.start("lesson1")
    fake_check(monkeypatch, "failed", ["max_params"])
    flow.check()
    flow.reset("lesson1")
    assert flow.state().lesson("lesson1").last is None


def test_hints_come_in_order_and_say_when_they_are_exhausted(course):
    flow = course()
    flow.start("lesson1")
    answers = [flow.hint() for _ in range(4)]
    assert [a.number for a in answers[:3]] == [1, 2, 3]
    assert all(a.criterion is None for a in answers[:3])  # nothing failed yet: plain order
    assert answers[3].exhausted and answers[3].total == 3 and len(answers[3].seen) == 3
    assert flow.state().lesson("lesson1").hints_shown == [0, 1, 2]


def test_the_hint_for_the_failed_criterion_comes_first(course, monkeypatch):
    flow = course()
    flow.start("lesson1")
    fake_check(monkeypatch, "failed", ["max_params"])
    flow.check()
    answer = flow.hint()
    assert answer.number == 2 and answer.criterion == "max_params" and "Linear" in answer.text
    fake_grade(monkeypatch, "failed", [80.0], ["accuracy"])
    flow.grade()
    answer = flow.hint()
    assert answer.number == 3 and answer.criterion == "accuracy"
    assert flow.hint().number == 1  # then the rest in order


def test_hint_with_nothing_started_says_how_to_start(course):
    with pytest.raises(UsageError, match="course start lesson1"):
        course().hint()


def test_solution_is_refused_before_passing_unless_forced(course, monkeypatch):
    flow = course()
    flow.start("lesson1")
    with pytest.raises(UsageError, match="--force"):
        flow.solution("lesson1")
    forced = flow.solution("lesson1", force=True)
    assert forced.forced and forced.text == TINY
    assert flow.state().lesson("lesson1").solution_seen
    fake_grade(monkeypatch, "passed", [92.0])
    flow.grade()
    assert not flow.solution("lesson1").forced


def test_progress_tracks_status_best_result_and_hints(course, monkeypatch):
    flow = course()
    rows = flow.progress().rows
    assert [r.status for r in rows] == [NOT_STARTED, NOT_STARTED]
    flow.start("lesson1")
    flow.hint()
    fake_grade(monkeypatch, "failed", [85.0, 88.5], ["accuracy"])
    flow.grade()
    row = flow.progress().rows[0]
    assert row.status == IN_PROGRESS and row.current and row.best_acc == 88.5 and row.hints_shown == 1
    assert row.target_acc == 90.0 and row.max_params == 5000
    fake_grade(monkeypatch, "passed", [91.0])
    flow.grade()
    progress = flow.progress()
    assert progress.rows[0].status == PASSED and progress.passed == 1 and progress.total == 2
    assert progress.to_dict()["lessons"][0]["best_acc"] == 91.0


def test_a_work_file_without_state_counts_as_in_progress(course):
    flow = course()
    flow.work_file("lesson2").parent.mkdir(parents=True)
    flow.work_file("lesson2").write_text("# mine\n")
    assert flow.progress().rows[1].status == IN_PROGRESS


def test_status_gives_the_next_command_at_every_step(course, monkeypatch):
    flow = course()
    assert flow.status().next_command == "course start lesson1"
    flow.start("lesson1")
    assert flow.status().next_command == "course check"
    fake_check(monkeypatch, "failed", ["max_params"])
    flow.check()
    status = flow.status()
    assert status.next_command == "course check" and "hint" in status.tip
    fake_check(monkeypatch, "passed")
    flow.check()
    assert flow.status().next_command == "course grade"
    fake_grade(monkeypatch, "failed", [70.0], ["accuracy"])
    flow.grade()
    assert flow.status().next_command == "course grade"
    fake_grade(monkeypatch, "passed", [95.0])
    flow.grade()
    assert flow.status().next_command == "course start lesson2"
    flow.start("lesson2")
    fake_grade(monkeypatch, "passed", [96.0])
    flow.grade()
    assert flow.status().next_command == "course progress" and "Every lesson passed" in flow.status().message


def test_status_notices_an_edit_since_the_last_check_and_a_missing_file(course, monkeypatch):
    flow = course()
    file = flow.start("lesson1").file
    fake_check(monkeypatch, "passed")
    flow.check()
    assert flow.status().next_command == "course grade"
    file.write_text(file.read_text() + "# tweak\n")
    status = flow.status()
    assert status.changed_since_last and status.next_command == "course check"
    file.unlink()
    assert flow.status().next_command == "course start lesson1"


def test_suggested_commands_carry_an_explicit_workspace(course, tmp_path):
    flow = course(tmp_path / "my ws")
    assert flow.start("lesson1").next_command == f"course check --workspace '{tmp_path / 'my ws'}'"


def test_the_workspace_comes_from_the_environment_when_not_given(tmp_path, monkeypatch):
    lessons, solutions = make_course(tmp_path / "course")
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "envws"))
    flow = Workflow(None, lessons, solutions)
    assert flow.root == (tmp_path / "envws").resolve() and flow.command("check") == "course check"


def test_targets_for_check_and_grade(course, tmp_path):
    flow = course()
    with pytest.raises(UsageError, match="no lesson started"):
        flow.target()
    with pytest.raises(UsageError, match="course start lesson2"):
        flow.target(None, "lesson2")  # named, but never started: no file yet
    work = flow.start("lesson1").file
    assert flow.target() == flow.target(None, "1") == flow.target(work)
    assert flow.target().lesson == flow.target().record_as == "lesson1"
    other = flow.target(work, "lesson2")  # judged by another lesson: not that lesson's progress
    assert other.lesson == "lesson2" and other.record_as is None
    outside = tmp_path / "elsewhere.py"
    outside.write_text(TINY)
    assert flow.target(outside).lesson is None and flow.target(outside).record_as is None


def test_a_broken_submission_is_recorded_as_an_error_and_reraised(course, monkeypatch):
    flow = course()
    flow.start("lesson1")

    def broken(path, lesson_id=None, data_dir=None):
        raise SubmissionError("forward() raised NotImplementedError\nmore detail")

    monkeypatch.setattr(grader.api, "check", broken)
    with pytest.raises(SubmissionError):
        flow.check()
    last = State.load(flow.root).lesson("lesson1").last
    assert last.status == "error" and last.message == "forward() raised NotImplementedError"
    assert "could not judge" in flow.status().message


def test_show_defaults_to_the_current_lesson_then_the_first(course):
    flow = course()
    shown = flow.show()
    assert shown.lesson.id == "lesson1" and shown.text.startswith("# A first small net")
    assert shown.next_command == "course start lesson1"
    flow.start("lesson2")
    shown = flow.show()
    assert shown.lesson.id == "lesson2" and shown.text.startswith("# Second lesson")  # no README: the title
    assert shown.next_command == "course check"


def test_show_of_another_lesson_keeps_the_next_step_of_the_one_in_progress(course):
    flow = course()
    flow.start("lesson1")
    shown = flow.show("lesson2")
    assert shown.lesson.id == "lesson2" and shown.next_command == "course check"  # lesson1 is not passed yet
    assert shown.note.startswith("You are on lesson1") and "course start lesson2" in shown.note
    assert flow.show("lesson1").note is None


def test_an_unwritable_workspace_is_a_message_not_a_traceback(course, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(UsageError, match="choose a writable workspace"):
        course(blocker / "ws").start("lesson1")


# --------------------------------------------------------------------- a grading's run and progress, recorded


def _runs(flow):
    from grader.gradebook import store

    with store.opened(store.workspace_gradebook(flow.root)) as conn:
        return store.runs(conn)


def test_a_grading_records_its_run_and_the_progress_together(course, monkeypatch):
    flow = course()
    flow.start("lesson1")
    fake_grade(monkeypatch, "passed", [91.0])
    judged = flow.grade()
    (run,) = _runs(flow)
    assert judged.recorded and judged.result.run_id == run["id"] and run["status"] == "passed"
    assert flow.state().lesson("lesson1").last.mode == "grade" and flow.state().passed("lesson1")


def test_the_run_is_not_recorded_when_the_progress_cannot_be(course, monkeypatch):
    flow = course()
    flow.start("lesson1")
    fake_grade(monkeypatch, "passed", [91.0])

    def broken(self, conn):
        raise OSError("disk full")

    monkeypatch.setattr(State, "stage", broken)
    with pytest.raises(OSError):
        flow.grade()
    assert _runs(flow) == []  # one transaction: the run went with the progress


def test_an_error_is_recorded_with_its_verdict_but_not_a_usage_mistake_nor_ctrl_c(course, monkeypatch):
    flow = course()
    flow.start("lesson1")

    def failing(error):
        def grade(request, on_event=None, launch=None):
            raise error

        monkeypatch.setattr(grader.api, "grade", grade)

    failing(UsageError("--device cuda:7: no such GPU"))
    with pytest.raises(UsageError):
        flow.grade()
    failing(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        flow.grade()
    assert _runs(flow) == [] and flow.state().lesson("lesson1").last is None
    failing(SubmissionError("syntax error at line 3"))
    with pytest.raises(SubmissionError):
        flow.grade()
    (run,) = _runs(flow)
    assert run["status"] == "error" and run["error_kind"] == "submission" and "syntax error" in run["message"]
    last = flow.state().lesson("lesson1").last
    assert last.mode == "grade" and last.status == "error"
