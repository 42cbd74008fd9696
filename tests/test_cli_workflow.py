"""The student's day through the CLI (click's CliRunner) in a tmp workspace over a tmp course.

start -> check (the stub fails) -> hint (answers the failed criterion) -> reset (backup kept) -> list / progress
-> solution refused before passing; the state is then read back through the library.
"""

import json

import pytest
from click.testing import CliRunner

from course import EXAMPLES, cli
from grader.gradebook.progress import State
from tests.minicourse import BIG_STUB, make_course, use_course

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each


@pytest.fixture
def ws(tmp_path, monkeypatch):
    use_course(monkeypatch, *make_course(tmp_path / "course"))
    monkeypatch.delenv("COURSE_WORKSPACE", raising=False)
    return tmp_path / "ws"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_the_student_flow(ws):
    w = ("--workspace", ws)
    result = invoke("start", "lesson1", *w)
    assert result.exit_code == 0, result.output
    work = ws / "lesson1" / "model.py"
    assert work.read_text() == BIG_STUB
    assert "A first small net" in result.output and "Copied the lesson1 stub" in result.output
    assert f"course check --workspace {ws}" in result.output

    result = invoke("check", *w)  # no FILE: the current lesson's file, judged by lesson1
    assert result.exit_code == 1, result.output
    assert "50,890" in result.output and "< 5,000" in result.output
    assert "Static checks fail for lesson 1" in result.output
    assert "Recorded in your progress for lesson1" in result.output

    result = invoke("hint", *w)
    assert result.exit_code == 0
    assert "about max_params" in result.output and "The Linear layer" in result.output

    result = invoke(*w)  # bare `course`: where am I, what next
    assert result.exit_code == 0 and "lesson1" in result.output and f"course check --workspace {ws}" in result.output

    work.write_text("# my attempt\n")
    result = invoke("reset", "lesson1", *w)
    assert result.exit_code == 0, result.output
    backups = list(work.parent.glob("model.py.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == "# my attempt\n" and work.read_text() == BIG_STUB

    result = invoke("list", *w, "--json")
    data = json.loads(result.output)
    assert [row["status"] for row in data["lessons"]] == ["in progress", "not started"]
    assert data["passed"] == 0 and data["total"] == 2 and data["current"] == "lesson1"
    result = invoke("list", *w)
    assert result.exit_code == 0 and "in progress" in result.output and "0/2 lessons passed" in result.output
    result = invoke("progress", *w)
    assert result.exit_code == 0 and "1/3" in result.output  # hints used

    result = invoke("solution", "lesson1", *w)
    assert result.exit_code == 2 and "not passed yet" in result.output and "--force" in result.output
    result = invoke("solution", "lesson1", "--force", *w)
    assert result.exit_code == 0 and "warning" in result.output and "class Net" in result.output

    state = State.load(ws)
    entry = state.lesson("lesson1")
    assert state.current == "lesson1" and entry.hints_shown == [1] and entry.solution_seen
    assert entry.last is None  # reset forgot the verdict about the old file
    assert not state.passed("lesson1")


def test_check_of_a_stub_that_breaks_the_contract_is_exit_2_and_recorded(ws):
    invoke("start", "lesson2", "--workspace", ws)
    result = invoke("check", "--workspace", ws)
    assert result.exit_code == 2
    assert "NotImplementedError" in result.output and "Traceback" not in result.output
    last = State.load(ws).lesson("lesson2").last
    assert last.mode == "check" and last.status == "error"
    status = json.loads(invoke("status", "--workspace", ws, "--json").output)
    assert status["next_command"].startswith("course check") and "could not judge" in status["message"]


def test_check_with_nothing_started_says_how_to_start(ws, monkeypatch):
    monkeypatch.setenv("COURSE_WORKSPACE", str(ws))
    result = invoke("check")
    assert result.exit_code == 2 and "course start lesson1" in result.output
    result = invoke("status", "--json")
    assert json.loads(result.output)["next_command"] == "course start lesson1"


def test_start_twice_keeps_the_work(ws):
    invoke("start", "lesson1", "-w", ws)
    (ws / "lesson1" / "model.py").write_text("# mine\n")
    result = invoke("start", "lesson1", "-w", ws)
    assert result.exit_code == 0 and "already exists" in result.output
    assert (ws / "lesson1" / "model.py").read_text() == "# mine\n"


def test_show_renders_the_lesson_without_its_markers(ws):
    result = invoke("show", "lesson1", "-w", ws)
    assert result.exit_code == 0 and "A first small net" in result.output and "<!--" not in result.output


def test_unknown_lesson_is_exit_2_with_the_list(ws):
    result = invoke("start", "lesson9", "-w", ws)
    assert result.exit_code == 2 and "lesson1, lesson2" in result.output


@pytest.mark.parametrize("command", ["status", "list", "start", "show", "hint", "reset", "solution", "progress",
                                     "verify", "docs", "check", "grade"])
def test_every_command_has_an_example_in_its_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Example" in result.output
    assert EXAMPLES[command].split("\n")[-1].strip() in result.output


def test_a_workspace_grade_lands_in_the_gradebook_history(ws, submission):
    """`course grade` with no FILE records the run in the workspace gradebook, which `course history` reads."""
    from grader.gradebook import store

    w = ("--workspace", ws)
    assert invoke("start", "lesson1", *w).exit_code == 0
    (ws / "lesson1" / "model.py").write_text(submission("tiny").read_text())
    result = invoke("grade", "--quick", "--device", "cpu", "--no-plot", *w)
    assert result.exit_code == 0, result.output
    assert store.workspace_gradebook(ws).is_file()
    result = invoke("history", "lesson1", "--json", *w)
    assert result.exit_code == 0, result.output
    attempts = json.loads(result.output)
    assert len(attempts) == 1 and attempts[0]["params"] == 3818


def test_answer_checks_without_revealing_and_reveals_when_asked(tmp_path):
    from grader.course.lesson import get_lesson

    exercise = get_lesson("lesson2").exercises[0]
    right = str(exercise.values[0])
    wrong = str(exercise.values[0] + 1)
    ws = ["--workspace", str(tmp_path / "ws")]
    ok = CliRunner().invoke(cli, ["answer", "lesson2", exercise.id, right, *ws])
    assert ok.exit_code == 0 and "Correct." in ok.output
    no = CliRunner().invoke(cli, ["answer", "lesson2", exercise.id, wrong, *ws])
    assert no.exit_code == 1 and "Not quite" in no.output and f"Answer: {right}" not in no.output
    shown = CliRunner().invoke(cli, ["answer", "lesson2", exercise.id, *ws])
    assert shown.exit_code == 0 and "Answer: " in shown.output
    missing = CliRunner().invoke(cli, ["answer", "lesson2", "no-such-exercise", *ws])
    assert missing.exit_code == 2 and exercise.id in missing.output
